//! What the three Go pin builds share (the control plane's `kube::build`,
//! `buildx::build` and the collector's `otelcol`): reading the pins, the
//! key, one Go build cache for all three (a package compiled for one is
//! reused by the others: the standard library, gRPC, protobuf, x/net …),
//! one `go build` with its log, and building into `<cache>/<key>` through a
//! temporary folder renamed into place under a lock, so an interrupted build
//! leaves nothing half-made and a second caller waits.

use crate::error::UsageError;
use crate::services::{process, Ctx, Dirs};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use xshell::{cmd, Shell};

/// A set of pins read from the checkout, and the Go that builds them.
pub struct Pins {
    /// The pins' folder, `<root>/<rel>`.
    pub dir: PathBuf,
    /// Every pin file (name and text), in the key's order.
    pub files: Vec<(&'static str, String)>,
    pub go: PathBuf,
    pub go_version: String,
}

/// Read `files` of `rel` under `root` and find Go; `purpose` ends the
/// missing-Go line ("the collector is built from its pins with it").
pub fn read(sh: &Shell, root: &Path, rel: &str, files: &[&'static str], purpose: &str) -> Result<Pins> {
    let go = which::which("go")
        .map_err(|_| UsageError::new(format!("go is not on PATH: install Go (>= 1.26); {purpose}")))?;
    let dir = root.join(rel);
    let mut read = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(dir.join(f))
            .map_err(|e| UsageError::new(format!("cannot read {rel}/{f} ({e}): restore it from git")))?;
        read.push((*f, text));
    }
    let go_version = cmd!(sh, "{go} env GOVERSION")
        .quiet()
        .read()
        .context("`go env GOVERSION` failed: check the Go installation")?
        .trim()
        .to_string();
    Ok(Pins { dir, files: read, go, go_version })
}

impl Pins {
    /// The build of these pins: their `versions` and `key`, into `<cache>/<key>`.
    pub fn plan<V>(self, versions: V, key: String, cache: &Path) -> Plan<V> {
        Plan { pins: self.dir, versions, key, cache: cache.to_path_buf(), go: self.go }
    }
}

/// What a build is: the pins read, their versions, its key and where it goes.
pub struct Plan<V> {
    pub pins: PathBuf,
    pub versions: V,
    pub key: String,
    pub cache: PathBuf,
    pub go: PathBuf,
}

impl<V> Plan<V> {
    pub fn out(&self) -> PathBuf {
        self.cache.join(&self.key)
    }

    pub fn bin(&self) -> PathBuf {
        self.out().join("bin")
    }

    /// Built already: the record and each of `binaries` in `bin/`.
    pub fn has(&self, binaries: &[&str]) -> bool {
        self.out().join("BUILD-INFO").is_file() && binaries.iter().all(|b| self.bin().join(b).is_file())
    }

