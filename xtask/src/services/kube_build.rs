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

use crate::error::UsageError;
use crate::services::{kube_pause, process, Ctx};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
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
/// Parallel compile jobs (`XTASK_KUBE_BUILD_JOBS`): 2 keeps a 2-core machine usable and memory sane.
fn jobs() -> String {
    std::env::var("XTASK_KUBE_BUILD_JOBS")
        .ok()
        .filter(|j| j.parse::<u32>().is_ok_and(|n| n > 0))
        .unwrap_or_else(|| "2".into())
}

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

/// A module's pinned version in a go.mod: a one-line `require`, a line of a
/// `require` block, or the target of a `replace`.
pub fn pin(go_mod: &str, module: &str) -> Option<String> {
    go_mod.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        match f.as_slice() {
            ["require", m, v, ..] if *m == module => Some(v.to_string()),
            [m, v, ..] if *m == module && v.starts_with('v') => Some(v.to_string()),
            [m, "=>", _, v, ..] if *m == module => Some(v.to_string()),
            _ => None,
        }
    })
}

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
    let mut text = String::new();
    for (name, content) in pin_files {
        text += &format!("== {name}\n{content}");
    }
    text += &format!("== flags\nCGO_ENABLED=0 -trimpath -tags {TAGS}\n");
    text += &format!("{}\n{}\n{}\n", k8s_ldflags(v), etcd_ldflags(v), kwok_ldflags(v));
    text += &format!("{}\n{}\n{go_version}\n", BINARIES.join(" "), kube_pause::IMAGE);
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect::<String>()[..16].to_string()
}

/// What a build is: the pins read, their versions, its key and where it goes.
pub struct Plan {
    pub pins: PathBuf,
    pub versions: Versions,
    pub key: String,
    pub cache: PathBuf,
    pub go: PathBuf,
}

impl Plan {
    pub fn out(&self) -> PathBuf {
        self.cache.join(&self.key)
    }

    pub fn bin(&self) -> PathBuf {
        self.out().join("bin")
    }

    /// Built already: the record and every binary there.
    pub fn complete(&self) -> bool {
        self.out().join("BUILD-INFO").is_file()
            && BINARIES.iter().all(|b| self.bin().join(b).is_file())
            && std::fs::metadata(self.bin().join(kube_pause::ARCHIVE)).is_ok_and(|m| m.len() > 0)
    }
}

/// Read the pins of `root` and Go's version; the build's key and place.
pub fn plan(sh: &Shell, root: &Path, cache: &Path) -> Result<Plan> {
    let go = which::which("go").map_err(|_| {
        UsageError::new("go is not on PATH: install Go (>= 1.25); the control plane is built from the pins with it")
    })?;
    let pins = root.join(PINS);
    let mut files = Vec::new();
    for f in PIN_FILES {
        let text = std::fs::read_to_string(pins.join(f))
            .map_err(|e| UsageError::new(format!("cannot read {PINS}/{f} ({e}): restore it from git")))?;
        files.push((f, text));
    }
    let versions = versions(&files[0].1, &files[2].1, &files[4].1, &files[6].1).map_err(UsageError::new)?;
    let go_version = cmd!(sh, "{go} env GOVERSION")
        .quiet()
        .read()
        .context("`go env GOVERSION` failed: check the Go installation")?;
    Ok(Plan { key: key(&files, &versions, go_version.trim()), pins, versions, cache: cache.to_path_buf(), go })
}

