//! Verifications already done, by what they read: cosign's verdict on an
//! image is a function of the image's digest, the attachments it reads (each
//! a referrer manifest pinned by its digest, so its bundle cannot change
//! under it), the key or identity it checks them against and cosign itself.
//! `cosign tree` lists the attachments in a fraction of a second, where the
//! three checks read every bundle (multi-MB SBOMs) each time: a deploy, a
//! `verify` or a `status` of images verified before with the same
//! attachments reuses the verified provenances; anything changed (an
//! attachment added, replaced or removed, another key, another cosign) is
//! another key, so checked afresh. Only whole successes are kept: a failure
//! is always cosign's own, this run's. The provenance's verdict (which commit
//! an environment takes) is never cached: it runs on the kept provenances.
//!
//! Kept in `<cache>/xtask-verify/` (`XTASK_VERIFY_CACHE`), 0700 and owned by
//! the user (anyone able to write there could make deploy accept an image,
//! so a folder of anyone else is not used), entries written whole, an entry
//! unused for 14 days removed when another is stored.

use crate::services::Dirs;
use crate::supply::statement::Attestation;
use crate::supply::Verifier;
use sha2::{Digest, Sha256};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const KEEP: Duration = Duration::from_secs(14 * 24 * 3600);

pub struct VerifyCache {
    dir: PathBuf,
    /// What every verification of this run shares: cosign, the key or identity.
    salt: String,
}

impl VerifyCache {
    /// None when the folder cannot be made private to this user, or the
    /// verifier's key cannot be read (then nothing is cached).
    pub fn new(dirs: &Dirs, cosign: &Path, verifier: &Verifier, env: &dyn Fn(&str) -> Option<String>) -> Option<Self> {
        let dir = dirs.cache_dir("XTASK_VERIFY_CACHE", "xtask-verify");
        if !private(&dir) {
            return None;
        }
        let tool = std::fs::metadata(cosign).ok()?;
        let modified = tool.modified().ok()?.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_nanos();
        let against = match verifier {
            Verifier::Key(key) => match key.strip_prefix("env://") {
                Some(var) => format!("key {}", env(var)?),
                None => format!("key {}", std::fs::read_to_string(key).ok()?),
            },
            Verifier::Keyless { identity_regexp, issuer } => format!("keyless {identity_regexp} {issuer}"),
        };
        let salt = format!("cosign {} {} {modified}\n{against}\n", cosign.display(), tool.len());
        Some(VerifyCache { dir, salt })
    }

    /// The entry of an image whose attachments `cosign tree` listed so.
    pub fn key(&self, reference: &str, attachments: &str) -> String {
        let digest = Sha256::digest(format!("{}{reference}\n{attachments}", self.salt).as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The provenances verified for `key` (its signature and SBOM verified too).
    pub fn get(&self, key: &str) -> Option<Vec<Attestation>> {
        let file = self.dir.join(key);
        let text = std::fs::read_to_string(&file).ok()?;
        let kept: Vec<serde_json::Value> = serde_json::from_str(&text).ok()?;
        crate::fsutil::touch(&file);
        kept.into_iter()
            .map(|a| {
                Some(Attestation {
                    predicate_type: a["predicateType"].as_str()?.to_string(),
                    subjects: a["subjects"].as_array()?.iter().filter_map(|s| s.as_str().map(String::from)).collect(),
                    predicate: a["predicate"].clone(),
                })
            })
            .collect()
    }

    /// Hold `key` while verifying it: another run verifying the same image
    /// at once (the node suite's tests deploy the same images together)
    /// waits, then finds the entry ([`get`](Self::get)) rather than checking
    /// it again. None when the lock cannot be had in minutes: verify anyway.
    /// The wait is said on stderr: `status --json`'s stdout is its document.
    pub fn hold(&self, key: &str, reference: &str) -> Option<crate::services::process::Lock> {
        let (what, file) = (format!("verifying {reference}"), self.dir.join(format!(".lock-{key}")));
        let say = |line: &str| eprintln!("{line}");
        let held = crate::services::process::lock_saying(&file, Duration::from_secs(600), &what, &say).ok();
        // Used now: the 14-day expiry never removes a lock file while its entry is in use.
        crate::fsutil::touch(&file);
        held
    }

    /// Keep a whole success; a failure to write only costs the next run the checks.
    pub fn put(&self, key: &str, provenances: &[Attestation]) {
        let kept: Vec<serde_json::Value> = provenances
            .iter()
            .map(|a| {
                serde_json::json!({"predicateType": a.predicate_type, "subjects": a.subjects, "predicate": a.predicate})
            })
            .collect();
        let temp = self.dir.join(format!(".tmp-{}-{key}", std::process::id()));
        let written =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp).and_then(|mut f| {
                std::io::Write::write_all(&mut f, serde_json::Value::from(kept).to_string().as_bytes())
            });
        // Written 0600 from the start (fsutil::write_atomic's files take the umask).
        if written.is_ok() && std::fs::rename(&temp, self.dir.join(key)).is_ok() {
            crate::fsutil::forget_unused(&self.dir, KEEP);
        } else {
            let _ = std::fs::remove_file(&temp);
        }
    }
}

/// `dir` exists, is a folder of this user's (not a symlink) and no one else
/// can enter it; made so when missing.
fn private(dir: &Path) -> bool {
    if std::fs::symlink_metadata(dir).is_err() {
        if let Some(parent) = dir.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::DirBuilder::new().mode(0o700).create(dir);
    }
    let Ok(m) = std::fs::symlink_metadata(dir) else { return false };
    m.is_dir() && m.uid() == crate::services::euid() && m.mode() & 0o077 == 0
}

#[cfg(test)]
#[path = "verify_cache_tests.rs"]
mod tests;
