//! Which deploys an environment accepts: pure rules over what is being
//! deployed (the git ref, the release at HEAD, the images' version) and who
//! approved it, so each rule is a unit test (`read` alone reads a file). Each environment has one of
//! three guards, set in its overlay's `xtask.toml` (`guard = "…"`):
//!
//! - `any` (development's): anything (it is where main lands).
//! - `main` (staging's): main, or a release tag `vX.Y.Z` at HEAD.
//! - `release` (production's): only a release: `vX.Y.Z` at HEAD and images
//!   pushed with that version, and only with `--confirm` or inside a GitHub
//!   job bound to the environment (whose approval rules GitHub enforces).
//!
//! Without the file, development, staging and production get the guard of
//! their name and **any other name the strictest, `release`**: a new overlay
//! is never left unguarded by accident.

use crate::error::UsageError;
use crate::images::tags::parse_version;
use crate::manifests::preview;
use crate::manifests::render::OVERLAYS;
use anyhow::Result;
use std::path::Path;

/// The settings file in an overlay's folder.
const SETTINGS: &str = "xtask.toml";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Any build (development).
    Any,
    /// main or a release tag at HEAD (staging).
    Main,
    /// A release tag at HEAD, its images, an approval (production).
    Release,
}

impl Guard {
    pub const ALL: [Guard; 3] = [Guard::Any, Guard::Main, Guard::Release];

    /// As an overlay's `xtask.toml` spells it (`guard = "…"`).
    pub fn label(self) -> &'static str {
        match self {
            Guard::Any => "any",
            Guard::Main => "main",
            Guard::Release => "release",
        }
    }

    /// The guard an overlay without settings gets: its name's, else the strictest.
    fn default_for(env: &str) -> Guard {
        match env {
            "development" => Guard::Any,
            "staging" => Guard::Main,
            _ => Guard::Release,
        }
    }
}

/// The guard deploys to `env` pass: its overlay's `xtask.toml`, else its name's default.
pub fn read(root: &Path, env: &str) -> Result<Guard> {
    let env = &settings_env(env);
    let shown = format!("{OVERLAYS}/{env}/{SETTINGS}");
    let text = match std::fs::read_to_string(root.join(&shown)) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(UsageError::new(format!("cannot read {shown} ({e}): make it readable or remove it"))),
    };
    from_settings(env, text.as_deref(), &shown).map_err(UsageError::new)
}

/// The guard of `env` from its overlay's settings (`None`: no such file);
/// an error says what is wrong with the file (`shown` names it).
fn from_settings(env: &str, text: Option<&str>, shown: &str) -> Result<Guard, String> {
    let Some(table) = table(text, shown)? else { return Ok(Guard::default_for(env)) };
    match table.get("guard").map(|v| v.as_str()) {
        None => Ok(Guard::default_for(env)),
        Some(Some("any")) => Ok(Guard::Any),
        Some(Some("main")) => Ok(Guard::Main),
        Some(Some("release")) => Ok(Guard::Release),
        Some(other) => Err(format!(
            "{shown} sets guard = {}: choose \"any\" (development's), \"main\" (staging's) or \"release\" (production's)",
            other.map_or("a non-string".to_string(), |s| format!("\"{s}\""))
        )),
    }
}

/// The overlay's settings, checked for unknown keys.
fn table(text: Option<&str>, shown: &str) -> Result<Option<toml::Table>, String> {
    let Some(text) = text else { return Ok(None) };
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        format!("{shown} is not TOML ({}): write `guard = \"any\"`, `\"main\"` or `\"release\"`", e.message())
    })?;
    if let Some(key) = table.keys().find(|k| !SETTING_KEYS.contains(&k.as_str())) {
        return Err(format!("{shown} has an unknown setting `{key}`: the settings are {}", SETTING_KEYS.join(", ")));
    }
    Ok(Some(table))
}

const SETTING_KEYS: [&str; 4] = ["guard", "reviewers", "previews", "verify-images"];

/// Whose settings an environment takes: a pull request's preview takes
/// development's, as it renders development's overlay.
fn settings_env(env: &str) -> String {
    match preview::number(env) {
        Some(_) => preview::BASE_ENV.to_string(),
        None => env.to_string(),
    }
}

/// How many previews may run at once: `previews = K` in development's
/// settings, 3 without it.
pub fn previews(text: Option<&str>, shown: &str) -> Result<usize, String> {
    match table(text, shown)?.as_ref().and_then(|t| t.get("previews")) {
        None => Ok(3),
        Some(v) => match v.as_integer() {
            Some(k) if (1..=50).contains(&k) => Ok(k as usize),
            _ => Err(format!(
                "{shown} sets previews = {v}: write a whole number of previews from 1 to 50, e.g. `previews = 3`"
            )),
        },
    }
}

/// `previews` for development's overlay.
pub fn read_previews(root: &Path) -> Result<usize> {
    let shown = format!("{OVERLAYS}/{}/{SETTINGS}", preview::BASE_ENV);
    let text = std::fs::read_to_string(root.join(&shown)).ok();
    previews(text.as_deref(), &shown).map_err(UsageError::new)
}

