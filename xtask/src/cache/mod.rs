//! The task cache's store: one file per recorded success under
//! `target/xtask/cache/entries/<key>`, holding the task's inputs (for
//! `cache why`), its duration, its log and its result file (JUnit). Entries
//! are written to a temp file and renamed into place, so another run never
//! sees half an entry and a crash leaves only a temp file (swept later); a
//! damaged entry fails its checksum and is treated as absent, then rewritten.

pub mod key;

use crate::fsutil::write_atomic;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Bump when the entry format or the key's recipe changes.
pub const FORMAT: &str = "xtask-cache-1";

/// What a success is recorded with; the log and result file follow it in the entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    pub task: String,
    pub key: String,
    pub seconds: f64,
    /// Where the command's own output starts in the log (after environment setup).
    pub output_start: u64,
    /// Seconds since the epoch when the success was recorded.
    pub created: u64,
    /// Every input by name (`file:…`, `env:…`, `tool:…`, `command`, …) and its hash.
    pub inputs: Vec<(String, String)>,
    log_len: u64,
    artifact_len: Option<u64>,
    checksum: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub meta: Meta,
    pub log: Vec<u8>,
    pub artifact: Option<Vec<u8>>,
}

impl Entry {
    pub fn new(task: &str, key: &str, inputs: Vec<(String, String)>, seconds: f64, output_start: u64) -> Entry {
        let created = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let meta = Meta {
            task: task.to_string(),
            key: key.to_string(),
            seconds,
            output_start,
            created,
            inputs,
            log_len: 0,
            artifact_len: None,
            checksum: String::new(),
        };
        Entry { meta, log: Vec::new(), artifact: None }
    }

    /// The entry as stored: a format line, the metadata as one JSON line, then the log and result bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut meta = self.meta.clone();
        meta.log_len = self.log.len() as u64;
        meta.artifact_len = self.artifact.as_ref().map(|a| a.len() as u64);
        meta.checksum = checksum(&self.log, self.artifact.as_deref());
        let mut out =
            format!("{FORMAT}\n{}\n", serde_json::to_string(&meta).expect("metadata serialises")).into_bytes();
        out.extend_from_slice(&self.log);
        out.extend_from_slice(self.artifact.as_deref().unwrap_or_default());
        out
    }

    /// A stored entry, or None when it is of another format, truncated or damaged.
    pub fn decode(bytes: &[u8]) -> Option<Entry> {
        let rest = bytes.strip_prefix(format!("{FORMAT}\n").as_bytes())?;
        let end = rest.iter().position(|&b| b == b'\n')?;
        let meta: Meta = serde_json::from_slice(&rest[..end]).ok()?;
        let payload = &rest[end + 1..];
        let log_len = usize::try_from(meta.log_len).ok()?;
        let art_len = usize::try_from(meta.artifact_len.unwrap_or(0)).ok()?;
        if payload.len() != log_len.checked_add(art_len)? {
            return None;
        }
        let (log, art) = payload.split_at(log_len);
        let artifact = meta.artifact_len.map(|_| art.to_vec());
        if checksum(log, artifact.as_deref()) != meta.checksum {
            return None;
        }
        Some(Entry { meta, log: log.to_vec(), artifact })
    }
}

fn checksum(log: &[u8], artifact: Option<&[u8]>) -> String {
    let mut h = blake3::Hasher::new();
    h.update(&(log.len() as u64).to_le_bytes());
    h.update(log);
    if let Some(a) = artifact {
        h.update(a);
    }
    h.finalize().to_hex().to_string()
}

/// How big and how old the cache may grow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub max_bytes: u64,
    pub max_age: Duration,
}

impl Limits {
    /// `XTASK_CACHE_MAX_MB` (default 512) and `XTASK_CACHE_MAX_DAYS` (default 14).
    pub fn from_env() -> Limits {
        let num = |var: &str, default: u64| std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
        Limits {
            max_bytes: num("XTASK_CACHE_MAX_MB", 512) * 1024 * 1024,
            max_age: Duration::from_secs(num("XTASK_CACHE_MAX_DAYS", 14) * 86_400),
        }
    }
}

