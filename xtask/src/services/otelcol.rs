//! The OpenTelemetry Collector the telemetry tests export to: built from
//! its Go modules (OTLP receiver + file exporter, `.ci/otelcol`) through the
//! Go module proxy, once per set of pins, into a cache outside the checkout,
//! `<cache>/xtask-otelcol/<key>/otelcol`. Nothing runs: each test starts its
//! own instance on its own ports. `up` builds (or finds) the binary and
//! records it as `XTASK_OTELCOL` for later commands and tests. A build goes
//! to a temporary folder renamed into place, under a lock, like the control
//! plane's (`kube::build`).

use crate::error::UsageError;
use crate::services::go_build;
use crate::services::state::Record;
use crate::services::{Ctx, Service};
use anyhow::Result;
use std::path::PathBuf;

pub const PINS: &str = ".ci/otelcol";
const PIN_FILES: [&str; 3] = ["go.mod", "go.sum", "main.go"];
/// The variable naming the built binary.
pub const VAR: &str = "XTASK_OTELCOL";
const FLAGS: &str = "CGO_ENABLED=0 -trimpath -ldflags=-s -w";

pub struct Otelcol;

/// The cache key: the pin files (name and text), the flags and Go's version; 16 hex digits of their sha256.
pub fn key(pin_files: &[(&str, String)], go_version: &str) -> String {
    go_build::key(pin_files, &format!("== flags\n{FLAGS}\n{go_version}\n"))
}

/// The collector's version as its pins name it (the contrib file exporter's).
pub fn version(go_mod: &str) -> Option<String> {
    go_build::pin(go_mod, "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter")
}

fn cache(cx: &Ctx) -> PathBuf {
    cx.dirs.cache_dir("XTASK_OTELCOL_CACHE", "xtask-otelcol")
}

/// The build (its versions: the collector's version).
type Plan = go_build::Plan<String>;

/// The collector's binary (in the build's folder, not `bin/`).
fn binary(p: &Plan) -> PathBuf {
    p.out().join("otelcol")
}

fn plan(cx: &Ctx) -> Result<Plan> {
    let pins = go_build::read(cx.sh, cx.root, PINS, &PIN_FILES, "the collector is built from its pins with it")?;
    let version = version(&pins.files[0].1)
        .ok_or_else(|| UsageError::new(format!("cannot read the file exporter's pin from {PINS}/go.mod")))?;
    let key = key(&pins.files, &pins.go_version);
    Ok(pins.plan(version, key, &cache(cx)))
}

/// `services key otelcol`: the build's key and its folder, for actions/cache.
pub fn cache_entry(cx: &Ctx) -> Result<(String, PathBuf)> {
    let p = plan(cx)?;
    Ok((p.key.clone(), p.cache.join(&p.key)))
}

/// The binary, built first when the cache lacks it.
fn ensure(cx: &Ctx, p: &Plan) -> Result<PathBuf> {
    let what = format!("the collector {}", p.versions);
    let done = || binary(p).is_file();
    let build = p.build("otelcol", &what, &done);
    build.ensure(cx, |tmp| {
        let args =
            ["-trimpath", "-ldflags=-s -w", "-o", &tmp.join("otelcol").display().to_string(), "."].map(String::from);
        go_build::go_build(&p.go, &p.pins, &args, &go_build::gocache(cx.dirs), &tmp.join("build.log"), &p.cache)?;
        Ok(format!("version={}\n", p.versions))
    })?;
    Ok(binary(p))
}

impl Service for Otelcol {
    fn name(&self) -> &'static str {
        "otelcol"
    }

    fn has_build(&self) -> bool {
        true
    }

    fn build(&self, cx: &Ctx) -> Result<()> {
        ensure(cx, &plan(cx)?).map(drop)
    }

    fn up(&self, cx: &Ctx) -> Result<Record> {
        let p = plan(cx)?;
        let bin = ensure(cx, &p)?;
        let mut env = std::collections::BTreeMap::new();
        env.insert(VAR.to_string(), bin.display().to_string());
        Ok(Record {
            summary: format!("collector {} built at {} (each test starts its own)", p.versions, bin.display()),
            env,
            processes: Vec::new(),
            identity: format!("otelcol {} {}", p.versions, p.key),
        })
    }

    fn down(&self, _cx: &Ctx, _purge: bool) -> Result<String> {
        Ok("nothing runs (the built collector stays in its cache)".into())
    }

    fn status(&self, cx: &Ctx) -> Result<String, String> {
        let p = plan(cx).map_err(|e| format!("{e:#}"))?;
        if binary(&p).is_file() {
            Ok(format!("collector {} built: {}", p.versions, binary(&p).display()))
        } else {
            Err(format!("the collector {} is not built: run `cargo xtask services up otelcol`", p.versions))
        }
    }
}
