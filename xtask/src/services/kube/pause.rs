//! The real node's sandbox image: the static pause program alone (FROM
//! scratch), packed as an OCI image layout archive (`pause.tar`, for `ctr
//! images import`) with fixed dates, so the same pins give the same image.
//! Written beside it: `pause.name` (the image's name) and `pause.digest`
//! (its manifest's digest), which the node reads.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::path::Path;
use xshell::{cmd, Shell};

/// The image's name (part of the build's key).
pub const IMAGE: &str = "xtask.local/pause:1";
pub const ARCHIVE: &str = "pause.tar";

/// The image's config (one layer, `/pause` its entrypoint).
pub fn config(arch: &str, layer: &str) -> String {
    format!(
        "{{\"architecture\":\"{arch}\",\"os\":\"linux\",\"config\":{{\"Entrypoint\":[\"/pause\"]}},\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"{layer}\"]}}}}"
    )
}

/// The image's manifest: its config and its layer, by digest and size.
pub fn manifest(config: (&str, u64), layer: (&str, u64)) -> String {
    format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"{}\",\"size\":{}}},\"layers\":[{{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"{}\",\"size\":{}}}]}}",
        config.0, config.1, layer.0, layer.1
    )
}

/// The layout's index: the manifest, named as containerd imports it.
pub fn index(manifest: (&str, u64), arch: &str) -> String {
    let tag = IMAGE.rsplit(':').next().unwrap_or("latest");
    format!(
        "{{\"schemaVersion\":2,\"manifests\":[{{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"{}\",\"size\":{},\"annotations\":{{\"io.containerd.image.name\":\"{IMAGE}\",\"org.opencontainers.image.ref.name\":\"{tag}\"}},\"platform\":{{\"architecture\":\"{arch}\",\"os\":\"linux\"}}}}]}}",
        manifest.0, manifest.1
    )
}

pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Pack `<build>/bin/pause` into `<build>/bin/pause.tar` (and its name and
/// digest files); returns the manifest's digest.
pub fn pack(go: &Path, build: &Path) -> Result<String> {
    let sh = Shell::new()?;
    let arch = cmd!(sh, "{go} env GOARCH").quiet().read().context("`go env GOARCH` failed")?;
    let work = build.join("pause-image");
    let (rootfs, blobs) = (work.join("rootfs"), work.join("oci/blobs/sha256"));
    std::fs::create_dir_all(&rootfs)?;
    std::fs::create_dir_all(&blobs)?;
    std::fs::copy(build.join("bin/pause"), rootfs.join("pause"))?;
    cmd!(sh, "chmod 0755 {rootfs}/pause").quiet().run()?;
    let tar_flags = ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner"];
    let layer_tar = work.join("layer.tar");
    cmd!(sh, "tar {tar_flags...} -C {rootfs} -cf {layer_tar} pause").quiet().run()?;
    let blob = |bytes: &[u8]| -> Result<(String, u64)> {
        let d = digest(bytes);
        std::fs::write(blobs.join(d.trim_start_matches("sha256:")), bytes)?;
        Ok((d, bytes.len() as u64))
    };
    let layer = blob(&std::fs::read(&layer_tar)?)?;
    let config = blob(config(arch.trim(), &layer.0).as_bytes())?;
    let manifest = blob(manifest((&config.0, config.1), (&layer.0, layer.1)).as_bytes())?;
    let oci = work.join("oci");
    std::fs::write(oci.join("index.json"), index((&manifest.0, manifest.1), arch.trim()))?;
    std::fs::write(oci.join("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}\n")?;
    let archive = build.join("bin").join(ARCHIVE);
    cmd!(sh, "tar {tar_flags...} -C {oci} -cf {archive} .").quiet().run()?;
    std::fs::write(build.join("bin/pause.name"), format!("{IMAGE}\n"))?;
    std::fs::write(build.join("bin/pause.digest"), format!("{}\n", manifest.0))?;
    std::fs::remove_dir_all(&work)?;
    Ok(manifest.0)
}

#[cfg(test)]
#[path = "pause_tests.rs"]
mod tests;
