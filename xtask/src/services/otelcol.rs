//! The OpenTelemetry Collector the telemetry tests export to: built from
//! its Go modules (OTLP receiver + file exporter, `.ci/otelcol`) through the
//! Go module proxy, once per set of pins, into a cache outside the checkout,
//! `<cache>/xtask-otelcol/<key>/otelcol`. Nothing runs: each test starts its
//! own instance on its own ports. `up` builds (or finds) the binary and
//! records it as `XTASK_OTELCOL` for later commands and tests. A build goes
//! to a temporary folder renamed into place, under a lock, like the control
//! plane's (`kube_build`).

use crate::error::UsageError;
use crate::services::state::Record;
use crate::services::{process, Ctx, Service};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use xshell::cmd;

pub const PINS: &str = ".ci/otelcol";
const PIN_FILES: [&str; 3] = ["go.mod", "go.sum", "main.go"];
/// The variable naming the built binary.
pub const VAR: &str = "XTASK_OTELCOL";
const FLAGS: &str = "CGO_ENABLED=0 -trimpath -ldflags=-s -w";

pub struct Otelcol;

/// The cache key: the pin files (name and text), the flags and Go's version; 16 hex digits of their sha256.
pub fn key(pin_files: &[(&str, String)], go_version: &str) -> String {
    let mut text = String::new();
    for (name, content) in pin_files {
        text += &format!("== {name}\n{content}");
    }
    text += &format!("== flags\n{FLAGS}\n{go_version}\n");
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect::<String>()[..16].to_string()
}

/// The collector's version as its pins name it (the contrib file exporter's).
pub fn version(go_mod: &str) -> Option<String> {
    crate::services::kube_build::pin(
        go_mod,
        "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter",
    )
}

fn cache(cx: &Ctx) -> PathBuf {
    cx.dirs.cache_dir("XTASK_OTELCOL_CACHE", "xtask-otelcol")
}

struct Plan {
    pins: PathBuf,
    key: String,
    version: String,
    cache: PathBuf,
    go: PathBuf,
}

impl Plan {
    fn bin(&self) -> PathBuf {
        self.cache.join(&self.key).join("otelcol")
    }
}

fn plan(cx: &Ctx) -> Result<Plan> {
    let go = which::which("go").map_err(|_| {
        UsageError::new("go is not on PATH: install Go (>= 1.25); the collector is built from its pins with it")
    })?;
    let pins = cx.root.join(PINS);
    let mut files = Vec::new();
    for f in PIN_FILES {
        let text = std::fs::read_to_string(pins.join(f))
            .map_err(|e| UsageError::new(format!("cannot read {PINS}/{f} ({e}): restore it from git")))?;
        files.push((f, text));
    }
    let version = version(&files[0].1)
        .ok_or_else(|| UsageError::new(format!("cannot read the file exporter's pin from {PINS}/go.mod")))?;
    let go_version = cmd!(cx.sh, "{go} env GOVERSION")
        .quiet()
        .read()
        .context("`go env GOVERSION` failed: check the Go installation")?;
    Ok(Plan { key: key(&files, go_version.trim()), pins, version, cache: cache(cx), go })
}

/// `services key otelcol`: the build's key and its folder, for actions/cache.
pub fn cache_entry(cx: &Ctx) -> Result<(String, PathBuf)> {
    let p = plan(cx)?;
    Ok((p.key.clone(), p.cache.join(&p.key)))
}

/// The binary, built first when the cache lacks it.
fn ensure(cx: &Ctx, p: &Plan) -> Result<PathBuf> {
    if p.bin().is_file() {
        return Ok(p.bin());
    }
    std::fs::create_dir_all(&p.cache).with_context(|| format!("cannot create {}", p.cache.display()))?;
    let _lock = process::lock(&p.cache.join(".lock"), Duration::from_secs(30 * 60), "a collector build")?;
    if p.bin().is_file() {
        return Ok(p.bin());
    }
    let tmp = p.cache.join(format!(".tmp-{}-{}", p.key, std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let gocache =
        std::env::var_os("XTASK_OTELCOL_GOCACHE").map(PathBuf::from).unwrap_or_else(|| p.cache.join("gocache"));
    cx.say("otelcol", &format!("building the collector {} (key {}) ...", p.version, p.key));
    let t0 = Instant::now();
    let (go, out, log) = (&p.go, tmp.join("otelcol"), tmp.join("build.log"));
    let sh = xshell::Shell::new()?;
    sh.change_dir(&p.pins);
    let ldflags = "-ldflags=-s -w";
    // Niced: the build takes minutes of both cores; whatever else runs keeps going.
    let c = cmd!(sh, "nice -n 10 {go} build -trimpath {ldflags} -o {out} .")
        .env("GOCACHE", &gocache)
        .env("CGO_ENABLED", "0")
        .env("GOFLAGS", "-mod=readonly -buildvcs=false -p=2")
        .env("GOWORK", "off");
    let f = std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut c: std::process::Command = c.into();
    let ok = c.stdin(Stdio::null()).stdout(f.try_clone()?).stderr(f).status()?.success();
    if !ok {
        let kept = p.cache.join("last-build.log");
        let _ = std::fs::rename(&log, &kept);
        let _ = std::fs::remove_dir_all(&tmp);
        bail!(
            "building the collector failed; its log ends:\n{}\n(whole log: {}); check the pins in {PINS}/go.mod and that the Go module proxy is reachable",
            process::tail(&kept, 20),
            kept.display()
        );
    }
    let seconds = t0.elapsed().as_secs();
    std::fs::write(tmp.join("BUILD-INFO"), format!("key={}\nversion={}\nbuild_seconds={seconds}\n", p.key, p.version))?;
    let _ = std::fs::remove_file(&log);
    std::fs::rename(&tmp, p.cache.join(&p.key))
        .with_context(|| format!("cannot move the build into {}", p.cache.display()))?;
    cx.say("otelcol", &format!("build took {}m{}s: {}", seconds / 60, seconds % 60, p.bin().display()));
    Ok(p.bin())
}

impl Service for Otelcol {
    fn name(&self) -> &'static str {
        "otelcol"
    }

    fn up(&self, cx: &Ctx) -> Result<Record> {
        let p = plan(cx)?;
        let bin = ensure(cx, &p)?;
        let mut env = std::collections::BTreeMap::new();
        env.insert(VAR.to_string(), bin.display().to_string());
        Ok(Record {
            summary: format!("collector {} built at {} (each test starts its own)", p.version, bin.display()),
            env,
            processes: Vec::new(),
            identity: format!("otelcol {} {}", p.version, p.key),
        })
    }

    fn down(&self, _cx: &Ctx, _purge: bool) -> Result<String> {
        Ok("nothing runs (the built collector stays in its cache)".into())
    }

    fn status(&self, cx: &Ctx) -> Result<String, String> {
        let p = plan(cx).map_err(|e| format!("{e:#}"))?;
        if p.bin().is_file() {
            Ok(format!("collector {} built: {}", p.version, p.bin().display()))
        } else {
            Err(format!("the collector {} is not built: run `cargo xtask services up otelcol`", p.version))
        }
    }
}
