//! A full wipe (`services down --purge --caches`): everything `services up`
//! installed or cached beyond what `--purge` removes, the base images and
//! BuildKit's image, the build caches (Go, the control plane's and the
//! collector's builds, BuildKit's layers, the base images' root filesystems),
//! the services' state folders and the record. Each is listed with its size
//! before it goes. Only the folders the xtask owns by default are removed: a
//! folder moved by its variable, a symlink, or one with a mount under it (a
//! node still up) is named and left.

use crate::services::Dirs;
use std::path::{Path, PathBuf};

/// The folders a machine's services keep: (under the cache folder?, name,
/// the variable that moves it, what it holds).
pub const FOLDERS: &[(bool, &str, &str, &str)] = &[
    (true, "xtask-base", "XTASK_BASE_CACHE", "base images' root filesystems and OCI layouts"),
    (true, "xtask-buildx", "XTASK_BUILDX_CACHE", "buildx and BuildKit binaries, the build layer cache"),
    (true, "xtask-kube", "XTASK_KUBE_CACHE", "the control plane's and the node's binaries"),
    (true, "xtask-otelcol", "XTASK_OTELCOL_CACHE", "the collector's build"),
    (true, "xtask-go", "XTASK_GOCACHE", "the Go build and module caches"),
    (true, "xtask-signing", "XTASK_SIGNING_CACHE", "cosign's and syft's builds"),
    (true, "xtask-sbom", "XTASK_SBOM_CACHE", "the SBOMs syft made, by image digest"),
    (true, "xtask-verify", "XTASK_VERIFY_CACHE", "deploy's verifications, by digest and attachments"),
    (false, "xtask-registry", "XTASK_REGISTRY_DIR", "the registry's storage and password"),
    (false, "xtask-kube", "XTASK_KUBE_STATE", "the cluster's etcd, keys, logs and node state"),
    (false, "xtask-buildx", "XTASK_BUILDX_STATE", "the builder's configuration"),
    (false, "xtask-docker", "XTASK_DOCKER_DIR", "the engine's log and pid files"),
    (
        false,
        "xtask-signing",
        "XTASK_SIGNING_STATE",
        "the machine's signing key pair (what it signed no longer verifies)",
    ),
];

/// Images `services up` made (repository, or `repository:tag`).
pub const IMAGES: &[&str] = &["local/python:3.11-bookworm", "local/python-jre:3.11-bookworm", "local/buildkit"];

/// What a path is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Missing,
    Dir,
    /// A symlink or anything but a folder.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub path: PathBuf,
    pub what: &'static str,
    /// Why it stays, when it does.
    pub refused: Option<String>,
}

/// The folders a wipe removes or names (pure over `env`, `probe` and the
/// machine's mount points); missing ones are left out.
pub fn plan(
    dirs: &Dirs,
    env: &dyn Fn(&str) -> Option<String>,
    probe: &dyn Fn(&Path) -> Probe,
    mounts: &[PathBuf],
) -> Vec<Item> {
    let mut out = Vec::new();
    for &(cache, name, var, what) in FOLDERS {
        let default = if cache { dirs.cache.join(name) } else { dirs.state.join(name) };
        let path = env(var).filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or_else(|| default.clone());
        let refused = match probe(&path) {
            Probe::Missing => continue,
            _ if path != default => {
                Some(format!("set by {var}, not the folder the xtask owns ({}): remove it yourself", default.display()))
            }
            Probe::Other => Some("not a folder (a symlink?): remove it yourself".into()),
            Probe::Dir => mounts.iter().find(|m| m.starts_with(&path)).map(|m| {
                format!("{} is mounted under it: `cargo xtask services down` first, or unmount it", m.display())
            }),
        };
        out.push(Item { path, what, refused });
    }
    out
}

/// The mount points in `/proc/self/mountinfo`'s text (field 5, octal escapes undone).
pub fn mount_points(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo.lines().filter_map(|l| l.split(' ').nth(4)).map(|m| PathBuf::from(unescape(m))).collect()
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 4).and_then(|c| u8::from_str_radix(c, 8).ok());
        match code {
            Some(b) => {
                out.push(b as char);
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out + rest
}

/// The images `docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}'`
/// lists that `services up` made: (reference, size).
pub fn images(listing: &str) -> Vec<(String, String)> {
    listing
        .lines()
        .filter_map(|l| l.trim().split_once(' '))
        .filter(|(r, _)| {
            let repo = r.rsplit_once(':').map_or(*r, |(repo, _)| repo);
            IMAGES.iter().any(|i| i == r || *i == repo)
        })
        .map(|(r, s)| (r.to_string(), s.trim().to_string()))
        .collect()
}

/// A folder's size in bytes, symlinks not followed (what removing it frees).
pub fn size(path: &Path) -> u64 {
    walkdir::WalkDir::new(path)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// Bytes as a person reads them (`7.6 GB`, `33.0 MB`).
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    if v < 1000.0 {
        return format!("{bytes} B");
    }
    let mut unit = "B";
    for u in UNITS {
        if v < 1000.0 {
            break;
        }
        v /= 1000.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// The machine's probe of a path (a symlink is not followed).
pub fn probe(path: &Path) -> Probe {
    match std::fs::symlink_metadata(path) {
        Err(_) => Probe::Missing,
        Ok(m) if m.is_dir() => Probe::Dir,
        Ok(_) => Probe::Other,
    }
}

#[cfg(test)]
#[path = "wipe_tests.rs"]
mod tests;
