//! The local cluster's binaries (kube-apiserver, kube-controller-manager,
//! kube-scheduler, kubectl, etcd, kwok; for the real node kubelet,
//! kube-proxy, CoreDNS and the sandbox image `pause.tar`), built from the
//! pins in `.ci/kube` through the Go module proxy, once per set of pins, into
//! a cache outside the checkout: `<cache>/xtask-kube/<key>/bin/`. The key
//! hashes the pins, the flags, the binaries, the sandbox image's name and
//! Go's version (GitHub's `actions/cache` keys by it: `cargo xtask services
//! key kube`). A build goes
//! to a temporary folder renamed into place at the end, under a lock: an
//! interrupted build leaves nothing half-made, a second caller waits.

use super::pause;
use crate::error::UsageError;
use crate::services::go_build;
use crate::services::Ctx;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;
use xshell::{cmd, Shell};

pub const PINS: &str = ".ci/kube";
/// Every binary of a build, in the order the key lists them.
pub const BINARIES: &[&str] = &[
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "etcd",
    "kwok",
    "kubelet",
    "kube-proxy",
    "coredns",
    "pause",
];
/// The pins: every file the builds read from `.ci/kube`.
const PIN_FILES: [&str; 11] = [
    "go.mod",
    "go.sum",
    "etcd/go.mod",
    "etcd/go.sum",
    "kwok/go.mod",
    "kwok/go.sum",
    "coredns/go.mod",
    "coredns/go.sum",
    "coredns/main.go",
    "pause/go.mod",
    "pause/main.go",
];
const TAGS: &str = "selinux,notest";
/// One `go build` of the pins: its module folder, packages and stamp.
struct Build {
    name: &'static str,
    dir: &'static str,
    packages: &'static [&'static str],
    stamp: fn(&Versions) -> String,
}

const BUILDS: &[Build] = &[
    Build { name: "etcd", dir: "etcd", packages: &["go.etcd.io/etcd/server/v3"], stamp: etcd_ldflags },
    Build { name: "kwok", dir: "kwok", packages: &["sigs.k8s.io/kwok/cmd/kwok"], stamp: kwok_ldflags },
    Build {
        name: "kubernetes",
        dir: ".",
        packages: &[
            "k8s.io/kubernetes/cmd/kube-apiserver",
            "k8s.io/kubernetes/cmd/kube-controller-manager",
            "k8s.io/kubernetes/cmd/kube-scheduler",
            "k8s.io/kubernetes/cmd/kubectl",
            "k8s.io/kubernetes/cmd/kubelet",
            "k8s.io/kubernetes/cmd/kube-proxy",
        ],
        stamp: k8s_ldflags,
    },
    // CoreDNS: upstream's coremain with the plugins the node uses (coredns/main.go).
    Build { name: "coredns", dir: "coredns", packages: &["."], stamp: coredns_ldflags },
    Build { name: "pause", dir: "pause", packages: &["."], stamp: |_| "-s -w".into() },
];

/// The versions the pins name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    pub kubernetes: String,
    pub minor: String,
    pub etcd: String,
    pub kwok: String,
    pub coredns: String,
}

pub use go_build::pin;

/// The versions, checked: Kubernetes v1.X.Y with every staging module at v0.X.Y.
pub fn versions(main: &str, etcd: &str, kwok: &str, coredns: &str) -> Result<Versions, String> {
    let kubernetes = pin(main, "k8s.io/kubernetes").unwrap_or_default();
    let parts: Vec<&str> = kubernetes.strip_prefix("v1.").map(|r| r.split('.').collect()).unwrap_or_default();
    let [minor, _patch] = parts.as_slice() else {
        return Err(format!("cannot read the k8s.io/kubernetes pin from {PINS}/go.mod"));
    };
    let client = pin(main, "k8s.io/client-go").unwrap_or_default();
    let staging = format!("v0.{}", &kubernetes[3..]);
    if client != staging {
        return Err(format!(
            "k8s.io/client-go is replaced by {client} but k8s.io/kubernetes is {kubernetes}: keep the staging replaces at {staging} in {PINS}/go.mod"
        ));
    }
    let etcd =
        pin(etcd, "go.etcd.io/etcd/server/v3").ok_or(format!("cannot read the etcd pin from {PINS}/etcd/go.mod"))?;
    let kwok = pin(kwok, "sigs.k8s.io/kwok").ok_or(format!("cannot read the kwok pin from {PINS}/kwok/go.mod"))?;
    let coredns = pin(coredns, "github.com/coredns/coredns")
        .ok_or(format!("cannot read the CoreDNS pin from {PINS}/coredns/go.mod"))?;
    Ok(Versions { minor: minor.to_string(), kubernetes, etcd, kwok, coredns })
}

fn k8s_ldflags(v: &Versions) -> String {
    let mut flags = "-s -w ".to_string();
    for p in ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"] {
        flags += &format!(
            "-X {p}.gitVersion={} -X {p}.gitMajor=1 -X {p}.gitMinor={} -X {p}.gitTreeState=clean -X {p}.buildDate=1970-01-01T00:00:00Z ",
            v.kubernetes, v.minor
        );
    }
    flags
}

fn etcd_ldflags(v: &Versions) -> String {
    format!("-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA={}", v.etcd)
}

/// kwok reports its own version and the Kubernetes version it stands in for.
fn kwok_ldflags(v: &Versions) -> String {
    format!(
        "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version={} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion={}",
        v.kwok, v.kubernetes
    )
}

fn coredns_ldflags(v: &Versions) -> String {
    format!("-s -w -X github.com/coredns/coredns/coremain.GitCommit={}", v.coredns)
}

