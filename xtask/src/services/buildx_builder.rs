//! The `docker-container` builder buildx drives (the driver
//! `docker/setup-buildx-action` gives on GitHub), in a Docker config folder
//! of its own: the plugin, the loopback registry's credentials and the
//! builder live there, so `docker build` and `docker login` of everyone else
//! on the machine stay as they were. The folder holds what recreating the
//! builder takes (`builder.json`): a builder that is gone or wedged is
//! recreated, by `services up` and by the image stage alike.

use crate::fsutil::write_atomic;
use crate::services::process;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use xshell::{cmd, Shell};

pub const NAME: &str = "xtask";
/// The oldest buildx whose flags the image stage uses (`rewrite-timestamp` came in 0.13).
pub const MIN_BUILDX: (u32, u32) = (0, 13);
const SPEC: &str = "builder.json";
const BOOT: Duration = Duration::from_secs(90);

/// What a builder is made of, kept in its config folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    pub name: String,
    /// The BuildKit image (local, never pulled).
    pub image: String,
    /// buildkitd's configuration file.
    pub buildkitd_config: PathBuf,
}

/// buildkitd's configuration: the loopback registry over plain HTTP, and as
/// the hub's mirror, so `FROM local/python:…` finds the base images pushed
/// there; garbage collection keeps its state bounded.
pub fn buildkitd_toml(registry: &str, keep_gb: u32) -> String {
    format!(
        "[worker.oci]\n  enabled = true\n  gc = true\n  maxUsedSpace = \"{keep_gb}GB\"\n[worker.containerd]\n  enabled = false\n\
         [registry.\"docker.io\"]\n  mirrors = [\"{registry}\"]\n[registry.\"{registry}\"]\n  http = true\n"
    )
}

/// `{"auths": {registry: user:password}}`: the Docker config buildx reads credentials from.
pub fn docker_config(registry: &str, user: &str, password: &str) -> String {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    serde_json::json!({"auths": {registry: {"auth": auth}}}).to_string() + "\n"
}

/// buildx's version from `docker buildx version` (`github.com/docker/buildx v0.38.2 <rev>`).
pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let v = text.split_whitespace().find(|w| w.starts_with('v') && w[1..].starts_with(|c: char| c.is_ascii_digit()))?;
    let mut n = v[1..].split(|c: char| !c.is_ascii_digit()).map(|p| p.parse::<u32>().ok());
    Some((n.next()??, n.next()??, n.next().flatten().unwrap_or(0)))
}

/// Ok with the version when `docker buildx` (with `config`) is there and new
/// enough; Err(None) when it is missing, Err(Some(line)) when too old.
pub fn version(sh: &Shell, config: Option<&Path>) -> Result<String, Option<String>> {
    let mut c = cmd!(sh, "docker buildx version").quiet().ignore_stderr();
    if let Some(dir) = config {
        c = c.env("DOCKER_CONFIG", dir);
    }
    let text = c.read().map_err(|_| None)?;
    let Some((major, minor, patch)) = parse_version(&text) else { return Err(None) };
    let v = format!("v{major}.{minor}.{patch}");
    if (major, minor) < MIN_BUILDX {
        return Err(Some(format!(
            "buildx {v} is older than v{}.{}, which the image stage's flags need (rewrite-timestamp): update the docker-buildx plugin (here: `cargo xtask services up buildx`; on GitHub: docker/setup-buildx-action)",
            MIN_BUILDX.0, MIN_BUILDX.1
        )));
    }
    Ok(v)
}

fn buildx<'a>(sh: &'a Shell, config: &Path, args: &[&str]) -> xshell::Cmd<'a> {
    cmd!(sh, "docker buildx {args...}").quiet().env("DOCKER_CONFIG", config)
}

pub fn read_spec(config: &Path) -> Option<Spec> {
    serde_json::from_str(&std::fs::read_to_string(config.join(SPEC)).ok()?).ok()
}