/// Whether a deploy from GitHub needs the environment to require reviewers:
/// `reviewers = "required"` or `"not-required"` in the overlay's settings;
/// by default required where the guard is `release`. Opting out is for a
/// repository whose plan has no reviewers (private, on GitHub Free).
pub fn reviewers_required(env: &str, guard: Guard, text: Option<&str>, shown: &str) -> Result<bool, String> {
    let table = table(text, shown)?;
    match table.as_ref().and_then(|t| t.get("reviewers")).map(|v| v.as_str()) {
        None => Ok(guard == Guard::Release),
        Some(Some("required")) => Ok(true),
        Some(Some("not-required")) => Ok(false),
        Some(_) => Err(format!(
            "{shown} sets reviewers to something else than \"required\" or \"not-required\": choose one (default for {env}: {})",
            if guard == Guard::Release { "required" } else { "not-required" }
        )),
    }
}

/// Whether deploy verifies the images' signatures, provenance and SBOM
/// (`verify-images = false` in the overlay's settings opts out): always,
/// except where the guard is `any` (development) and the overlay opts out.
pub fn verify_images(env: &str, guard: Guard, text: Option<&str>, shown: &str) -> Result<bool, String> {
    let table = table(text, shown)?;
    match table.as_ref().and_then(|t| t.get("verify-images")).map(|v| v.as_bool()) {
        None | Some(Some(true)) => Ok(true),
        Some(Some(false)) if guard == Guard::Any => Ok(false),
        Some(Some(false)) => Err(format!(
            "{shown} sets verify-images = false, but {env} is guarded (guard \"{}\"): only a development environment (guard \"any\") may deploy unverified images; remove the setting",
            if guard == Guard::Main { "main" } else { "release" }
        )),
        Some(None) => Err(format!("{shown} sets verify-images to a non-boolean: write `verify-images = false` or remove it")),
    }
}

/// `verify_images` for `env`'s overlay (a preview's: development's).
pub fn read_verify_images(root: &Path, env: &str, guard: Guard) -> Result<bool> {
    // A preview takes development's settings (and its opt-out).
    let env = &settings_env(env);
    let shown = format!("{OVERLAYS}/{env}/{SETTINGS}");
    let text = std::fs::read_to_string(root.join(&shown)).ok();
    verify_images(env, guard, text.as_deref(), &shown).map_err(UsageError::new)
}

/// `reviewers_required` for `env`'s overlay.
pub fn read_reviewers(root: &Path, env: &str, guard: Guard) -> Result<bool> {
    let env = &settings_env(env);
    let shown = format!("{OVERLAYS}/{env}/{SETTINGS}");
    let text = std::fs::read_to_string(root.join(&shown)).ok();
    reviewers_required(env, guard, text.as_deref(), &shown).map_err(UsageError::new)
}

/// On GitHub, an environment that needs reviewers is deployed only from a
/// job bound to it (whose reviewers GitHub then enforces).
pub fn bound(env: &str, f: &Facts) -> Result<(), String> {
    match f.github_environment.as_deref() {
        Some(e) if e == env => Ok(()),
        _ => Err(format!(
            "{env} is deployed from GitHub only by a job bound to its environment, whose reviewers approve it: add `environment: {env}` to the job"
        )),
    }
}

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

/// The part of the guard a ref decides: the branch, or the release being deployed.
pub fn check_ref(env: &str, guard: Guard, branch: Option<&str>, release: Option<&str>) -> Result<(), String> {
    match guard {
        Guard::Any => Ok(()),
        Guard::Main => match (release, branch) {
            (Some(_), _) | (None, Some("main")) => Ok(()),
            (None, other) => Err(format!(
                "{env} is deployed from main or a release tag, not {}: merge to main or tag a release (vX.Y.Z)",
                other.map_or("a detached commit".to_string(), |b| format!("branch `{b}`"))
            )),
        },
        Guard::Release => match release {
            Some(_) => Ok(()),
            None => Err(format!(
                "{env} is deployed only from a release: check out a commit tagged vX.Y.Z and build its images"
            )),
        },
    }
}

/// Whether a `release`-guarded deploy is approved: `--confirm`, or a GitHub job bound to the environment.
pub fn approved(env: &str, guard: Guard, confirmed: bool, github_environment: Option<&str>) -> Result<(), String> {
    if guard != Guard::Release || confirmed || github_environment == Some(env) {
        return Ok(());
    }
    Err(format!("deploying to {env} needs --confirm (or a GitHub job bound to the `{env}` environment)"))
}

/// `Ok` when `env` accepts this deploy; otherwise the one-line reason with the fix.
pub fn check(env: &str, guard: Guard, f: &Facts) -> Result<(), String> {
    let release = release_at_head(f);
    check_ref(env, guard, f.branch.as_deref(), release.as_deref())?;
    if guard == Guard::Release {
        let version = release.unwrap_or_default();
        if f.images_version.as_deref() != Some(version.as_str()) {
            return Err(format!(
                "the images report is for {}, not release {version}: run `cargo xtask image build --push` at v{version} first",
                f.images_version.as_deref().map_or("no release".to_string(), |v| format!("version {v}"))
            ));
        }
    }
    approved(env, guard, f.confirmed, f.github_environment.as_deref())
}

#[cfg(test)]
#[path = "guards_tests.rs"]
mod tests;
