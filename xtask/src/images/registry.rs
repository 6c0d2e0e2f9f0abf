//! Where images go and how to log in: GitHub Container Registry from
//! `GITHUB_REPOSITORY`, Docker Hub when its credentials are set, or any
//! registry given with `--registry`/`XTASK_REGISTRY`. Secrets reach docker
//! through stdin only and never appear in output. A run logs in inside a
//! Docker config of its own (`RunConfig`), removed when the run ends: the
//! user's `~/.docker/config.json` (and their own logins) is never touched,
//! and two runs on one machine never log each other out.

use crate::error::UsageError;
use anyhow::Context;
use anyhow::Result;
use std::path::{Path, PathBuf};
use xshell::{cmd, Shell};

#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    /// Where the password came from, for messages (never the password itself).
    pub source: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials {{ user: {:?}, password: <from {}> }}", self.user, self.source)
    }
}

#[derive(Debug, Clone)]
pub struct Target {
    /// `host[:port]`, what `docker login` takes.
    pub host: String,
    /// `host[:port]/namespace`: an image is `{prefix}/{component}`.
    pub prefix: String,
    pub credentials: Option<Credentials>,
}

/// Read an environment variable, treating empty as unset (GitHub passes unset secrets as "").
fn var(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name).filter(|v| !v.is_empty())
}

