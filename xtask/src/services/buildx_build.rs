//! buildx (the Docker CLI plugin) and BuildKit's `buildkitd`/`buildctl`,
//! built from the pins in `.ci/buildx` through the Go module proxy, once per
//! set of pins, into a cache outside the checkout:
//! `<cache>/xtask-buildx/<key>/bin/`. The key hashes the pin files, the
//! flags and Go's version. Like the control plane's build (`kube_build`): a
//! temporary folder renamed into place under a lock, so an interrupted build
//! leaves nothing half-made and a second caller waits.

use crate::error::UsageError;
use crate::services::{kube_build, process, Ctx};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
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
    let buildx =
        kube_build::pin(buildx_mod, BUILDX).ok_or(format!("cannot read the {BUILDX} pin from {PINS}/buildx/go.mod"))?;
    let buildkit = kube_build::pin(buildkit_mod, BUILDKIT)
        .ok_or(format!("cannot read the {BUILDKIT} pin from {PINS}/buildkit/go.mod"))?;
    Ok(Versions { buildx, buildkit })
}

/// Version stamps, as upstream's release builds set them.
fn ldflags(module: &str, version: &str) -> String {
    format!("-s -w -X {module}/version.Version={version} -X {module}/version.Package={module}")
}

/// The cache key: the pin files (name and text), the flags and Go's version; 16 hex digits of their sha256.
pub fn key(pin_files: &[(&str, String)], v: &Versions, go_version: &str) -> String {
    let mut text = String::new();
    for (name, content) in pin_files {
        text += &format!("== {name}\n{content}");
    }
    text += &format!(
        "== flags\nCGO_ENABLED=0 -trimpath\n{}\n{}\n",
        ldflags(BUILDX, &v.buildx),
        ldflags(BUILDKIT, &v.buildkit)
    );
    text += &format!("{}\n{go_version}\n", BINARIES.join(" "));
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect::<String>()[..16].to_string()
}

/// What a build is: the pins read, their versions, its key and where it goes.
pub struct Plan {
    pub pins: PathBuf,
    pub versions: Versions,
    pub key: String,
    pub cache: PathBuf,
    go: PathBuf,
}

impl Plan {
    pub fn out(&self) -> PathBuf {
        self.cache.join(&self.key)
    }

    pub fn bin(&self) -> PathBuf {
        self.out().join("bin")
    }

    pub fn complete(&self) -> bool {
        self.out().join("BUILD-INFO").is_file() && BINARIES.iter().all(|b| self.bin().join(b).is_file())
    }
}

/// Read the pins of `root` and Go's version; the build's key and place.
pub fn plan(sh: &Shell, root: &Path, cache: &Path) -> Result<Plan> {
    let go = which::which("go").map_err(|_| {
        UsageError::new("go is not on PATH: install Go (>= 1.26); buildx and BuildKit are built from the pins with it")
    })?;
    let pins = root.join(PINS);
    let mut files = Vec::new();
    for f in PIN_FILES {
        let text = std::fs::read_to_string(pins.join(f))
            .map_err(|e| UsageError::new(format!("cannot read {PINS}/{f} ({e}): restore it from git")))?;
        files.push((f, text));
    }
    let versions = versions(&files[0].1, &files[2].1).map_err(UsageError::new)?;
    let go_version = cmd!(sh, "{go} env GOVERSION")
        .quiet()
        .read()
        .context("`go env GOVERSION` failed: check the Go installation")?;
    Ok(Plan { key: key(&files, &versions, go_version.trim()), pins, versions, cache: cache.to_path_buf(), go })
}

