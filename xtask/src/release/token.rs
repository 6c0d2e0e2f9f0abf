//! The storage token every environment needs (Secret `storage-token`, key
//! `token`: storage and cdc refuse to start without it). A deploy makes sure
//! it exists: from CI's secret when one is given (`XTASK_STORAGE_TOKEN`, or a
//! file named by `XTASK_STORAGE_TOKEN_FILE`), otherwise generated once from
//! the kernel's CSPRNG (`/dev/urandom`) on the first deploy and never
//! overwritten. The token goes to kubectl on stdin only; it is never printed
//! (masked on GitHub) and carries no managed-by label, so pruning leaves it.

use crate::error::UsageError;
use crate::kube::cluster::Session;
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::io::Read;

const SECRET: &str = "storage-token";
pub const KEY: &str = "token";
pub const VAR: &str = "XTASK_STORAGE_TOKEN";
const FILE_VAR: &str = "XTASK_STORAGE_TOKEN_FILE";

/// The token CI gives, and where it came from (a variable's name, never the value).
pub fn given(value: Option<String>, file: Option<String>) -> Result<Option<(String, String)>> {
    if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
        return Ok(Some((v.trim().to_string(), VAR.to_string())));
    }
    let Some(path) = file.filter(|f| !f.trim().is_empty()) else { return Ok(None) };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| UsageError::new(format!("cannot read {FILE_VAR} ({path}): {e}: point it at the token's file")))?;
    let token = text.trim().to_string();
    if token.is_empty() {
        return Err(UsageError::new(format!("{FILE_VAR} ({path}) is empty: write the storage token in it")));
    }
    Ok(Some((token, format!("{FILE_VAR} ({path})"))))
}

/// The Secret as JSON for `kubectl apply -f -` / `create -f -`.
pub fn secret(namespace: &str, token: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": SECRET,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "mlops-platform"}
        },
        "type": "Opaque",
        "stringData": {KEY: token}
    })
}

/// Bytes as lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 32 bytes from the kernel's CSPRNG, as 64 hex characters.
fn generate() -> Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read /dev/urandom to generate the storage token: give one in XTASK_STORAGE_TOKEN")?;
    Ok(hex(&bytes))
}

/// Make sure the namespace has the token Secret; a line saying what happened (no value).
pub fn ensure(s: &Session) -> Result<()> {
    let ns = s.namespace.clone();
    match given(std::env::var(VAR).ok(), std::env::var(FILE_VAR).ok())? {
        Some((token, from)) => {
            mask(&token);
            s.apply(None, Some(&secret(&ns, &token).to_string()), false)
                .context("cannot apply the storage token Secret: check that the credentials may patch secrets")?;
            println!("storage token: Secret {SECRET} set from {from}");
        }
        None => {
            let existing = s.get_one("secret", SECRET)?;
            if existing.as_ref().is_some_and(|e| e["data"][KEY].is_string()) {
                println!("storage token: Secret {SECRET} exists (kept; give {VAR} to set it)");
                return Ok(());
            }
            if existing.is_some() {
                anyhow::bail!("Secret {SECRET} in {ns} has no key `{KEY}`: delete it or give {VAR}, and deploy again");
            }
            let token = generate()?;
            mask(&token);
            s.create(&secret(&ns, &token)).context("cannot create the storage token Secret")?;
            println!("storage token: Secret {SECRET} generated (first deploy; it is never overwritten)");
        }
    }
    Ok(())
}

fn mask(token: &str) {
    crate::github::mask(token);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_token_wins_and_names_its_source_not_its_value() {
        let (t, from) = given(Some(" s3cret\n".into()), Some("/nowhere".into())).unwrap().unwrap();
        assert_eq!((t.as_str(), from.as_str()), ("s3cret", VAR));
        assert!(given(None, None).unwrap().is_none());
        assert!(given(Some("  ".into()), None).unwrap().is_none());
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "abc\n").unwrap();
        let (t, from) = given(None, Some(f.display().to_string())).unwrap().unwrap();
        assert_eq!(t, "abc");
        assert!(from.starts_with(FILE_VAR) && !from.contains("abc\n"));
        std::fs::write(&f, "\n").unwrap();
        assert!(given(None, Some(f.display().to_string())).unwrap_err().to_string().contains("is empty"));
        assert!(given(None, Some("/nowhere/x".into())).unwrap_err().to_string().contains("cannot read"));
    }

    #[test]
    fn the_secret_has_the_token_and_no_managed_by_label() {
        let s = secret("mlops-dev", "t0k");
        assert_eq!(s["stringData"]["token"], "t0k");
        assert_eq!(s["metadata"]["namespace"], "mlops-dev");
        assert!(s["metadata"]["labels"]["app.kubernetes.io/managed-by"].is_null());
    }

    #[test]
    fn generated_tokens_are_long_hex_and_differ() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
        let (a, b) = (generate().unwrap(), generate().unwrap());
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