pub fn write_spec(config: &Path, spec: &Spec) -> Result<()> {
    write_atomic(&config.join(SPEC), (serde_json::to_string_pretty(spec)? + "\n").as_bytes())
}

/// The builder's state: Ok(driver image) when it answers within `BOOT`, Err(why) when gone or wedged.
pub fn check(sh: &Shell, config: &Path, name: &str) -> Result<String, String> {
    let c = buildx(sh, config, &["inspect", "--bootstrap", name]);
    match process::output_within(c, BOOT) {
        Ok(Some(out)) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            if !text.lines().any(|l| l.trim_start().starts_with("Status:") && l.contains("running")) {
                return Err("it is not running".into());
            }
            Ok(text)
        }
        Ok(Some(out)) => {
            let err = String::from_utf8_lossy(&out.stderr);
            Err(err.lines().last().unwrap_or("it does not answer").trim().to_string())
        }
        Ok(None) => Err(format!("it did not answer within {}s (wedged)", BOOT.as_secs())),
        Err(e) => Err(e.to_string()),
    }
}

/// Remove the builder (its container and state volume), whatever state it is in.
pub fn remove(sh: &Shell, config: &Path, name: &str) {
    // A paused (wedged) container refuses buildx's stop: unpause first, then force.
    let container = format!("buildx_buildkit_{name}0");
    let _ = cmd!(sh, "docker unpause {container}").quiet().ignore_stdout().ignore_stderr().run();
    let _ = process::output_within(buildx(sh, config, &["rm", "--force", name]), BOOT);
    let _ = cmd!(sh, "docker rm -f -v {container}").quiet().ignore_stdout().ignore_stderr().run();
}

/// Create the builder from its spec, make it the config's current one, and start it.
pub fn create(sh: &Shell, config: &Path, spec: &Spec) -> Result<()> {
    let opts = format!("image={},network=host", spec.image);
    let toml = spec.buildkitd_config.display().to_string();
    let args = [
        "create",
        "--name",
        &spec.name,
        "--driver",
        "docker-container",
        "--driver-opt",
        &opts,
        "--buildkitd-config",
        &toml,
        "--use",
        "--bootstrap",
    ];
    let out = process::output_within(buildx(sh, config, &args), BOOT)?
        .with_context(|| format!("creating the builder {} took over {}s", spec.name, BOOT.as_secs()))?;
    if !out.status.success() {
        bail!(
            "cannot create the buildx builder {}: {}",
            spec.name,
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("").trim()
        );
    }
    Ok(())
}

/// The builder answers: as it was, or recreated from its spec when gone or
/// wedged (said once, through `say`). Err when there is no spec to recreate from.
pub fn ensure(sh: &Shell, config: &Path, say: &dyn Fn(&str)) -> Result<()> {
    let spec = read_spec(config)
        .with_context(|| format!("{} has no {SPEC}: run `cargo xtask services up buildx`", config.display()))?;
    let state = check(sh, config, &spec.name);
    let wrong_image = state.as_ref().is_ok_and(|text| !text.contains(&spec.image));
    match state {
        Ok(_) if !wrong_image => return Ok(()),
        Ok(_) => {
            say(&format!("the builder {} runs another BuildKit image: recreating it with {}", spec.name, spec.image))
        }
        Err(why) => say(&format!("the builder {} is gone or wedged ({why}): recreating it", spec.name)),
    }
    remove(sh, config, &spec.name);
    create(sh, config, &spec)?;
    check(sh, config, &spec.name)
        .map(|_| ())
        .map_err(|why| anyhow::anyhow!("the recreated builder {} does not answer: {why}", spec.name))
}

/// The pid of buildkitd in the builder's container, to record it.
pub fn pid(sh: &Shell, name: &str) -> Option<u32> {
    let (container, format) = (format!("buildx_buildkit_{name}0"), "{{.State.Pid}}");
    cmd!(sh, "docker inspect --format {format} {container}")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|p| *p > 0)
}

#[cfg(test)]
#[path = "buildx_builder_tests.rs"]
mod tests;