/// The binaries' folder, building them first when the cache lacks them.
pub fn ensure(cx: &Ctx, p: &Plan) -> Result<PathBuf> {
    if p.complete() {
        return Ok(p.bin());
    }
    std::fs::create_dir_all(&p.cache).with_context(|| format!("cannot create {}", p.cache.display()))?;
    let _lock = process::lock(&p.cache.join(".lock"), Duration::from_secs(40 * 60), "a buildx/BuildKit build")?;
    if p.complete() {
        return Ok(p.bin());
    }
    for e in std::fs::read_dir(&p.cache).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(".tmp-") {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    let _ = std::fs::remove_dir_all(p.out());
    let tmp = p.cache.join(format!(".tmp-{}-{}", p.key, std::process::id()));
    let _cleanup = Remove(tmp.clone());
    std::fs::create_dir_all(tmp.join("bin"))?;
    let gocache =
        std::env::var_os("XTASK_BUILDX_GOCACHE").map(PathBuf::from).unwrap_or_else(|| p.cache.join("gocache"));
    let v = &p.versions;
    cx.say(
        "buildx",
        &format!(
            "building buildx {} and BuildKit {} (key {}; Go build cache {})",
            v.buildx,
            v.buildkit,
            p.key,
            gocache.display()
        ),
    );
    let t0 = Instant::now();
    // (pins folder, output: a file for one package, a folder for several, stamp, packages)
    let builds = [
        (
            "buildx",
            tmp.join("bin/docker-buildx").display().to_string(),
            ldflags(BUILDX, &v.buildx),
            vec![format!("{BUILDX}/cmd/buildx")],
        ),
        (
            "buildkit",
            format!("{}/", tmp.join("bin").display()),
            ldflags(BUILDKIT, &v.buildkit),
            vec![format!("{BUILDKIT}/cmd/buildkitd"), format!("{BUILDKIT}/cmd/buildctl")],
        ),
    ];
    for (dir, out, flags, packages) in builds {
        let t = Instant::now();
        let log = tmp.join(format!("{dir}.log"));
        let sh = Shell::new()?;
        sh.change_dir(p.pins.join(dir));
        let go = &p.go;
        // nice: a cold build takes minutes of both cores on a shared machine.
        let c = cmd!(sh, "nice -n 10 {go} build -trimpath -ldflags {flags} -o {out} {packages...}")
            .env("GOCACHE", &gocache)
            .env("CGO_ENABLED", "0")
            .env("GOFLAGS", format!("-mod=readonly -buildvcs=false -p={}", jobs()))
            .env("GOWORK", "off")
            .env("GOTOOLCHAIN", std::env::var("GOTOOLCHAIN").unwrap_or_else(|_| "auto".into()));
        let f = std::fs::File::create(&log)?;
        let ok = std::process::Command::from(c)
            .stdin(std::process::Stdio::null())
            .stdout(f.try_clone()?)
            .stderr(f)
            .status()?
            .success();
        if !ok {
            let kept = p.cache.join("last-build.log");
            let _ = std::fs::copy(&log, &kept);
            bail!(
                "building {dir} failed; its log ends:\n{}\n(whole log: {}); check the pins in {PINS}/{dir}/go.mod and that the Go module proxy is reachable",
                process::tail(&kept, 20),
                kept.display()
            );
        }
        let _ = std::fs::remove_file(&log);
        cx.say("buildx", &format!("built {dir} in {:.0}s", t.elapsed().as_secs_f64()));
    }
    check_stamps(&tmp.join("bin"), v)?;
    let seconds = t0.elapsed().as_secs();
    let info = format!(
        "key={}\nbuildx={}\nbuildkit={}\nflags=CGO_ENABLED=0 -trimpath -ldflags '-s -w -X .../version.Version=...'\nbuild_seconds={seconds}\nbuilt={}\n",
        p.key,
        v.buildx,
        v.buildkit,
        crate::clock::rfc3339(crate::clock::now() as i64)
    );
    std::fs::write(tmp.join("BUILD-INFO"), info)?;
    std::fs::rename(&tmp, p.out()).with_context(|| format!("cannot move the build into {}", p.out().display()))?;
    cx.say("buildx", &format!("build took {}m{}s: {}", seconds / 60, seconds % 60, p.bin().display()));
    Ok(p.bin())
}

/// Parallel compile jobs (`XTASK_KUBE_BUILD_JOBS`, shared with the control plane's build).
fn jobs() -> String {
    std::env::var("XTASK_KUBE_BUILD_JOBS")
        .ok()
        .filter(|j| j.parse::<u32>().is_ok_and(|n| n > 0))
        .unwrap_or_else(|| "2".into())
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

struct Remove(PathBuf);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
#[path = "buildx_build_tests.rs"]
mod tests;