/// Which entries to remove: those older than the age limit, then the least
/// recently used (a hit refreshes an entry's mtime) until the rest fit the size limit.
pub fn evictions(entries: &[(String, SystemTime, u64)], now: SystemTime, limits: Limits) -> Vec<String> {
    let mut by_age: Vec<&(String, SystemTime, u64)> = entries.iter().collect();
    by_age.sort_by_key(|(name, mtime, _)| (*mtime, name.clone()));
    let mut total: u64 = entries.iter().map(|e| e.2).sum();
    let mut out = Vec::new();
    for (name, mtime, size) in by_age {
        let too_old = now.duration_since(*mtime).is_ok_and(|age| age > limits.max_age);
        if too_old || total > limits.max_bytes {
            out.push(name.clone());
            total -= size;
        }
    }
    out
}

/// The cache folder of a repo: `target/xtask/cache/`.
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(root: &Path) -> Store {
        Store { dir: root.join("target/xtask/cache") }
    }

    fn entry_path(&self, key: &str) -> PathBuf {
        self.dir.join("entries").join(key)
    }

    fn last_path(&self, task: &str) -> PathBuf {
        self.dir.join("last").join(task.replace([':', '/'], "-"))
    }

    /// The recorded success under `key`, if whole. A hit refreshes its mtime (least recently used goes first).
    pub fn get(&self, key: &str) -> Option<Entry> {
        let path = self.entry_path(key);
        let entry = Entry::decode(&std::fs::read(&path).ok()?).filter(|e| e.meta.key == key)?;
        if let Ok(f) = std::fs::File::options().append(true).open(&path) {
            let _ = f.set_modified(SystemTime::now());
        }
        Some(entry)
    }

    /// Record a success, and remember it as the task's latest (for `cache why`).
    pub fn put(&self, entry: &Entry) -> Result<()> {
        write_atomic(&self.entry_path(&entry.meta.key), &entry.encode())?;
        write_atomic(&self.last_path(&entry.meta.task), entry.meta.key.as_bytes())
    }

    /// The key of the task's latest recorded success.
    pub fn last(&self, task: &str) -> Option<String> {
        std::fs::read_to_string(self.last_path(task)).ok().map(|k| k.trim().to_string()).filter(|k| !k.is_empty())
    }

    /// Remove what the limits say, and temp files a crashed run left (older than an hour).
    pub fn evict(&self, limits: Limits) -> Result<usize> {
        let dir = self.dir.join("entries");
        let Ok(read) = std::fs::read_dir(&dir) else { return Ok(0) };
        let now = SystemTime::now();
        let mut entries = Vec::new();
        for e in read.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            let name = e.file_name().to_string_lossy().into_owned();
            let mtime = meta.modified().unwrap_or(now);
            if name.starts_with('.') {
                if now.duration_since(mtime).is_ok_and(|age| age > Duration::from_secs(3600)) {
                    let _ = std::fs::remove_file(e.path());
                }
                continue;
            }
            entries.push((name, mtime, meta.len()));
        }
        let gone = evictions(&entries, now, limits);
        for name in &gone {
            // Another run may have removed it first: that is fine.
            let _ = std::fs::remove_file(dir.join(name));
        }
        Ok(gone.len())
    }

    /// Remove the whole cache: renamed aside first, so no run sees it half deleted.
    pub fn clean(&self) -> Result<bool> {
        if !self.dir.exists() {
            return Ok(false);
        }
        let aside = self.dir.with_file_name(format!(".cache.removing.{}", std::process::id()));
        std::fs::rename(&self.dir, &aside).with_context(|| format!("cannot move {} aside", self.dir.display()))?;
        std::fs::remove_dir_all(&aside).with_context(|| format!("cannot remove {}", aside.display()))?;
        Ok(true)
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
