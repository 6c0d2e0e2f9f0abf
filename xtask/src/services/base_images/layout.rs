//! A base image as an OCI image layout, the form every buildx driver takes a
//! base from (`--build-context NAME=oci-layout://DIR@sha256:…`): buildx reads
//! the folder and streams it to BuildKit, so no builder needs to see the
//! engine's images or reach a registry. One folder per image id under
//! `<cache>/xtask-base/oci/`, made by `docker save`, unpacked, and renamed
//! into place whole (a crash leaves a temp folder, never half a layout).
//! Engine 20.10's `docker save` writes the legacy docker-archive
//! (`manifest.json`, `<id>/layer.tar`, `<config>.json`), converted here; an
//! engine from 25 on writes an OCI layout already, taken as it is.

use crate::services::Dirs;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use xshell::{cmd, Shell};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Uncompressed, as `docker save` has them: each blob's digest is the config's diff_id.
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// Where the layouts live (`XTASK_BASE_CACHE` moves it with the root filesystems).
pub fn root(dirs: &Dirs) -> PathBuf {
    dirs.cache_dir("XTASK_BASE_CACHE", "xtask-base").join("oci")
}

/// The layout folder of an image id (`sha256:HEX`).
pub fn dir_of(root: &Path, id: &str) -> Result<PathBuf> {
    let hex = id.trim().strip_prefix("sha256:").unwrap_or(id.trim());
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("`{id}` is not an image id (sha256:64 hex digits)");
    }
    Ok(root.join(hex))
}

/// `NAME=oci-layout://DIR@DIGEST`: what `--build-context` takes. BuildKit
/// matches NAME after the Dockerfile's `FROM ${BASE_IMAGE}` is expanded.
pub fn context_arg(name: &str, layout: &Path, digest: &str) -> String {
    format!("{name}=oci-layout://{}@{digest}", layout.display())
}

/// The digest of a layout's image (its index's first manifest), checked to be there.
pub fn manifest_digest(layout: &Path) -> Result<String> {
    let index = layout.join("index.json");
    let text = std::fs::read_to_string(&index).with_context(|| format!("cannot read {}", index.display()))?;
    let json: Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", index.display()))?;
    let digest = json["manifests"][0]["digest"].as_str().unwrap_or_default();
    let Some(hex) = digest.strip_prefix("sha256:") else {
        bail!("{} names no sha256 manifest", index.display());
    };
    if !layout.join("blobs/sha256").join(hex).is_file() || !layout.join("oci-layout").is_file() {
        bail!("{} is not a whole OCI layout (its manifest blob or oci-layout file is missing)", layout.display());
    }
    Ok(digest.to_string())
}

/// The engine's id of `image`, if it has it.
pub fn image_id(sh: &Shell, image: &str) -> Option<String> {
    let format = "{{.Id}}";
    let id = cmd!(sh, "docker image inspect --format {format} {image}").quiet().ignore_stderr().read().ok()?;
    Some(id.trim().to_string()).filter(|i| !i.is_empty())
}

/// The layout of the engine's `image` and its digest, if it was made already (nothing is made).
pub fn find(sh: &Shell, root: &Path, image: &str) -> Option<(PathBuf, String)> {
    let dir = dir_of(root, &image_id(sh, image)?).ok()?;
    let digest = manifest_digest(&dir).ok()?;
    Some((dir, digest))
}

/// A temp folder beside the layouts, removed however the export ends.
struct Temp(PathBuf);

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The layout of the engine's `image` (made when missing) and its digest.
pub fn ensure(sh: &Shell, root: &Path, image: &str) -> Result<(PathBuf, String)> {
    let id = image_id(sh, image)
        .with_context(|| format!("the engine has no {image}: run `cargo xtask services up base-images`"))?;
    let dir = dir_of(root, &id)?;
    if let Ok(digest) = manifest_digest(&dir) {
        return Ok((dir, digest));
    }
    std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
    let name = dir.file_name().unwrap_or_default().to_string_lossy().to_string();
    let tmp = Temp(root.join(format!(".{name}.{}.tmp", std::process::id())));
    let _ = std::fs::remove_dir_all(&tmp.0);
    let unpacked = tmp.0.join("layout");
    std::fs::create_dir_all(&unpacked)?;
    let archive = tmp.0.join("image.tar");
    cmd!(sh, "docker save --output {archive} {id}")
        .quiet()
        .run()
        .with_context(|| format!("docker save of {image} failed"))?;
    cmd!(sh, "tar -xf {archive} -C {unpacked}").quiet().run().with_context(|| format!("cannot unpack {image}"))?;
    std::fs::remove_file(&archive)?;
    let digest = convert(&unpacked, Some(&id))?;
    match std::fs::rename(&unpacked, &dir) {
        Ok(()) => Ok((dir, digest)),
        // Another run made it meanwhile: theirs is as good.
        Err(_) if manifest_digest(&dir).is_ok() => {
            let theirs = manifest_digest(&dir)?;
            Ok((dir, theirs))
        }
        Err(e) => Err(e).with_context(|| format!("cannot move the layout of {image} to {}", dir.display())),
    }
}