/// `registry: PREFIX (why)`: which registry a command's images go to and
/// why, the flag, the caller's variable or the services record.
pub fn line(flag: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> String {
    let chosen = match flag {
        Some(f) => format!("{f} (--registry)"),
        None => match (var(env, "XTASK_REGISTRY"), crate::services::state::origin("XTASK_REGISTRY", env)) {
            (Some(prefix), Some(why)) => format!("{prefix} ({why})"),
            _ => "none set: --registry or XTASK_REGISTRY names the one images are pushed to".into(),
        },
    };
    format!("registry: {chosen}")
}

/// The registries to tag for and push to. `env` is the process environment
/// (a parameter so the rules are unit-tested).
pub fn targets(flag: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<Target>> {
    if let Some(prefix) = flag.map(String::from).or_else(|| var(env, "XTASK_REGISTRY")) {
        let prefix = prefix.trim_end_matches('/').to_string();
        let host = prefix.split('/').next().unwrap_or_default().to_string();
        if host.is_empty() {
            return Err(UsageError::new(format!(
                "registry `{prefix}` has no host: use e.g. localhost:5000 or ghcr.io/owner"
            )));
        }
        let password = match (var(env, "XTASK_REGISTRY_PASSWORD"), var(env, "XTASK_REGISTRY_PASSWORD_FILE")) {
            (Some(p), _) => Some((p, "XTASK_REGISTRY_PASSWORD".to_string())),
            (None, Some(file)) => {
                let p = std::fs::read_to_string(PathBuf::from(&file))
                    .map_err(|e| UsageError::new(format!("cannot read XTASK_REGISTRY_PASSWORD_FILE {file}: {e}")))?;
                Some((p.trim_end_matches(['\n', '\r']).to_string(), format!("XTASK_REGISTRY_PASSWORD_FILE ({file})")))
            }
            (None, None) => None,
        };
        let credentials = match (var(env, "XTASK_REGISTRY_USERNAME"), password) {
            (Some(user), Some((password, source))) => Some(Credentials { user, password, source }),
            (None, Some(_)) => {
                return Err(UsageError::new("a registry password is set but XTASK_REGISTRY_USERNAME is not: set both"))
            }
            _ => None,
        };
        return Ok(vec![Target { host, prefix, credentials }]);
    }
    let mut out = Vec::new();
    if let Some(repo) = var(env, "GITHUB_REPOSITORY") {
        let owner = repo.split('/').next().unwrap_or_default().to_lowercase();
        let credentials = var(env, "GITHUB_TOKEN").map(|password| Credentials {
            user: var(env, "GITHUB_ACTOR").unwrap_or_else(|| owner.clone()),
            password,
            source: "GITHUB_TOKEN".into(),
        });
        out.push(Target { host: "ghcr.io".into(), prefix: format!("ghcr.io/{owner}"), credentials });
    }
    if let Some(user) = var(env, "DOCKER_HUB_USERNAME") {
        let password = var(env, "DOCKER_HUB_PASSWORD").ok_or_else(|| {
            UsageError::new("DOCKER_HUB_USERNAME is set but DOCKER_HUB_PASSWORD is not: set both or neither")
        })?;
        let prefix = format!("docker.io/{}", user.to_lowercase());
        out.push(Target {
            host: "docker.io".into(),
            prefix,
            credentials: Some(Credentials { user, password, source: "DOCKER_HUB_PASSWORD".into() }),
        });
    }
    Ok(out)
}

/// Images built without any registry configured are named `local/<component>`.
pub fn local_target() -> Target {
    Target { host: String::new(), prefix: "local".into(), credentials: None }
}

/// On GitHub, tell the runner to mask every secret before anything else is printed.
pub fn mask(targets: &[Target]) {
    for c in targets.iter().filter_map(|t| t.credentials.as_ref()) {
        crate::github::mask(&c.password);
    }
}

/// A Docker config of this run's own (mode 0700, under the temp folder):
/// its logins, and buildx's plugin linked in (the CLI finds plugins under
/// `DOCKER_CONFIG`); removed on every way out (drop), errors included.
pub struct RunConfig {
    dir: PathBuf,
}

impl RunConfig {
    /// Where this process's goes (a dry run prints it; nothing is made).
    pub fn path() -> PathBuf {
        std::env::temp_dir().join(format!("xtask-docker-config.{}", std::process::id()))
    }

    /// Make it empty, with `plugin` (buildx's) linked in when given.
    pub fn new(plugin: Option<&Path>) -> Result<RunConfig> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = RunConfig::path();
        // A folder of a dead process with this pid: ours now.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("cannot create the run's Docker config {}", dir.display()))?;
        let config = RunConfig { dir };
        if let Some(plugin) = plugin {
            let plugins = config.dir.join("cli-plugins");
            std::fs::create_dir(&plugins)?;
            std::os::unix::fs::symlink(plugin, plugins.join("docker-buildx"))?;
        }
        Ok(config)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A run's config logged in to every target with credentials; None when none has any
    /// (the pushes then use the caller's own Docker config, as a plain `docker push` would).
    pub fn login_all(sh: &Shell, targets: &[Target], plugin: Option<&Path>) -> Result<Option<RunConfig>> {
        if targets.iter().all(|t| t.credentials.is_none()) {
            return Ok(None);
        }
        let config = RunConfig::new(plugin)?;
        for t in targets {
            login(sh, t, config.dir())?;
        }
        Ok(Some(config))
    }
}

impl Drop for RunConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `docker --config DIR login HOST -u USER --password-stdin`, the password on stdin.
pub fn login(sh: &Shell, t: &Target, config: &Path) -> Result<()> {
    let Some(c) = &t.credentials else { return Ok(()) };
    let (host, user) = (&t.host, &c.user);
    let out = cmd!(sh, "docker --config {config} login {host} --username {user} --password-stdin")
        .stdin(c.password.as_bytes())
        .quiet()
        .ignore_status()
        .output()?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr).replace(&c.password, "***");
    Err(UsageError::new(match classify(&text) {
        Some(Problem::Auth) => {
            format!("docker login to {host} failed: authentication failed for user {user} (check {})", c.source)
        }
        Some(Problem::Unreachable) => {
            format!("cannot reach registry {host}: is it running and is --registry right? ({})", first_line(&text))
        }
        None => format!("docker login to {host} failed: {}", first_line(&text)),
    }))
}

#[derive(Debug, PartialEq, Eq)]
pub enum Problem {
    Auth,
    Unreachable,
}

/// What went wrong talking to a registry, from docker's own words.
pub fn classify(output: &str) -> Option<Problem> {
    let o = output.to_lowercase();
    let auth = ["unauthorized", "authentication required", "incorrect username or password", "denied", "no basic auth"];
    let net =
        ["connection refused", "no such host", "i/o timeout", "dial tcp", "server misbehaving", "connection reset"];
    if auth.iter().any(|a| o.contains(a)) {
        Some(Problem::Auth)
    } else if net.iter().any(|n| o.contains(n)) {
        Some(Problem::Unreachable)
    } else {
        None
    }
}

fn first_line(text: &str) -> &str {
    text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no output")
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
