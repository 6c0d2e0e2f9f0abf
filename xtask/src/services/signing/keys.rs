//! The machine's signing key pair, made once by `services up signing` in
//! `<state>/xtask-signing` (0700): cosign's encrypted private key
//! `cosign.key` (0600), the public key `cosign.pub`, and the private key's
//! password in `password` (0600). The password reaches cosign on its stdin
//! only (cosign reads a piped password whole), never argv, never output; the
//! pair is made in a temporary folder renamed into place, so an interrupted
//! `up` leaves a whole pair or none.

use crate::services::Ctx;
use anyhow::{bail, Context, Result};
use base64::Engine;
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use xshell::{cmd, Shell};

/// What later commands read: the private key, its password's file, the public key.
pub const KEY_VAR: &str = "XTASK_SIGNING_KEY";
pub const PASSWORD_VAR: &str = "XTASK_SIGNING_PASSWORD_FILE";
pub const PUBLIC_VAR: &str = "XTASK_SIGNING_PUBLIC_KEY";

pub struct Pair {
    pub dir: PathBuf,
}

impl Pair {
    /// `<state>/xtask-signing`, or `XTASK_SIGNING_STATE`.
    pub fn at(cx: &Ctx) -> Pair {
        Pair { dir: cx.dirs.state_dir("XTASK_SIGNING_STATE", "xtask-signing") }
    }

    pub fn key(&self) -> PathBuf {
        self.dir.join("cosign.key")
    }
    pub fn public(&self) -> PathBuf {
        self.dir.join("cosign.pub")
    }
    pub fn password(&self) -> PathBuf {
        self.dir.join("password")
    }

    pub fn complete(&self) -> bool {
        [self.key(), self.public(), self.password()].iter().all(|p| p.is_file())
    }

    pub fn env(&self) -> BTreeMap<String, String> {
        [
            (KEY_VAR.to_string(), self.key().display().to_string()),
            (PASSWORD_VAR.to_string(), self.password().display().to_string()),
            (PUBLIC_VAR.to_string(), self.public().display().to_string()),
        ]
        .into()
    }

    /// 16 hex digits of the public key's sha256: which pair signed, in lines and identities.
    pub fn fingerprint(&self) -> Result<String> {
        let text = std::fs::read(self.public()).with_context(|| format!("cannot read {}", self.public().display()))?;
        Ok(crate::services::short_sum(&text))
    }
}

/// 32 letters and digits from the kernel's random source.
fn new_password() -> Result<String> {
    let mut bytes = [0u8; 64];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    Ok(text.chars().filter(char::is_ascii_alphanumeric).take(32).collect())
}

/// The pair, made with `cosign generate-key-pair` when there is none. Half a
/// pair (a file lost by hand) is refused: a new pair would silently orphan
/// every signature the old one made.
pub fn ensure(cx: &Ctx, cosign: &Path) -> Result<Pair> {
    let pair = Pair::at(cx);
    if pair.complete() {
        return Ok(pair);
    }
    if pair.dir.exists() && std::fs::read_dir(&pair.dir)?.next().is_some() {
        bail!(
            "{} holds part of a key pair (cosign.key, cosign.pub and password are all needed): restore the missing file, or remove the folder to make a new pair (images signed with the old one then fail verification until re-signed)",
            pair.dir.display()
        );
    }
    let parent = pair.dir.parent().context("the key folder has a parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let tmp = parent.join(format!(".xtask-signing-tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::DirBuilder::new().mode(0o700).create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let made = (|| {
        let password = new_password()?;
        let sh = Shell::new()?;
        sh.change_dir(&tmp);
        let out = cmd!(sh, "{cosign} generate-key-pair")
            .env_remove("COSIGN_PASSWORD")
            .stdin(password.as_bytes())
            .quiet()
            .ignore_status()
            .output()?;
        if !out.status.success() {
            let text = String::from_utf8_lossy(&out.stderr).replace(&password, "***");
            bail!("cosign generate-key-pair failed: {}", text.lines().rfind(|l| !l.trim().is_empty()).unwrap_or(""));
        }
        let file = tmp.join("password");
        std::fs::write(&file, password.as_bytes())?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
        std::fs::set_permissions(tmp.join("cosign.key"), std::fs::Permissions::from_mode(0o600))?;
        let _ = std::fs::remove_dir(&pair.dir);
        std::fs::rename(&tmp, &pair.dir)
            .with_context(|| format!("cannot move the key pair into {}", pair.dir.display()))
    })();
    if made.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    made?;
    cx.say("signing", &format!("made a key pair in {} (public key {})", pair.dir.display(), pair.fingerprint()?));
    Ok(pair)
}
