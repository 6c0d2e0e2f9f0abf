//! The `signing` service: cosign (signatures and attestations) and syft
//! (SBOMs) built from their Go modules (`.ci/signing`) through the Go module
//! proxy, once per set of pins, into a cache outside the checkout,
//! `<cache>/xtask-signing/<key>/bin/` (like `buildx::build`: a temporary
//! folder renamed into place under a lock); and the machine's signing key
//! pair, made once (`signing::keys`). Nothing runs: `up` records where the
//! tools and the keys are for the image stage (sign, attest) and deploy
//! (verify).

pub mod keys;

use crate::error::UsageError;
use crate::services::go_build::{self, pin};
use crate::services::state::Record;
use crate::services::{Ctx, Service};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;
use xshell::{cmd, Shell};

pub const PINS: &str = ".ci/signing";
const PIN_FILES: [&str; 4] = ["cosign/go.mod", "cosign/go.sum", "syft/go.mod", "syft/go.sum"];
const COSIGN: &str = "github.com/sigstore/cosign/v3";
const SYFT: &str = "github.com/anchore/syft";
/// syft's release build tags: no btrfs graph driver (cgo), OpenPGP in pure Go.
const SYFT_TAGS: &str = "containers_image_openpgp,exclude_graphdriver_btrfs";
pub const BINARIES: &[&str] = &["cosign", "syft"];
/// The variables naming the built tools.
pub const COSIGN_VAR: &str = "XTASK_COSIGN";
pub const SYFT_VAR: &str = "XTASK_SYFT";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    pub cosign: String,
    pub syft: String,
}

pub fn versions(cosign_mod: &str, syft_mod: &str) -> Result<Versions, String> {
    let cosign = pin(cosign_mod, COSIGN).ok_or(format!("cannot read the {COSIGN} pin from {PINS}/cosign/go.mod"))?;
    let syft = pin(syft_mod, SYFT).ok_or(format!("cannot read the {SYFT} pin from {PINS}/syft/go.mod"))?;
    Ok(Versions { cosign, syft })
}

/// Version stamps as upstream's release builds set them (cosign through
/// release-utils, with a fixed build date: the binary depends on the pins only).
fn ldflags(v: &Versions) -> [String; 2] {
    let ru = "sigs.k8s.io/release-utils/version";
    [
        format!(
            "-s -w -X {ru}.gitVersion={} -X {ru}.gitTreeState=clean -X {ru}.buildDate=1970-01-01T00:00:00Z",
            v.cosign
        ),
        format!("-s -w -X main.version={}", v.syft.trim_start_matches('v')),
    ]
}

/// The cache key: the pin files (name and text), the flags and Go's version; 16 hex digits of their sha256.
pub fn key(pin_files: &[(&str, String)], v: &Versions, go_version: &str) -> String {
    let [c, s] = ldflags(v);
    let rest = format!(
        "== flags\nCGO_ENABLED=0 -trimpath\n{c}\n-tags {SYFT_TAGS} {s}\n{}\n{go_version}\n",
        BINARIES.join(" ")
    );
    go_build::key(pin_files, &rest)
}

pub type Plan = go_build::Plan<Versions>;

pub fn cache(cx: &Ctx) -> PathBuf {
    cx.dirs.cache_dir("XTASK_SIGNING_CACHE", "xtask-signing")
}

pub fn plan(sh: &Shell, root: &Path, cache: &Path) -> Result<Plan> {
    let pins = go_build::read(sh, root, PINS, &PIN_FILES, "cosign and syft are built from the pins with it")?;
    let versions = versions(&pins.files[0].1, &pins.files[2].1).map_err(UsageError::new)?;
    let key = key(&pins.files, &versions, &pins.go_version);
    Ok(pins.plan(versions, key, cache))
}

/// `services key signing`: the tools' build key and folder, for actions/cache.
pub fn cache_entry(cx: &Ctx) -> Result<(String, PathBuf)> {
    let p = plan(cx.sh, cx.root, &cache(cx))?;
    Ok((p.key.clone(), p.out()))
}

