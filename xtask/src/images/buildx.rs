//! Which builder the image stage uses, and its cache. One buildx command
//! line everywhere: `docker buildx build --output
//! type=docker,rewrite-timestamp=true` with a cache per component, `mode=max`
//! (`type=gha` on GitHub, `type=local` here, in the folder the `buildx`
//! service records). Without buildx, plain `docker build`, said once. A local
//! cache folder that is corrupt is started afresh, one on a full disk is
//! read but not written; the build goes on either way, with a warning.

use crate::error::UsageError;
use crate::services::buildx::builder;
use anyhow::Result;
use std::path::{Path, PathBuf};
use xshell::Shell;

/// Free space a cache export needs (MB; `XTASK_BUILDX_CACHE_MIN_FREE_MB`).
const MIN_FREE_MB: u64 = 2048;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cache {
    /// GitHub's Actions cache.
    Gha,
    /// A folder per component under this one.
    Local(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buildx {
    /// The builder's own Docker config (here); None on GitHub (the runner's).
    pub config: Option<PathBuf>,
    pub cache: Cache,
}

/// What a component's local cache folder allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Use {
    pub from: bool,
    pub to: bool,
}

/// `--cache-from`/`--cache-to` for a component.
pub fn cache_args(cache: &Cache, component: &str, use_: Use) -> Vec<String> {
    let (from, to) = match cache {
        Cache::Gha => (format!("type=gha,scope={component}"), format!("type=gha,mode=max,scope={component}")),
        Cache::Local(dir) => {
            let d = dir.join(component).display().to_string();
            (format!("type=local,src={d}"), format!("type=local,dest={d},mode=max"))
        }
    };
    let mut args = Vec::new();
    if use_.from {
        args.extend(["--cache-from".to_string(), from]);
    }
    if use_.to {
        args.extend(["--cache-to".to_string(), to]);
    }
    args
}

/// Is a local cache folder sound? Absent is (nothing to read yet); one
/// whose `index.json` is unreadable, or names a blob that is missing, is not.
pub fn sound(dir: &Path) -> Result<(), String> {
    let index = dir.join("index.json");
    if !dir.exists() {
        return Ok(());
    }
    let text = std::fs::read_to_string(&index).map_err(|e| format!("{}: {e}", index.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON ({e})", index.display()))?;
    let manifests = json["manifests"].as_array().ok_or(format!("{} lists no manifests", index.display()))?;
    for m in manifests {
        let digest = m["digest"].as_str().unwrap_or("");
        let Some((algo, hex)) = digest.split_once(':') else {
            return Err(format!("{} has a manifest without a digest", index.display()));
        };
        if !dir.join("blobs").join(algo).join(hex).is_file() {
            return Err(format!("blob {digest} named in {} is missing", index.display()));
        }
    }
    Ok(())
}

/// Free MB on the filesystem holding `dir` (or its nearest existing parent).
pub fn free_mb(dir: &Path) -> Option<u64> {
    let existing = dir.ancestors().find(|a| a.exists())?;
    let c = std::ffi::CString::new(existing.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statvfs(3) with a NUL-terminated path and a zeroed out-struct.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    Some(s.f_bavail as u64 * s.f_frsize as u64 / (1024 * 1024))
}

fn min_free_mb() -> u64 {
    std::env::var("XTASK_BUILDX_CACHE_MIN_FREE_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(MIN_FREE_MB)
}

/// What the local cache of `component` allows, with a warning when it is
/// not everything. A corrupt folder is removed (the export starts afresh).
pub fn local_use(dir: &Path, component: &str) -> (Use, Option<String>) {
    let d = dir.join(component);
    let mut warn = Vec::new();
    let mut use_ = Use { from: d.join("index.json").is_file(), to: true };
    if let Err(why) = sound(&d) {
        let _ = std::fs::remove_dir_all(&d);
        use_.from = false;
        warn.push(format!(
            "the build cache of {component} is corrupt ({why}): building without it and exporting it afresh"
        ));
    }
    let need = min_free_mb();
    if let Some(free) = free_mb(dir).filter(|f| *f < need) {
        use_.to = false;
        warn.push(format!(
            "the disk holding the build cache {} has {free} MB free (under {need} MB): building without exporting the cache; free space or move it (XTASK_BUILDX_CACHE_DIR)",
            dir.display()
        ));
    }
    (use_, (!warn.is_empty()).then(|| warn.join("; ")))
}

/// The builder for this run: buildx when it is there (its builder made to
/// answer), else None with the one line that says so. A buildx too old for
/// the flags is bad input.
pub fn decide(
    sh: &Shell,
    github: bool,
    env: &dyn Fn(&str) -> Option<String>,
    check_builder: bool,
    say: &dyn Fn(&str),
) -> Result<(Option<Buildx>, Option<String>)> {
    if github {
        return match builder::version(sh, None) {
            Ok(_) => Ok((Some(Buildx { config: None, cache: Cache::Gha }), None)),
            Err(Some(too_old)) => Err(UsageError::new(too_old)),
            Err(None) => Ok((
                None,
                Some("docker buildx is missing: add a docker/setup-buildx-action step before the image stage (building with plain docker build, without the gha cache)".into()),
            )),
        };
    }
    let config = env("XTASK_BUILDX_CONFIG").map(PathBuf::from).filter(|d| d.is_dir());
    let Some(config) = config else {
        return Ok((None, Some("buildx is not set up here (`cargo xtask services up buildx` makes it): building with plain docker build".into())));
    };
    match builder::version(sh, Some(&config)) {
        Ok(_) => {}
        Err(Some(too_old)) => return Err(UsageError::new(too_old)),
        Err(None) => {
            return Ok((
                None,
                Some(format!("{} has no working buildx plugin (`cargo xtask services up buildx` makes it): building with plain docker build", config.display())),
            ))
        }
    }
    if check_builder {
        builder::ensure(sh, &config, say)?;
    }
    let dir = env("XTASK_BUILDX_CACHE_DIR").map(PathBuf::from).unwrap_or_else(|| config.join("layers"));
    Ok((Some(Buildx { config: Some(config), cache: Cache::Local(dir) }), None))
}

#[cfg(test)]
#[path = "buildx_tests.rs"]
mod tests;
