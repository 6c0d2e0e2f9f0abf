//! Which builder the image stage uses, and its cache. One buildx command
//! line here and on GitHub: the xtask's own builder (`cargo xtask services
//! up buildx`), `docker buildx build --output type=docker,rewrite-timestamp=true`,
//! each component's base image handed over as a named build context (an OCI
//! layout, `services::base_images::layout`), so the builder never needs the
//! engine's images or a registry for it. The cache, `mode=max`, one per
//! component: a run that pushes keeps it in the registry it pushes to
//! (`<prefix>/<component>:buildcache`, the same on a laptop and a runner);
//! a build alone in a local folder. Without buildx, plain `docker build`,
//! said once. A local cache folder that is corrupt is started afresh, one on
//! a full disk is read but not written; the build goes on either way, with a warning.

use crate::component::{Component, Workspace};
use crate::error::UsageError;
use crate::services::base_images::layout;
use crate::services::buildx::builder;
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use xshell::Shell;

/// Free space a cache export needs (MB; `XTASK_BUILDX_CACHE_MIN_FREE_MB`).
const MIN_FREE_MB: u64 = 2048;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cache {
    /// In the registry the run pushes to: `<prefix>/<component>:buildcache`.
    Registry(String),
    /// A folder per component under this one.
    Local(PathBuf),
}

/// The tag a component's registry cache has beside its images.
pub const CACHE_TAG: &str = "buildcache";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buildx {
    /// The builder's own Docker config (plugin, builder; `XTASK_BUILDX_CONFIG`).
    pub config: PathBuf,
    pub cache: Cache,
}

/// What a component's local cache folder allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Use {
    pub from: bool,
    pub to: bool,
}

/// How the cache's layers are compressed: zstd, where gzip took most of a
/// build's CPU (spark, built anew: 96 s of CPU with gzip, 52 s with zstd and
/// the image loaded uncompressed; docs/measurements.md).
const COMPRESSION: &str = "compression=zstd";

/// The build's output: loaded into the engine uncompressed (the engine
/// unpacks what it loads: gzip there is work for nothing), layer times set
/// to SOURCE_DATE_EPOCH, so a rebuild is the same image.
pub const OUTPUT: &str = "type=docker,rewrite-timestamp=true,compression=uncompressed";

/// `--cache-from`/`--cache-to` for a component.
pub fn cache_args(cache: &Cache, component: &str, use_: Use) -> Vec<String> {
    let (from, to) = match cache {
        Cache::Registry(prefix) => {
            let r = format!("type=registry,ref={prefix}/{component}:{CACHE_TAG}");
            // An image manifest, not an index: registries that take images take it (GHCR among them).
            (r.clone(), format!("{r},mode=max,image-manifest=true,oci-mediatypes=true,{COMPRESSION}"))
        }
        Cache::Local(dir) => {
            let d = dir.join(component).display().to_string();
            (format!("type=local,src={d}"), format!("type=local,dest={d},mode=max,{COMPRESSION}"))
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

/// Each component's `--build-context BASE=oci-layout://…@sha256:…` for the
/// base image it starts FROM, exported from the engine once per base (made
/// when `export`, else only those made already: a dry run changes nothing).
pub fn base_contexts(
    sh: &Shell,
    ws: &Workspace,
    components: &[&Component],
    global: Option<&str>,
    export: bool,
) -> Result<BTreeMap<String, String>> {
    let root = layout::root(&crate::services::Dirs::here());
    let mut by_base: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (c, base, _) in crate::images::checks::bases(ws, components, global) {
        if !by_base.contains_key(&base) {
            let found = if export { Some(layout::ensure(sh, &root, &base)?) } else { layout::find(sh, &root, &base) };
            by_base.insert(base.clone(), found.map(|(dir, digest)| layout::context_arg(&base, &dir, &digest)));
        }
        if let Some(context) = by_base[&base].clone() {
            out.insert(c.name.clone(), context);
        }
    }
    Ok(out)
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

/// The builder for this run, the same here and on GitHub: the xtask's own
/// (`XTASK_BUILDX_CONFIG`, made to answer), else None with the one line that
/// says so. A buildx too old for the flags is bad input. `registry`: the
/// prefix a run pushes to, which then keeps the cache.
pub fn decide(
    sh: &Shell,
    env: &dyn Fn(&str) -> Option<String>,
    registry: Option<&str>,
    check_builder: bool,
    say: &dyn Fn(&str),
) -> Result<(Option<Buildx>, Option<String>)> {
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
    let cache = cache_for(registry, env, &config);
    Ok((Some(Buildx { config, cache }), None))
}

/// Where a run's cache goes: the registry it pushes to, else the local folder (`XTASK_BUILDX_CACHE_DIR`).
pub fn cache_for(registry: Option<&str>, env: &dyn Fn(&str) -> Option<String>, config: &Path) -> Cache {
    match registry {
        Some(prefix) => Cache::Registry(prefix.to_string()),
        None => Cache::Local(env("XTASK_BUILDX_CACHE_DIR").map(PathBuf::from).unwrap_or_else(|| config.join("layers"))),
    }
}

/// The buildx plugin of a builder's config, for a Docker config of a run's own.
pub fn plugin(config: &Path) -> PathBuf {
    config.join("cli-plugins/docker-buildx")
}

#[cfg(test)]
#[path = "buildx_tests.rs"]
mod tests;
