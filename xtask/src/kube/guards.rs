//! Which deploys an environment accepts: pure rules over what is being
//! deployed (the git ref, the release at HEAD, the images' version) and who
//! approved it, so each rule is a unit test.
//!
//! - development: anything (it is where main lands).
//! - staging: main, or a release tag `vX.Y.Z` at HEAD.
//! - production: only a release: `vX.Y.Z` at HEAD and images pushed with
//!   that version, and only with `--confirm` or inside a GitHub job bound to
//!   the `production` environment (whose approval rules GitHub enforces).

use crate::images::tags::parse_version;

/// What the guard knows about the deploy being asked for.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The branch being deployed (`main`), from `GITHUB_REF` or git.
    pub branch: Option<String>,
    /// Release tags (`vX.Y.Z`) pointing at HEAD.
    pub release_tags: Vec<String>,
    /// The version the images report says the images were pushed with (`X.Y.Z`).
    pub images_version: Option<String>,
    /// `--confirm` was given.
    pub confirmed: bool,
    /// The GitHub environment the running job is bound to, if any.
    pub github_environment: Option<String>,
    /// The commit at HEAD (recorded with the release).
    pub commit: String,
}

/// The release version at HEAD (`X.Y.Z`), the highest if several tags point there.
pub fn release_at_head(f: &Facts) -> Option<String> {
    f.release_tags.iter().filter_map(|t| parse_version(t)).max().map(|(x, y, z)| format!("{x}.{y}.{z}"))
}

/// `Ok` when `env` accepts this deploy; otherwise the one-line reason with the fix.
pub fn check(env: &str, f: &Facts) -> Result<(), String> {
    let release = release_at_head(f);
    match env {
        "staging" => match (&release, f.branch.as_deref()) {
            (Some(_), _) | (None, Some("main")) => Ok(()),
            (None, other) => Err(format!(
                "staging is deployed from main or a release tag, not {}: merge to main or tag a release (vX.Y.Z)",
                other.map_or("a detached commit".to_string(), |b| format!("branch `{b}`"))
            )),
        },
        "production" => {
            let Some(version) = release else {
                return Err(
                    "production is deployed only from a release: check out a commit tagged vX.Y.Z and build its images"
                        .into(),
                );
            };
            if f.images_version.as_deref() != Some(version.as_str()) {
                return Err(format!(
                    "the images report is for {}, not release {version}: run `cargo xtask image build --push` at v{version} first",
                    f.images_version.as_deref().map_or("no release".to_string(), |v| format!("version {v}"))
                ));
            }
            let approved = f.confirmed || f.github_environment.as_deref() == Some("production");
            if !approved {
                return Err(
                    "deploying to production needs --confirm (or a GitHub job bound to the `production` environment)"
                        .into(),
                );
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
#[path = "guards_tests.rs"]
mod tests;