/// The binaries' folder, building them first when the cache lacks them.
pub fn ensure(cx: &Ctx, p: &Plan) -> Result<PathBuf> {
    let v = &p.versions;
    let what = format!("Kubernetes {}, etcd {}, kwok {}, CoreDNS {}", v.kubernetes, v.etcd, v.kwok, v.coredns);
    if p.complete() {
        return Ok(p.bin());
    }
    std::fs::create_dir_all(&p.cache).with_context(|| format!("cannot create {}", p.cache.display()))?;
    let _lock = process::lock(&p.cache.join(".lock"), Duration::from_secs(40 * 60), "a control-plane build")?;
    if p.complete() {
        cx.say("kube", &format!("built by the other run: {}", p.bin().display()));
        return Ok(p.bin());
    }
    // Leftovers of interrupted builds: we hold the lock, nobody uses them.
    for e in std::fs::read_dir(&p.cache).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(".tmp-") {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    let _ = std::fs::remove_dir_all(p.out());
    let tmp = p.cache.join(format!(".tmp-{}-{}", p.key, std::process::id()));
    let _cleanup = Remove(tmp.clone());
    std::fs::create_dir_all(tmp.join("bin"))?;
    std::fs::create_dir_all(tmp.join("log"))?;
    let gocache = std::env::var_os("XTASK_KUBE_GOCACHE").map(PathBuf::from).unwrap_or_else(|| p.cache.join("gocache"));
    cx.say("kube", &format!("building {what} (key {}; Go build cache {})", p.key, gocache.display()));
    let t0 = Instant::now();
    for b in BUILDS {
        // One package: the binary's path; several: a folder (the trailing slash tells go).
        let out_arg = match b.packages {
            [_] => tmp.join("bin").join(b.name).display().to_string(),
            _ => format!("{}/", tmp.join("bin").display()),
        };
        let log = tmp.join("log").join(format!("{}.log", b.name));
        let t = Instant::now();
        cx.say("kube", &format!("building {} ...", b.name));
        let (go, ldflags, packages) = (&p.go, (b.stamp)(v), b.packages);
        let sh = Shell::new()?;
        sh.change_dir(p.pins.join(b.dir));
        let c = cmd!(sh, "{go} build -trimpath -tags {TAGS} -ldflags {ldflags} -o {out_arg} {packages...}")
            .env("GOCACHE", &gocache)
            .env("CGO_ENABLED", "0")
            .env("GOFLAGS", format!("-mod=readonly -buildvcs=false -p={}", jobs()))
            .env("GOWORK", "off")
            // The proxy may offer a newer toolchain when a pin needs one; go.mod is never bumped.
            .env("GOTOOLCHAIN", std::env::var("GOTOOLCHAIN").unwrap_or_else(|_| "auto".into()));
        if !run_logged(c.into(), &log)? {
            let kept = p.cache.join("last-build-log");
            let _ = std::fs::remove_dir_all(&kept);
            let _ = std::fs::rename(tmp.join("log"), &kept);
            let kept_log = kept.join(format!("{}.log", b.name));
            bail!(
                "building {} failed; its log ends:\n{}\n(whole log: {}); check the pins in {PINS}/{}/go.mod and that the Go module proxy is reachable",
                b.name,
                process::tail(&kept_log, 20),
                kept_log.display(),
                b.dir
            );
        }
        cx.say("kube", &format!("built {} in {:.0}s", b.name, t.elapsed().as_secs_f64()));
    }
    check_stamps(&tmp.join("bin"), v)?;
    let pause = kube_pause::pack(&p.go, &tmp)?;
    let seconds = t0.elapsed().as_secs();
    let info = format!(
        "key={}\nkubernetes={}\netcd={}\nkwok={}\ncoredns={}\npause_image={} {pause}\nflags=CGO_ENABLED=0 -trimpath -tags {TAGS} -ldflags '-s -w -X ...'\nbuild_seconds={seconds}\nbuilt={}\n",
        p.key,
        v.kubernetes,
        v.etcd,
        v.kwok,
        v.coredns,
        kube_pause::IMAGE,
        crate::clock::rfc3339(crate::clock::now() as i64)
    );
    std::fs::write(tmp.join("BUILD-INFO"), info)?;
    let _ = std::fs::remove_dir_all(tmp.join("log"));
    // Atomic: the key's folder is either absent or complete.
    std::fs::rename(&tmp, p.out()).with_context(|| format!("cannot move the build into {}", p.out().display()))?;
    cx.say("kube", &format!("build took {}m{}s: {}", seconds / 60, seconds % 60, p.bin().display()));
    Ok(p.bin())
}

/// Run a command with its output into `log`; whether it succeeded.
fn run_logged(mut c: Command, log: &Path) -> Result<bool> {
    let f = std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let status = c.stdin(Stdio::null()).stdout(f.try_clone()?).stderr(f).status()?;
    Ok(status.success())
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

/// Removes a folder when dropped (an interrupted build's temporary one).
struct Remove(PathBuf);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
#[path = "kube_build_tests.rs"]
mod tests;
