//! The image stage's BuildKit builder, here and on GitHub alike, in a Docker
//! config of its own: the plugin, the loopback registry's credentials and the
//! builder live there, so `docker build` and `docker login` of everyone else
//! on the machine stay as they were. buildx's `docker-container` driver
//! (what `docker/setup-buildx-action` makes) always asks for a privileged
//! container, which this machine's root cannot start (it lacks
//! CAP_SYS_RESOURCE: "unable to apply caps"). So the xtask runs the same
//! kind of BuildKit container itself, with every capability but that one and
//! the host's cgroups and network, and buildx reaches it through its `remote`
//! driver on a unix socket. On a GitHub runner, where privileged containers
//! start and cgroups are v2 with namespaces as delegation boundaries (the
//! host's cgroups mounted into a private cgroup namespace cannot take
//! runc's processes), it runs as that driver does there: privileged, its
//! own cgroup namespace, BuildKit's `BUILDKIT_SETUP_CGROUPV2_ROOT` nesting.
//! The folder holds what recreating it takes
//! (`builder.json`): a builder that is gone or wedged is recreated, by
//! `services up` and by the image stage alike.

use crate::fsutil::write_atomic;
use crate::services::keeper::{decide, Decision, Found, Why};
use crate::services::process;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use xshell::{cmd, Shell};

/// The builder's name (its container `xtask-buildkit`, its state volume `xtask-buildkit-state`).
pub const NAME: &str = "xtask";
/// The oldest buildx whose flags the image stage uses (`rewrite-timestamp` came in 0.13).
pub const MIN_BUILDX: (u32, u32) = (0, 13);
const SPEC: &str = "builder.json";
/// How long a builder may take to answer before it counts as wedged.
fn boot() -> Duration {
    let s = std::env::var("XTASK_BUILDX_BOOT_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    Duration::from_secs(s)
}

/// What a builder is made of, kept in its config folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    pub name: String,
    /// The BuildKit image (local, never pulled).
    pub image: String,
    /// buildkitd's configuration file.
    pub buildkitd_config: PathBuf,
    /// Run as `docker/setup-buildx-action`'s `docker-container` driver does (GitHub).
    #[serde(default)]
    pub privileged: bool,
}

impl Spec {
    /// The BuildKit container's name.
    pub fn container(&self) -> String {
        format!("{}-buildkit", self.name)
    }

    /// The folder holding buildkitd's socket (next to its configuration).
    pub fn socket_dir(&self) -> PathBuf {
        self.buildkitd_config.parent().unwrap_or(Path::new("/tmp")).join(format!("{}-run", self.name))
    }

    /// buildkitd's socket, as buildx's remote driver names it.
    pub fn endpoint(&self) -> String {
        format!("unix://{}/buildkitd.sock", self.socket_dir().display())
    }
}

/// `docker run` of the BuildKit container, on the host's network (the
/// loopback registry). Here: privileged less CAP_SYS_RESOURCE, with the
/// host's cgroups (runc makes its own). `privileged` (GitHub): as
/// setup-buildx-action's driver runs it, buildkitd nesting its own cgroup v2.
pub fn run_args(spec: &Spec) -> Vec<String> {
    let (sock, toml) = (spec.socket_dir().display().to_string(), spec.buildkitd_config.display().to_string());
    let mut args: Vec<String> = ["run", "--detach", "--name"].map(String::from).to_vec();
    args.push(spec.container());
    let flags: &[&str] = if spec.privileged {
        &["--network=host", "--privileged", "--init", "--env=BUILDKIT_SETUP_CGROUPV2_ROOT=1"]
    } else {
        &[
            "--network=host",
            "--cap-add=ALL",
            "--cap-drop=SYS_RESOURCE",
            "--security-opt=seccomp=unconfined",
            "--security-opt=apparmor=unconfined",
            "--security-opt=systempaths=unconfined",
            "--volume=/sys/fs/cgroup:/sys/fs/cgroup:rw",
        ]
    };
    args.extend(flags.iter().map(|a| a.to_string()));
    args.push(format!("--volume={sock}:/run/buildkit"));
    args.push(format!("--volume={toml}:/etc/buildkit/buildkitd.toml:ro"));
    args.push(format!("--volume={}-state:/var/lib/buildkit", spec.container()));
    args.push(spec.image.clone());
    args.extend(["--addr".into(), "unix:///run/buildkit/buildkitd.sock".into()]);
    args
}

