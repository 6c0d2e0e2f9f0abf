//! Cluster credentials as the spec hands them over: `KUBECONFIG` as a path,
//! or the base64 secret (`KUBECONFIG_B64`, or a `KUBECONFIG` whose value is
//! base64). A decoded kubeconfig goes to a 0600 temp file that is removed
//! when the handle drops — on success, on error and after Ctrl-C alike,
//! since every path out of `main` returns through it. Its contents never go
//! on argv or into output; on GitHub its secrets are masked first.

use crate::error::UsageError;
use anyhow::{Context, Result};
use base64::Engine;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Where the kubeconfig comes from, decided from the environment alone.
#[derive(Debug, PartialEq, Eq)]
pub enum Source {
    Path(PathBuf),
    /// Base64 text, and the variable it came from.
    Encoded(String, &'static str),
    /// Nothing given: kubectl's default (`~/.kube/config`) if it exists.
    Default,
}

/// `--kubeconfig` wins, then `KUBECONFIG_B64`, then `KUBECONFIG` (a path when
/// such a file exists or it looks like one, else base64).
pub fn source(
    flag: Option<&Path>,
    kubeconfig: Option<&str>,
    b64: Option<&str>,
    exists: impl Fn(&Path) -> bool,
) -> Source {
    if let Some(p) = flag {
        return Source::Path(p.to_path_buf());
    }
    if let Some(text) = b64.filter(|t| !t.trim().is_empty()) {
        return Source::Encoded(text.to_string(), "KUBECONFIG_B64");
    }
    match kubeconfig.filter(|t| !t.trim().is_empty()) {
        Some(v) if exists(Path::new(v)) => Source::Path(PathBuf::from(v)),
        // Base64 may hold `/`, so a value counts as encoded when it decodes to a kubeconfig.
        Some(v) if decode(v, "KUBECONFIG").is_ok() => Source::Encoded(v.to_string(), "KUBECONFIG"),
        Some(v) if v.contains('/') || v.contains(':') => Source::Path(PathBuf::from(v)),
        Some(v) => Source::Encoded(v.to_string(), "KUBECONFIG"),
        None => Source::Default,
    }
}

/// Decode a base64 kubeconfig (line breaks allowed) and check it is one.
pub fn decode(text: &str, var: &str) -> Result<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD.decode(compact).map_err(|e| {
        UsageError::new(format!(
            "{var} is neither an existing file nor valid base64 ({e}): set it to a kubeconfig path or to `base64 -w0 kubeconfig`"
        ))
    })?;
    let looks_right = std::str::from_utf8(&bytes).is_ok_and(|s| s.contains("clusters") || s.contains("apiVersion"));
    if !looks_right {
        return Err(UsageError::new(format!(
            "{var} decodes to something that is not a kubeconfig: encode the kubeconfig file itself"
        )));
    }
    Ok(bytes)
}

/// The values in a kubeconfig that must never be shown (tokens, keys, passwords).
fn secrets_in(kubeconfig: &str) -> Vec<String> {
    const KEYS: [&str; 8] = [
        "token:",
        "client-key-data:",
        "password:",
        "client-certificate-data:",
        "id-token:",
        "refresh-token:",
        "client-secret:",
        "access-token:",
    ];
    kubeconfig
        .lines()
        .filter_map(|l| {
            let l = l.trim().trim_start_matches("- ");
            let key = KEYS.iter().find(|k| l.starts_with(**k))?;
            let v = l[key.len()..].trim().trim_matches(['"', '\'']);
            (!v.is_empty()).then(|| v.to_string())
        })
        .collect()
}

/// Why the run uses this kubeconfig, as the `cluster:` line says it: the
/// flag, the variable and whether the services record filled it in, or kubectl's default.
pub fn why(flag: bool, src: &Source, env: &dyn Fn(&str) -> Option<String>) -> String {
    match src {
        _ if flag => "--kubeconfig".into(),
        Source::Encoded(_, var) => format!("{var} (base64) from the environment"),
        Source::Path(_) => crate::services::state::origin("KUBECONFIG", env).unwrap_or_else(|| "KUBECONFIG".into()),
        Source::Default => "kubectl's default: neither --kubeconfig nor KUBECONFIG is set".into(),
    }
}

/// A kubeconfig ready for kubectl's `--kubeconfig`; a decoded one is removed on drop.
pub struct Kubeconfig {
    pub path: PathBuf,
    temporary: bool,
    /// Why this one (`why`).
    pub why: String,
}

impl Kubeconfig {
    /// Decoded from the environment into a temporary file (its path means nothing to the user).
    pub fn temporary(&self) -> bool {
        self.temporary
    }
}

impl Drop for Kubeconfig {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The credentials for this run, or a usage error naming how to give them.
pub fn resolve(flag: Option<&Path>, github: bool) -> Result<Kubeconfig> {
    let env = |k: &str| std::env::var(k).ok();
    let src = source(flag, env("KUBECONFIG").as_deref(), env("KUBECONFIG_B64").as_deref(), |p| p.exists());
    let why = why(flag.is_some(), &src, &env);
    match src {
        Source::Path(p) if p.is_file() => Ok(Kubeconfig { path: p, temporary: false, why }),
        // kubectl's --kubeconfig takes one file, and the session passes it that way.
        Source::Path(p) if p.to_string_lossy().contains(':') => Err(UsageError::new(format!(
            "KUBECONFIG lists several files ({}): point it at the one kubeconfig to deploy with, or pass --kubeconfig",
            p.display()
        ))),
        Source::Path(p) => Err(UsageError::new(format!(
            "kubeconfig {} does not exist: point KUBECONFIG (or --kubeconfig) at a kubeconfig file",
            p.display()
        ))),
        Source::Encoded(text, var) => {
            if github {
                // Masked before anything else is printed, decoded or not.
                crate::github::mask(&text);
            }
            let bytes = decode(&text, var)?;
            if github {
                for s in secrets_in(&String::from_utf8_lossy(&bytes)) {
                    crate::github::mask(&s);
                }
            }
            write_private(&bytes, why)
        }
        Source::Default => {
            let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
            let default = home.join(".kube/config");
            if default.is_file() {
                Ok(Kubeconfig { path: default, temporary: false, why })
            } else {
                Err(UsageError::new(
                    "no cluster credentials: set KUBECONFIG to a kubeconfig path, or KUBECONFIG_B64 to its base64 (locally: cargo xtask services up kube records one)",
                ))
            }
        }
    }
}

/// Write a decoded kubeconfig readable by its owner only.
fn write_private(bytes: &[u8], why: String) -> Result<Kubeconfig> {
    let dir = std::env::temp_dir();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let path = dir.join(format!("xtask-kubeconfig-{}-{nanos}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create a private kubeconfig in {}", dir.display()))?;
    let handle = Kubeconfig { path, temporary: true, why };
    f.write_all(bytes).and_then(|_| f.sync_all()).context("cannot write the decoded kubeconfig")?;
    Ok(handle)
}

#[cfg(test)]
#[path = "credentials_tests.rs"]
mod tests;
