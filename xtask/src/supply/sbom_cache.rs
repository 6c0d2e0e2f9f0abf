//! SBOMs by image digest: an image's content is its digest, so its SBOM
//! (same syft, same settings) is made once on a machine, whatever repository
//! or tag pushes that digest again (a release retagging main's images, a
//! mirror, the tests' copies). Kept under `<cache>/xtask-sbom/<key>/` (the
//! key: syft's version and settings), written whole (a temporary file
//! renamed), only by the user whose cache it is (root's is 0755); an entry
//! unused for [`KEEP_DAYS`] days is removed when another is stored.

use crate::services::{short_sum, Dirs};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long an unused SBOM is kept.
pub const KEEP_DAYS: u64 = 14;

/// The cache of one syft version and settings.
pub struct SbomCache {
    dir: PathBuf,
}

impl SbomCache {
    /// Under `<cache>/xtask-sbom` (`XTASK_SBOM_CACHE`); None when syft's version is unknown
    /// (an SBOM of another syft must not pass for this one's).
    pub fn new(dirs: &Dirs, syft_version: &str, settings: &str) -> Option<SbomCache> {
        if syft_version.is_empty() || syft_version == "unknown" {
            return None;
        }
        let key = short_sum(format!("syft {syft_version}\n{settings}").as_bytes());
        Some(SbomCache { dir: dirs.cache_dir("XTASK_SBOM_CACHE", "xtask-sbom").join(key) })
    }

    /// The file of `digest` (`sha256:<hex>`); None for anything that is not one.
    fn file(&self, digest: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:")?;
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| self.dir.join(format!("{hex}.spdx.json")))
    }

    /// Copy `digest`'s SBOM to `to`; whether there was one.
    pub fn get(&self, digest: &str, to: &Path) -> bool {
        let Some(file) = self.file(digest) else { return false };
        if std::fs::copy(&file, to).is_err() {
            return false;
        }
        // Used: kept as long as it is.
        crate::fsutil::touch(&file);
        true
    }

    /// Keep `sbom` as `digest`'s; a failure only costs the next push a scan.
    pub fn put(&self, digest: &str, sbom: &Path) {
        let Some(file) = self.file(digest) else { return };
        let Ok(bytes) = std::fs::read(sbom) else { return };
        if crate::fsutil::write_atomic(&file, &bytes).is_ok() {
            crate::fsutil::forget_unused(&self.dir, Duration::from_secs(KEEP_DAYS * 24 * 3600));
        }
    }
}

#[cfg(test)]
#[path = "sbom_cache_tests.rs"]
mod tests;