/// buildkitd's configuration: the loopback registry over plain HTTP (a
/// push's registry cache there). No hub mirror: the image stage hands each
/// build its base image as a named context (an OCI layout), so a builder
/// needs neither the engine's images nor a registry holding them. Garbage
/// collection keeps its state bounded; its socket belongs to `owner` (uid,
/// gid: who runs `services up`, a GitHub runner's user too).
pub fn buildkitd_toml(registry: &str, keep_gb: u32, owner: (u32, u32)) -> String {
    let (uid, gid) = owner;
    format!(
        "[grpc]\n  uid = {uid}\n  gid = {gid}\n\
         [worker.oci]\n  enabled = true\n  gc = true\n  maxUsedSpace = \"{keep_gb}GB\"\n[worker.containerd]\n  enabled = false\n\
         [registry.\"{registry}\"]\n  http = true\n"
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

/// The builder's state: Ok(buildx's description) when it answers within
/// `BOOT` (`XTASK_BUILDX_BOOT_SECONDS`), Err(why) when gone or wedged.
pub fn check(sh: &Shell, config: &Path, name: &str) -> Result<String, String> {
    let c = buildx(sh, config, &["inspect", "--bootstrap", name]);
    match process::output_within(c, boot()) {
        Ok(Some(out)) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            if let Some(e) = text.lines().find(|l| l.trim_start().starts_with("Error:")) {
                return Err(e.trim().to_string());
            }
            if !text.lines().any(|l| l.trim_start().starts_with("Status:") && l.contains("running")) {
                return Err("it is not running".into());
            }
            Ok(text)
        }
        Ok(Some(out)) => {
            let err = String::from_utf8_lossy(&out.stderr);
            Err(err.lines().last().unwrap_or("it does not answer").trim().to_string())
        }
        Ok(None) => Err(format!("it did not answer within {}s", boot().as_secs())),
        Err(e) => Err(e.to_string()),
    }
}

/// Remove the builder (buildx's entry, its container and state volume), whatever state it is in.
pub fn remove(sh: &Shell, config: &Path, spec: &Spec) {
    let container = spec.container();
    // A paused (wedged) container is unpaused first, so that it can be killed.
    let _ = cmd!(sh, "docker unpause {container}").quiet().ignore_stdout().ignore_stderr().run();
    let _ = cmd!(sh, "docker rm --force --volumes {container}").quiet().ignore_stdout().ignore_stderr().run();
    let volume = format!("{container}-state");
    let _ = cmd!(sh, "docker volume rm {volume}").quiet().ignore_stdout().ignore_stderr().run();
    let name = &spec.name;
    let _ = process::output_within(buildx(sh, config, &["rm", "--force", name]), boot());
    let _ = std::fs::remove_dir_all(spec.socket_dir());
}

/// Start the BuildKit container, register it with buildx as the config's current builder, and wait for it.
pub fn create(sh: &Shell, config: &Path, spec: &Spec) -> Result<()> {
    std::fs::create_dir_all(spec.socket_dir())?;
    let args = run_args(spec);
    let out = cmd!(sh, "docker {args...}").quiet().ignore_status().output()?;
    if !out.status.success() {
        bail!(
            "cannot start the BuildKit container {}: {}",
            spec.container(),
            String::from_utf8_lossy(&out.stderr).lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim()
        );
    }
    let sock = spec.socket_dir().join("buildkitd.sock");
    let deadline = std::time::Instant::now() + boot();
    if !process::poll_until(deadline, || sock.exists()) {
        let container = spec.container();
        let logs = cmd!(sh, "docker logs --tail 5 {container}").quiet().ignore_status().output()?;
        bail!(
            "buildkitd in {container} made no socket within {}s; its log ends:\n{}",
            boot().as_secs(),
            String::from_utf8_lossy(&logs.stderr)
        );
    }
    let endpoint = spec.endpoint();
    let args = ["create", "--name", &spec.name, "--driver", "remote", &endpoint, "--use"];
    let out = process::output_within(buildx(sh, config, &args), boot())?
        .with_context(|| format!("creating the builder {} took over {}s", spec.name, boot().as_secs()))?;
    if !out.status.success() {
        bail!(
            "cannot create the buildx builder {}: {}",
            spec.name,
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("").trim()
        );
    }
    Ok(())
}

/// The image the builder's container runs, if there is one.
fn container_image(sh: &Shell, spec: &Spec) -> Option<String> {
    let (container, format) = (spec.container(), "{{.Config.Image}}");
    cmd!(sh, "docker inspect --format {format} {container}")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()
        .map(|s| s.trim().to_string())
}

/// The builder answers: as it was, or recreated from its spec when gone,
/// wedged or running another image (said once, through `say`), decided as the
/// keeper decides a host process (`keeper::decide`: the container is ours, its
/// image the wanted one, buildx reaches it). Err when there is no spec to recreate from.
pub fn ensure(sh: &Shell, config: &Path, say: &dyn Fn(&str)) -> Result<()> {
    let spec = read_spec(config)
        .with_context(|| format!("{} has no {SPEC}: run `cargo xtask services up buildx`", config.display()))?;
    let state = check(sh, config, &spec.name);
    // Ours: its container is there, or buildx reaches it (an inspect that failed once is no reason to recreate).
    let image = container_image(sh, &spec);
    let same = image.as_deref().is_none_or(|i| i == spec.image);
    let found = Found { ours: image.is_some() || state.is_ok(), same, healthy: state.is_ok() };
    let name = &spec.name;
    match (decide(found), state) {
        (Decision::Keep, _) => return Ok(()),
        (Decision::Restart(Why::Changed), _) => {
            say(&format!("the builder {name} runs another BuildKit image: recreating it with {}", spec.image))
        }
        // Start or Restart(Unhealthy): it does not answer.
        (_, state) => {
            let why = state.err().unwrap_or_default();
            say(&format!("the builder {name} is gone or wedged ({why}): recreating it"))
        }
    }
    remove(sh, config, &spec);
    create(sh, config, &spec)?;
    check(sh, config, &spec.name)
        .map(|_| ())
        .map_err(|why| anyhow::anyhow!("the recreated builder {} does not answer: {why}", spec.name))
}

/// The pid of buildkitd in the builder's container, to record it.
pub fn pid(sh: &Shell, spec: &Spec) -> Option<u32> {
    let (container, format) = (spec.container(), "{{.State.Pid}}");
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
#[path = "builder_tests.rs"]
mod tests;