/// The tools' folder, building them first when the cache lacks them.
pub fn ensure(cx: &Ctx, p: &Plan) -> Result<PathBuf> {
    let v = &p.versions;
    let what = format!("cosign {} and syft {}", v.cosign, v.syft);
    let done = || p.has(BINARIES);
    let build = p.build("signing", &what, &done);
    let gocache = go_build::gocache(cx.dirs);
    let [cosign_flags, syft_flags] = ldflags(v);
    build.ensure(cx, |tmp| {
        let bin = tmp.join("bin");
        std::fs::create_dir_all(&bin)?;
        let builds = [
            ("cosign", vec!["-ldflags".to_string(), cosign_flags.clone()], format!("{COSIGN}/cmd/cosign")),
            (
                "syft",
                vec!["-tags".to_string(), SYFT_TAGS.into(), "-ldflags".into(), syft_flags.clone()],
                format!("{SYFT}/cmd/syft"),
            ),
        ];
        for (name, flags, package) in builds {
            let t = Instant::now();
            let mut args = vec!["-trimpath".to_string()];
            args.extend(flags);
            args.extend(["-o".into(), bin.join(name).display().to_string(), package]);
            go_build::go_build(&p.go, &p.pins.join(name), &args, &gocache, &tmp.join(format!("{name}.log")), &p.cache)?;
            cx.say("signing", &format!("built {name} in {:.0}s", t.elapsed().as_secs_f64()));
        }
        check_stamps(&bin, v)?;
        Ok(format!(
            "cosign={}\nsyft={}\nflags=CGO_ENABLED=0 -trimpath -ldflags '-s -w -X …version…'\n",
            v.cosign, v.syft
        ))
    })?;
    Ok(p.bin())
}

/// The versions the binaries report are the pins'.
fn check_stamps(bin: &Path, v: &Versions) -> Result<()> {
    let sh = Shell::new()?;
    let cosign = bin.join("cosign");
    let got = cmd!(sh, "{cosign} version").quiet().ignore_stderr().read()?;
    if !got.contains(&v.cosign) {
        bail!("cosign reports `{}`, expected {} (version stamping failed)", got.lines().next().unwrap_or(""), v.cosign);
    }
    let syft = bin.join("syft");
    let got = cmd!(sh, "{syft} version").quiet().ignore_stderr().read()?;
    if !got.contains(v.syft.trim_start_matches('v')) {
        bail!("syft reports `{}`, expected {} (version stamping failed)", got.lines().next().unwrap_or(""), v.syft);
    }
    Ok(())
}

pub struct Signing;

impl Service for Signing {
    fn name(&self) -> &'static str {
        "signing"
    }

    fn has_build(&self) -> bool {
        true
    }

    fn build(&self, cx: &Ctx) -> Result<()> {
        ensure(cx, &plan(cx.sh, cx.root, &cache(cx))?).map(drop)
    }

    fn up(&self, cx: &Ctx) -> Result<Record> {
        let p = plan(cx.sh, cx.root, &cache(cx))?;
        let bin = ensure(cx, &p)?;
        let cosign = bin.join("cosign");
        let pair = keys::ensure(cx, &cosign)?;
        let mut env = pair.env();
        env.insert(COSIGN_VAR.into(), cosign.display().to_string());
        env.insert(SYFT_VAR.into(), bin.join("syft").display().to_string());
        Ok(Record {
            summary: format!(
                "cosign {} and syft {} built in {}; key pair {} (public key {})",
                p.versions.cosign,
                p.versions.syft,
                bin.display(),
                pair.dir.display(),
                pair.fingerprint()?
            ),
            env,
            processes: Vec::new(),
            identity: format!("signing {} {} {} {}", p.versions.cosign, p.versions.syft, p.key, pair.fingerprint()?),
        })
    }

    fn down(&self, _cx: &Ctx, _purge: bool) -> Result<String> {
        // The key pair signed what the registry holds: never removed by a purge.
        Ok("nothing runs (the tools stay in their cache, the key pair in its folder)".into())
    }

    fn status(&self, cx: &Ctx) -> Result<String, String> {
        let p = plan(cx.sh, cx.root, &cache(cx)).map_err(|e| format!("{e:#}"))?;
        if !p.has(BINARIES) {
            return Err(format!(
                "cosign {} and syft {} are not built: run `cargo xtask services up signing`",
                p.versions.cosign, p.versions.syft
            ));
        }
        let pair = keys::Pair::at(cx);
        if !pair.complete() {
            return Err(format!("no key pair in {}: run `cargo xtask services up signing`", pair.dir.display()));
        }
        Ok(format!(
            "cosign {} and syft {} built: {}; key pair {}",
            p.versions.cosign,
            p.versions.syft,
            p.bin().display(),
            pair.dir.display()
        ))
    }
}

#[cfg(test)]
#[path = "signing_tests.rs"]
mod tests;
