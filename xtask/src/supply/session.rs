//! One run's private place for cosign and syft: a folder (0700, under the
//! temp folder, removed on drop) holding a Docker config with the
//! registries' logins (`config.json`, 0600: the user's own Docker config and
//! the image stage's are never touched), cosign's offline trust files (no
//! transparency log, no timestamp authority: a key pair here) and its TUF
//! cache. Every secret reaches the tools through that file or stdin, never
//! argv; every output shown goes through [`Session::scrub`].

use crate::error::UsageError;
use crate::images::registry::Target;
use crate::supply::{Signer, Verifier};
use anyhow::{Context, Result};
use base64::Engine;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use xshell::{cmd, Cmd, Shell};

/// cosign's signing config with no transparency log and no timestamp authority.
const SIGNING_CONFIG: &str =
    r#"{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json","rekorTlogConfig":{},"tsaConfig":{}}"#;
/// An empty trusted root: trust comes from the public key alone.
const TRUSTED_ROOT: &str = r#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#;

pub struct Tools {
    pub cosign: PathBuf,
    pub syft: PathBuf,
}

impl Tools {
    /// `XTASK_COSIGN`/`XTASK_SYFT` (`services up signing`), else on PATH.
    pub fn find() -> Result<Tools> {
        let find = |var: &str, name: &str| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| which::which(name).ok())
                .ok_or_else(|| {
                    UsageError::new(format!(
                        "{name} is not built: run `cargo xtask services up signing` (it builds cosign and syft from their Go modules)"
                    ))
                })
        };
        Ok(Tools {
            cosign: find(crate::services::signing::COSIGN_VAR, "cosign")?,
            syft: find(crate::services::signing::SYFT_VAR, "syft")?,
        })
    }
}

pub struct Session {
    pub dir: PathBuf,
    pub tools: Tools,
    /// Strings never shown: registry passwords, the key's password.
    secrets: Vec<String>,
}

impl Session {
    /// A fresh private folder logged in to every target with credentials.
    pub fn new(tools: Tools, targets: &[Target]) -> Result<Session> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("xtask-supply.{}.{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let mut session = Session { dir, tools, secrets: Vec::new() };
        let mut auths = serde_json::Map::new();
        for t in targets {
            let Some(c) = &t.credentials else { continue };
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.user, c.password));
            auths.insert(t.host.clone(), serde_json::json!({ "auth": token }));
            session.secrets.push(c.password.clone());
            session.secrets.push(token);
        }
        let config = serde_json::json!({ "auths": auths }).to_string();
        session.private_file("config.json", config.as_bytes())?;
        std::fs::write(session.dir.join("signing-config.json"), SIGNING_CONFIG)?;
        std::fs::write(session.dir.join("trusted-root.json"), TRUSTED_ROOT)?;
        Ok(session)
    }

    fn private_file(&self, name: &str, bytes: &[u8]) -> Result<PathBuf> {
        use std::io::Write;
        let path = self.dir.join(name);
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
        f.write_all(bytes)?;
        Ok(path)
    }

    /// A command of `program` with the session's environment (its Docker
    /// config, its TUF cache, no update checks, no inherited cosign password).
    pub fn cmd<'a>(&self, sh: &'a Shell, program: &Path, args: &[String]) -> Cmd<'a> {
        cmd!(sh, "{program} {args...}")
            .env("DOCKER_CONFIG", &self.dir)
            .env("TUF_ROOT", self.dir.join("tuf"))
            .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
            .quiet()
            .ignore_status()
    }

    /// cosign's flags for signing with `signer` (offline with a key).
    pub fn sign_flags(&self, signer: &Signer) -> Vec<String> {
        let mut out = vec!["--yes".to_string()];
        if let Signer::Key { key, .. } = signer {
            out.extend(["--key".into(), key.clone()]);
            out.extend(["--signing-config".into(), self.dir.join("signing-config.json").display().to_string()]);
            out.extend(["--trusted-root".into(), self.dir.join("trusted-root.json").display().to_string()]);
        }
        out
    }

    /// cosign's flags for verifying with `verifier`.
    pub fn verify_flags(&self, verifier: &Verifier) -> Vec<String> {
        match verifier {
            Verifier::Key(key) => vec![
                "--key".into(),
                key.clone(),
                "--insecure-ignore-tlog".into(),
                "--trusted-root".into(),
                self.dir.join("trusted-root.json").display().to_string(),
            ],
            Verifier::Keyless { identity_regexp, issuer } => vec![
                "--certificate-identity-regexp".into(),
                identity_regexp.clone(),
                "--certificate-oidc-issuer".into(),
                issuer.clone(),
            ],
        }
    }

    /// Run cosign to sign (`args` include the reference): the key's
    /// password on stdin when it lives in a file, never in argv.
    pub fn cosign_signing(&mut self, sh: &Shell, signer: &Signer, args: &[String]) -> Result<Output> {
        let c = self.cmd(sh, &self.tools.cosign.clone(), args);
        let out = match signer {
            Signer::Key { password_file: Some(file), .. } => {
                let pw = std::fs::read_to_string(file).map_err(|e| {
                    UsageError::new(format!(
                        "cannot read the signing key's password file {} ({e}): run `cargo xtask services up signing`",
                        file.display()
                    ))
                })?;
                if !self.secrets.contains(&pw) {
                    self.secrets.push(pw.clone());
                }
                c.env_remove("COSIGN_PASSWORD").stdin(pw.as_bytes()).output()?
            }
            _ => {
                if let Ok(pw) = std::env::var("COSIGN_PASSWORD") {
                    if !pw.is_empty() {
                        self.secrets.push(pw);
                    }
                }
                c.stdin("").output()?
            }
        };
        Ok(out)
    }

    /// `text` with every secret of the session replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in self.secrets.iter().filter(|s| !s.is_empty()) {
            out = out.replace(s.as_str(), "***");
        }
        out
    }

    /// The last meaningful line of a tool's error output, scrubbed.
    pub fn why(&self, out: &Output) -> String {
        let text = self.scrub(&String::from_utf8_lossy(&out.stderr));
        let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        // cosign says it first, as `Error: …`; syft as an ERROR line; else the last word.
        let line = lines
            .iter()
            .find(|l| l.starts_with("Error:"))
            .or_else(|| lines.iter().find(|l| l.contains("ERROR")))
            .or_else(|| lines.iter().rfind(|l| !l.starts_with("WARNING")))
            .copied()
            .unwrap_or("no output");
        let line = strip_ansi(line);
        let line = line.trim_start_matches("Error: ");
        // One line: a long chain of causes is cut.
        line.chars().take(300).collect()
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