/// The cache key: the pin files (name and text), the flags, the binaries, the
/// sandbox image's name and Go's version; 16 hex digits of their sha256 (the
/// shell script's key, so its cache stays valid).
pub fn key(pin_files: &[(&str, String)], v: &Versions, go_version: &str) -> String {
    let rest = format!(
        "== flags\nCGO_ENABLED=0 -trimpath -tags {TAGS}\n{}\n{}\n{}\n{}\n{}\n{go_version}\n",
        k8s_ldflags(v),
        etcd_ldflags(v),
        kwok_ldflags(v),
        BINARIES.join(" "),
        pause::IMAGE
    );
    go_build::key(pin_files, &rest)
}

/// The build of these pins (`go_build::Plan`, with these versions).
pub type Plan = go_build::Plan<Versions>;

/// Built already: the record, every binary and the sandbox image there.
fn complete(p: &Plan) -> bool {
    p.has(BINARIES) && std::fs::metadata(p.bin().join(pause::ARCHIVE)).is_ok_and(|m| m.len() > 0)
}

/// Read the pins of `root` and Go's version; the build's key and place.
pub fn plan(sh: &Shell, root: &Path, cache: &Path) -> Result<Plan> {
    let pins = go_build::read(sh, root, PINS, &PIN_FILES, "the control plane is built from the pins with it")?;
    let f = &pins.files;
    let versions = versions(&f[0].1, &f[2].1, &f[4].1, &f[6].1).map_err(UsageError::new)?;
    let key = key(f, &versions, &pins.go_version);
    Ok(pins.plan(versions, key, cache))
}

/// The binaries' folder, building them first when the cache lacks them.
pub fn ensure(cx: &Ctx, p: &Plan) -> Result<PathBuf> {
    let v = &p.versions;
    let what = format!("Kubernetes {}, etcd {}, kwok {}, CoreDNS {}", v.kubernetes, v.etcd, v.kwok, v.coredns);
    let done = || complete(p);
    let build = p.build("kube", &what, &done);
    let gocache = go_build::gocache(cx.dirs);
    build.ensure(cx, |tmp| {
        let bin = tmp.join("bin");
        std::fs::create_dir_all(&bin)?;
        for b in BUILDS {
            // One package: the binary's path; several: a folder (the trailing slash tells go).
            let out = match b.packages {
                [_] => bin.join(b.name).display().to_string(),
                _ => format!("{}/", bin.display()),
            };
            let mut args: Vec<String> =
                vec!["-trimpath".into(), "-tags".into(), TAGS.into(), "-ldflags".into(), (b.stamp)(v), "-o".into(), out];
            args.extend(b.packages.iter().map(|p| p.to_string()));
            let t = Instant::now();
            cx.say("kube", &format!("building {} ...", b.name));
            let log = tmp.join(format!("{}.log", b.name));
            go_build::go_build(&p.go, &p.pins.join(b.dir), &args, &gocache, &log, &p.cache)?;
            cx.say("kube", &format!("built {} in {:.0}s", b.name, t.elapsed().as_secs_f64()));
        }
        check_stamps(&bin, v)?;
        let pause = pause::pack(&p.go, tmp)?;
        Ok(format!(
            "kubernetes={}\netcd={}\nkwok={}\ncoredns={}\npause_image={} {pause}\nflags=CGO_ENABLED=0 -trimpath -tags {TAGS} -ldflags '-s -w -X ...'\n",
            v.kubernetes,
            v.etcd,
            v.kwok,
            v.coredns,
            pause::IMAGE,
        ))
    })?;
    Ok(p.bin())
}

/// The most recent build in `cache` that has a kubelet: for `down` and
/// `status`, which build nothing (and doctor, which calls them).
pub fn newest_bin(cache: &Path) -> Option<PathBuf> {
    std::fs::read_dir(cache)
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("kubelet").is_file())
        .max_by_key(|b| b.join("kubelet").metadata().and_then(|m| m.modified()).ok())
}

/// The versions stamped into the binaries are the pins' (checked before anything is published).
fn check_stamps(bin: &Path, v: &Versions) -> Result<()> {
    let sh = Shell::new()?;
    let kubectl = bin.join("kubectl");
    let json: serde_json::Value =
        serde_json::from_str(&cmd!(sh, "{kubectl} version --client -o json").quiet().read()?)?;
    let got = json["clientVersion"]["gitVersion"].as_str().unwrap_or("");
    if got != v.kubernetes {
        bail!("kubectl reports `{got}`, expected {} (version stamping failed)", v.kubernetes);
    }
    let apiserver = bin.join("kube-apiserver");
    let got = cmd!(sh, "{apiserver} --version").quiet().read()?;
    if got.trim() != format!("Kubernetes {}", v.kubernetes) {
        bail!("kube-apiserver reports `{got}`, expected Kubernetes {}", v.kubernetes);
    }
    for b in ["kubelet", "kube-proxy"] {
        let exe = bin.join(b);
        let got = cmd!(sh, "{exe} --version").quiet().read()?;
        if got.trim() != format!("Kubernetes {}", v.kubernetes) {
            bail!("{b} reports `{got}`, expected Kubernetes {}", v.kubernetes);
        }
    }
    let etcd = bin.join("etcd");
    let got = cmd!(sh, "{etcd} --version").quiet().read()?;
    if !got.contains(&format!("etcd Version: {}", v.etcd.trim_start_matches('v'))) {
        bail!("etcd does not report {}: {got}", v.etcd);
    }
    let coredns = bin.join("coredns");
    let got = cmd!(sh, "{coredns} -version").quiet().read()?;
    if !got.contains(&format!("CoreDNS-{}", v.coredns.trim_start_matches('v'))) {
        bail!("coredns does not report {}: {got}", v.coredns);
    }
    Ok(())
}

#[cfg(test)]
#[path = "build_tests.rs"]
mod tests;
