//! The supply chain: every image the image stage pushes gets an SBOM (syft,
//! SPDX JSON, from the pushed image) and an SLSA v1 provenance statement,
//! both attached as signed attestations, and its digest signed (cosign);
//! deploy verifies all three before anything is applied.
//!
//! - `session`: a run's private Docker config (the registries' logins) and
//!   cosign's offline trust files, removed when the run ends; the tools.
//! - `statement`: the provenance predicate, and reading verified attestations (pure).
//! - `attest`: the image stage's part (SBOM, provenance, signature).
//! - `verify`: deploy's part (signature, provenance's commit, SBOM), one line per failure.
//! - `verify_cache`: cosign's checks kept by digest and attachments (`cosign tree`).
//! - `sbom`: `image sbom COMPONENT`, a summary of the attached SBOM.
//! - `sbom_cache`: SBOMs by digest, made once per machine.
//!
//! Who signs ([`Signer::decide`]): a `COSIGN_PRIVATE_KEY` secret, else on
//! GitHub the workflow's OIDC token (keyless), else the machine's key pair
//! (`services up signing`). Who verifies mirrors it ([`Verifier::decide`]).

pub mod attest;
pub mod sbom;
pub mod sbom_cache;
pub mod session;
pub mod statement;
pub mod verify;
pub mod verify_cache;

use std::path::PathBuf;

/// How the image stage signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// A private key: a file (its password in a 0600 file) or `env://COSIGN_PRIVATE_KEY`
    /// (its password in `COSIGN_PASSWORD`, a secret of the step).
    Key { key: String, password_file: Option<PathBuf> },
    /// Sigstore's keyless signing with the workflow's OIDC token (GitHub, `id-token: write`).
    Keyless,
}

/// How deploy verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verifier {
    /// A public key: a file or `env://COSIGN_PUBLIC_KEY`.
    Key(String),
    /// Keyless: the certificate must name this repository's workflows, issued to GitHub's OIDC.
    Keyless { identity_regexp: String, issuer: String },
}

pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn var(env: &dyn Fn(&str) -> Option<String>, k: &str) -> Option<String> {
    env(k).filter(|v| !v.is_empty())
}

impl Signer {
    /// None: nothing to sign with (the stage says how to get a key).
    pub fn decide(env: &dyn Fn(&str) -> Option<String>, github: bool) -> Option<Signer> {
        if var(env, "COSIGN_PRIVATE_KEY").is_some() {
            return Some(Signer::Key { key: "env://COSIGN_PRIVATE_KEY".into(), password_file: None });
        }
        if github && var(env, "ACTIONS_ID_TOKEN_REQUEST_URL").is_some() {
            return Some(Signer::Keyless);
        }
        let key = var(env, crate::services::signing::keys::KEY_VAR)?;
        let password_file = var(env, crate::services::signing::keys::PASSWORD_VAR).map(PathBuf::from);
        Some(Signer::Key { key, password_file })
    }

    pub fn describe(&self) -> String {
        match self {
            Signer::Key { key, .. } => format!("key {key}"),
            Signer::Keyless => "keyless (the workflow's OIDC token)".into(),
        }
    }
}

impl Verifier {
    pub fn decide(env: &dyn Fn(&str) -> Option<String>, github: bool) -> Option<Verifier> {
        if var(env, "COSIGN_PUBLIC_KEY").is_some() {
            return Some(Verifier::Key("env://COSIGN_PUBLIC_KEY".into()));
        }
        if github {
            let repo = var(env, "GITHUB_REPOSITORY")?;
            let server = var(env, "GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into());
            let identity_regexp = format!("^{}/{}/\\.github/workflows/", regex_escape(&server), regex_escape(&repo));
            return Some(Verifier::Keyless { identity_regexp, issuer: GITHUB_ISSUER.into() });
        }
        var(env, crate::services::signing::keys::PUBLIC_VAR).map(Verifier::Key)
    }
}

fn regex_escape(s: &str) -> String {
    s.chars().flat_map(|c| if "\\.+*?()|[]{}^$".contains(c) { vec!['\\', c] } else { vec![c] }).collect()
}

/// The line that says how to get something to sign with.
pub const NO_SIGNER: &str = "no signing key: run `cargo xtask services up signing` (the machine's key pair), set COSIGN_PRIVATE_KEY and COSIGN_PASSWORD, or on GitHub grant the images job `id-token: write` (keyless)";
pub const NO_VERIFIER: &str = "no key to verify images with: run `cargo xtask services up signing` (the machine's key pair) or set COSIGN_PUBLIC_KEY to the signing key's public half";

#[cfg(test)]
#[path = "supply_tests.rs"]
mod tests;