    /// Its build into the cache, done when `complete` says so.
    pub fn build<'a>(&'a self, who: &'static str, what: &'a str, complete: &'a dyn Fn() -> bool) -> CacheBuild<'a> {
        CacheBuild { who, what, cache: &self.cache, key: &self.key, complete }
    }
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

/// 16 hex digits of the sha256 of the pin files (name and text) followed by
/// `rest`: the flags, binaries and Go version each build adds.
pub fn key(files: &[(&str, String)], rest: &str) -> String {
    let mut text = String::new();
    for (name, content) in files {
        text += &format!("== {name}\n{content}");
    }
    text += rest;
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect::<String>()[..16].to_string()
}

/// The Go build cache the builds share: `<cache>/xtask-go` (`XTASK_GOCACHE`).
pub fn gocache(dirs: &Dirs) -> PathBuf {
    dirs.cache_dir("XTASK_GOCACHE", "xtask-go")
}

/// Parallel compile jobs (`XTASK_GO_BUILD_JOBS`): 2 keeps a 2-core machine usable and memory sane.
fn jobs() -> String {
    std::env::var("XTASK_GO_BUILD_JOBS")
        .ok()
        .filter(|j| j.parse::<u32>().is_ok_and(|n| n > 0))
        .unwrap_or_else(|| "2".into())
}

/// `GOFLAGS` of every build but `-p`. `-dwarf=false`: the binaries are
/// linked with `-s -w`, so the debug info the compiler makes by default is
/// thrown away; not making it took 7.6% less CPU on buildx cold (235 s
/// against 255 s) and 12% less over a fresh machine's builds (1349 s
/// against 1529 s, docs/speed-tried.md). The binaries are the same
/// programs, so the keys do not change.
pub const GOFLAGS: &str = "-mod=readonly -buildvcs=false -gcflags=all=-dwarf=false";

/// The `go build`s under way (pids), and whether [`stop_all`] stopped them.
static RUNNING: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static STOPPED: AtomicBool = AtomicBool::new(false);

/// Stop the builds under way and any started after: `services up` failed
/// while its builds ran beside it (minutes of both cores nobody will use).
pub fn stop_all() {
    STOPPED.store(true, Ordering::SeqCst);
    for pid in RUNNING.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        // SAFETY: kill(2) of a child this process spawned and has not reaped.
        unsafe { libc::kill(*pid as libc::pid_t, libc::SIGTERM) };
    }
}

/// One `go build ARGS` in `dir`, niced (minutes of both cores on a shared
/// machine), its output in `log`; on failure the log is kept beside the
/// cache as `last-build.log` and the error shows its end.
pub fn go_build(go: &Path, dir: &Path, args: &[String], gocache: &Path, log: &Path, cache: &Path) -> Result<()> {
    if STOPPED.load(Ordering::SeqCst) {
        bail!("`go build` in {} not started: services up failed before it was needed", dir.display());
    }
    let sh = Shell::new()?;
    sh.change_dir(dir);
    let c = cmd!(sh, "nice -n 10 {go} build {args...}")
        .env("GOCACHE", gocache)
        .env("CGO_ENABLED", "0")
        .env("GOFLAGS", format!("{GOFLAGS} -p={}", jobs()))
        .env("GOWORK", "off")
        // The proxy may offer a newer toolchain when a pin needs one; go.mod is never bumped.
        .env("GOTOOLCHAIN", std::env::var("GOTOOLCHAIN").unwrap_or_else(|_| "auto".into()));
    let f = std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut child = Command::from(c).stdin(Stdio::null()).stdout(f.try_clone()?).stderr(f).spawn()?;
    RUNNING.lock().unwrap_or_else(|e| e.into_inner()).push(child.id());
    let status = child.wait();
    RUNNING.lock().unwrap_or_else(|e| e.into_inner()).retain(|p| *p != child.id());
    if STOPPED.load(Ordering::SeqCst) {
        bail!("`go build` in {} stopped: services up failed before it was needed", dir.display());
    }
    let ok = status?.success();
    if !ok {
        let kept = cache.join("last-build.log");
        let _ = std::fs::copy(log, &kept);
        bail!(
            "`go build` in {} failed; its log ends:\n{}\n(whole log: {}); check the pins there and that the Go module proxy is reachable",
            dir.display(),
            process::tail(&kept, 20),
            kept.display()
        );
    }
    let _ = std::fs::remove_file(log);
    Ok(())
}

/// One build into the cache.
pub struct CacheBuild<'a> {
    /// The service saying what happens.
    pub who: &'static str,
    /// What is built, for the lock's and progress lines.
    pub what: &'a str,
    pub cache: &'a Path,
    pub key: &'a str,
    /// Whether `<cache>/<key>` holds a whole build.
    pub complete: &'a dyn Fn() -> bool,
}

impl CacheBuild<'_> {
    pub fn out(&self) -> PathBuf {
        self.cache.join(self.key)
    }

    /// `<cache>/<key>`, made by `build` (given the temporary folder, it
    /// returns the lines of `BUILD-INFO`) when it is not complete yet.
    pub fn ensure(&self, cx: &Ctx, build: impl FnOnce(&Path) -> Result<String>) -> Result<PathBuf> {
        if (self.complete)() {
            return Ok(self.out());
        }
        std::fs::create_dir_all(self.cache).with_context(|| format!("cannot create {}", self.cache.display()))?;
        let _lock = process::lock(&self.cache.join(".lock"), Duration::from_secs(40 * 60), self.what)?;
        if (self.complete)() {
            cx.say(self.who, &format!("built by the other run: {}", self.out().display()));
            return Ok(self.out());
        }
        // Leftovers of interrupted builds: we hold the lock, nobody uses them.
        for e in std::fs::read_dir(self.cache).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with(".tmp-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let _ = std::fs::remove_dir_all(self.out());
        let tmp = self.cache.join(format!(".tmp-{}-{}", self.key, std::process::id()));
        let _cleanup = Remove(tmp.clone());
        std::fs::create_dir_all(&tmp)?;
        cx.say(
            self.who,
            &format!("building {} (key {}; Go build cache {})", self.what, self.key, gocache(cx.dirs).display()),
        );
        let t0 = Instant::now();
        let info = build(&tmp)?;
        let seconds = t0.elapsed().as_secs();
        let built = crate::clock::rfc3339(crate::clock::now() as i64);
        std::fs::write(
            tmp.join("BUILD-INFO"),
            format!("key={}\n{info}goflags={GOFLAGS}\nbuild_seconds={seconds}\nbuilt={built}\n", self.key),
        )?;
        // Atomic: the key's folder is either absent or complete.
        std::fs::rename(&tmp, self.out())
            .with_context(|| format!("cannot move the build into {}", self.out().display()))?;
        cx.say(self.who, &format!("build took {}m{}s: {}", seconds / 60, seconds % 60, self.out().display()));
        Ok(self.out())
    }
}

/// Removes a folder when dropped (an interrupted build's temporary one).
struct Remove(PathBuf);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
#[path = "go_build_tests.rs"]
mod tests;