/// Remove every layout but those of `keep` (image ids) and the temp folders
/// of runs that died (a live run's stays); how many went.
pub fn prune(root: &Path, keep: &[String]) -> usize {
    let keep: Vec<PathBuf> = keep.iter().filter_map(|id| dir_of(root, id).ok()).collect();
    let mut removed = 0;
    for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let live = name.strip_suffix(".tmp").and_then(|n| n.rsplit('.').next()).and_then(|p| p.parse::<u32>().ok());
        if live.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists()) || keep.contains(&e.path()) {
            continue;
        }
        if std::fs::remove_dir_all(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Write `bytes` as a blob; its digest.
fn put(blobs: &Path, bytes: &[u8]) -> Result<String> {
    let digest = hex(&Sha256::digest(bytes));
    std::fs::write(blobs.join(&digest), bytes)?;
    Ok(format!("sha256:{digest}"))
}

/// The image manifest over a config blob and uncompressed layers (digest, size).
pub fn manifest(config: (&str, u64), layers: &[(String, u64)]) -> Vec<u8> {
    let layers: Vec<Value> = layers.iter().map(|(d, s)| json!({"mediaType": LAYER, "digest": d, "size": s})).collect();
    let m = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": CONFIG, "digest": config.0, "size": config.1},
        "layers": layers,
    });
    serde_json::to_vec(&m).expect("a JSON value serialises")
}

/// The layout's index: one manifest, with the config's platform.
pub fn index(manifest: (&str, u64), os: &str, architecture: &str) -> Vec<u8> {
    let i = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": MANIFEST,
            "digest": manifest.0,
            "size": manifest.1,
            "platform": {"architecture": architecture, "os": os},
        }],
    });
    serde_json::to_vec(&i).expect("a JSON value serialises")
}

/// Turn an unpacked `docker save` in `dir` into an OCI layout in place; the
/// manifest's digest. An OCI layout (engine >= 25) is taken as it is; a
/// legacy archive's config must be `id` (when given) and each layer its diff_id.
pub fn convert(dir: &Path, id: Option<&str>) -> Result<String> {
    if dir.join("oci-layout").is_file() && dir.join("index.json").is_file() {
        return manifest_digest(dir);
    }
    let text = std::fs::read_to_string(dir.join("manifest.json"))
        .context("the saved image has neither index.json nor manifest.json: is it a docker save archive?")?;
    let entries: Vec<Value> = serde_json::from_str(&text).context("the saved image's manifest.json is not JSON")?;
    let [entry] = entries.as_slice() else { bail!("the saved archive holds {} images, not one", entries.len()) };
    let config_file = dir.join(entry["Config"].as_str().context("manifest.json names no Config")?);
    let config_bytes = std::fs::read(&config_file).with_context(|| format!("cannot read {}", config_file.display()))?;
    let config: Value = serde_json::from_slice(&config_bytes).context("the image config is not JSON")?;
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)?;
    let config_digest = put(&blobs, &config_bytes)?;
    if let Some(id) = id.filter(|i| *i != config_digest) {
        bail!("the saved image's config is {config_digest}, not the image {id}: the image changed while it was saved; run again");
    }
    let diff_ids: Vec<&str> =
        config["rootfs"]["diff_ids"].as_array().into_iter().flatten().filter_map(|d| d.as_str()).collect();
    let files: Vec<&str> = entry["Layers"].as_array().into_iter().flatten().filter_map(|l| l.as_str()).collect();
    if files.len() != diff_ids.len() {
        bail!("the saved image has {} layers but its config {} diff_ids", files.len(), diff_ids.len());
    }
    let mut layers = Vec::new();
    for (file, diff_id) in files.iter().zip(&diff_ids) {
        // A layer saved twice (or a symlink to its first copy): the blob moved and checked already.
        let blob = blobs.join(diff_id.trim_start_matches("sha256:"));
        if blob.is_file() {
            layers.push((diff_id.to_string(), std::fs::metadata(&blob)?.len()));
            continue;
        }
        let path = std::fs::canonicalize(dir.join(file)).with_context(|| format!("the saved image lacks {file}"))?;
        let digest = format!("sha256:{}", sha256_file(&path)?);
        if digest != *diff_id {
            bail!("layer {file} of the saved image is {digest}, but its config says {diff_id}");
        }
        let size = std::fs::metadata(&path)?.len();
        std::fs::rename(&path, &blob)?;
        layers.push((digest, size));
    }
    let manifest_bytes = manifest((&config_digest, config_bytes.len() as u64), &layers);
    let manifest_digest = put(&blobs, &manifest_bytes)?;
    let (os, arch) = (config["os"].as_str().unwrap_or("linux"), config["architecture"].as_str().unwrap_or("amd64"));
    // The legacy files go; what stays is the layout.
    for e in std::fs::read_dir(dir)?.flatten() {
        if e.file_name() != "blobs" {
            let p = e.path();
            let _ = if p.is_dir() && !p.is_symlink() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        }
    }
    std::fs::write(dir.join("index.json"), index((&manifest_digest, manifest_bytes.len() as u64), os, arch))?;
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    Ok(manifest_digest)
}

#[cfg(test)]
#[path = "layout_tests.rs"]
mod tests;
