//! buildx (the Docker CLI plugin) and BuildKit's `buildkitd`/`buildctl`,
//! built from the pins in `.ci/buildx` through the Go module proxy, once per
//! set of pins, into a cache outside the checkout:
//! `<cache>/xtask-buildx/<key>/bin/`. The key hashes the pin files, the
//! flags and Go's version. Like the control plane's build (`kube::build`): a
//! temporary folder renamed into place under a lock, so an interrupted build
//! leaves nothing half-made and a second caller waits.

use crate::error::UsageError;
use crate::services::go_build::{self, pin};
use crate::services::Ctx;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;
use xshell::{cmd, Shell};

pub const PINS: &str = ".ci/buildx";
const PIN_FILES: [&str; 5] =
    ["buildx/go.mod", "buildx/go.sum", "buildkit/go.mod", "buildkit/go.sum", "buildkit/Dockerfile"];
const BUILDX: &str = "github.com/docker/buildx";
const BUILDKIT: &str = "github.com/moby/buildkit";
/// The binaries, as the key lists them.
pub const BINARIES: &[&str] = &["docker-buildx", "buildkitd", "buildctl"];

/// The versions the pins name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    pub buildx: String,
    pub buildkit: String,
}

pub fn versions(buildx_mod: &str, buildkit_mod: &str) -> Result<Versions, String> {
    let buildx = pin(buildx_mod, BUILDX).ok_or(format!("cannot read the {BUILDX} pin from {PINS}/buildx/go.mod"))?;
    let buildkit =
        pin(buildkit_mod, BUILDKIT).ok_or(format!("cannot read the {BUILDKIT} pin from {PINS}/buildkit/go.mod"))?;
    Ok(Versions { buildx, buildkit })
}

/// Version stamps, as upstream's release builds set them.
fn ldflags(module: &str, version: &str) -> String {
    format!("-s -w -X {module}/version.Version={version} -X {module}/version.Package={module}")
}

/// The cache key: the pin files (name and text), the flags and Go's version; 16 hex digits of their sha256.
pub fn key(pin_files: &[(&str, String)], v: &Versions, go_version: &str) -> String {
    let rest = format!(
        "== flags\nCGO_ENABLED=0 -trimpath\n{}\n{}\n{}\n{go_version}\n",
        ldflags(BUILDX, &v.buildx),
        ldflags(BUILDKIT, &v.buildkit),
        BINARIES.join(" ")
    );
    go_build::key(pin_files, &rest)
}

/// The build of these pins (`go_build::Plan`, with these versions).
pub type Plan = go_build::Plan<Versions>;

/// Read the pins of `root` and Go's version; the build's key and place.
pub fn plan(sh: &Shell, root: &Path, cache: &Path) -> Result<Plan> {
    let pins = go_build::read(sh, root, PINS, &PIN_FILES, "buildx and BuildKit are built from the pins with it")?;
    let versions = versions(&pins.files[0].1, &pins.files[2].1).map_err(UsageError::new)?;
    let key = key(&pins.files, &versions, &pins.go_version);
    Ok(pins.plan(versions, key, cache))
}

/// The binaries' folder, building them first when the cache lacks them.
pub fn ensure(cx: &Ctx, p: &Plan) -> Result<PathBuf> {
    let v = &p.versions;
    let what = format!("buildx {} and BuildKit {}", v.buildx, v.buildkit);
    let done = || p.has(BINARIES);
    let build = p.build("buildx", &what, &done);
    let gocache = go_build::gocache(cx.dirs);
    build.ensure(cx, |tmp| {
        let bin = tmp.join("bin");
        std::fs::create_dir_all(&bin)?;
        // (pins folder, output: a file for one package, a folder for several, stamp, packages)
        let builds = [
            (
                "buildx",
                bin.join("docker-buildx").display().to_string(),
                ldflags(BUILDX, &v.buildx),
                vec![format!("{BUILDX}/cmd/buildx")],
            ),
            (
                "buildkit",
                format!("{}/", bin.display()),
                ldflags(BUILDKIT, &v.buildkit),
                vec![format!("{BUILDKIT}/cmd/buildkitd"), format!("{BUILDKIT}/cmd/buildctl")],
            ),
        ];
        for (dir, out, flags, packages) in builds {
            let t = Instant::now();
            let mut args = vec!["-trimpath".to_string(), "-ldflags".into(), flags, "-o".into(), out];
            args.extend(packages);
            go_build::go_build(&p.go, &p.pins.join(dir), &args, &gocache, &tmp.join(format!("{dir}.log")), &p.cache)?;
            cx.say("buildx", &format!("built {dir} in {:.0}s", t.elapsed().as_secs_f64()));
        }
        check_stamps(&bin, v)?;
        Ok(format!(
            "buildx={}\nbuildkit={}\nflags=CGO_ENABLED=0 -trimpath -ldflags '-s -w -X .../version.Version=...'\n",
            v.buildx, v.buildkit
        ))
    })?;
    Ok(p.bin())
}

/// The versions stamped into the binaries are the pins'.
fn check_stamps(bin: &Path, v: &Versions) -> Result<()> {
    let sh = Shell::new()?;
    let buildx = bin.join("docker-buildx");
    let got = cmd!(sh, "{buildx} version").quiet().read()?;
    if !got.contains(&v.buildx) {
        bail!("buildx reports `{got}`, expected {} (version stamping failed)", v.buildx);
    }
    let buildkitd = bin.join("buildkitd");
    let got = cmd!(sh, "{buildkitd} --version").quiet().read()?;
    if !got.contains(&v.buildkit) {
        bail!("buildkitd reports `{got}`, expected {} (version stamping failed)", v.buildkit);
    }
    Ok(())
}

#[cfg(test)]
#[path = "build_tests.rs"]
mod tests;
