//! What the pipeline and its tests need running on a machine: the Docker
//! engine, a registry on loopback, the base images, a Kubernetes control
//! plane. One module per service; each brings itself up idempotently (what
//! runs is checked, never assumed from a record), stops only what it started,
//! and says in one line what it is. `state` records what runs where every
//! checkout finds it (`location`: the machine record), read by every command at start.
//!
//! The local cluster's real worker node (`node`, its helpers in `node/`, and
//! its DNS, `node::coredns`) is the cluster's part that runs pods for real.
//!
//! Adding a service: a module with a type implementing [`Service`], one line
//! in [`all`], and, when a command needs it, its name in [`needed_by`].

pub mod base_images;
pub mod buildx;
pub mod docker;
pub mod go_build;
pub mod keeper;
pub mod kube;
pub mod location;
pub mod net;
pub mod node;
pub mod otelcol;
pub mod packages;
pub mod process;
pub mod registry;
pub mod signing;
pub mod state;
pub mod wipe;

use crate::error::UsageError;
use anyhow::Result;
use state::Record;
use std::path::{Path, PathBuf};
use xshell::Shell;

/// One service: how it comes up, goes down and reports itself.
pub trait Service: Sync {
    fn name(&self) -> &'static str;
    /// Services that must be up before this one.
    fn needs(&self) -> &'static [&'static str] {
        &[]
    }
    /// Whether `up` starts with a build that needs no other service (Go
    /// builds into the cache): `services up` runs it beside the services
    /// before it, so a cold machine builds while the others start.
    fn has_build(&self) -> bool {
        false
    }
    /// That build (done when the cache has it); `up` finds it built.
    fn build(&self, _cx: &Ctx) -> Result<()> {
        Ok(())
    }
    /// Bring it up (or find it up), check it answers, and say what to record.
    fn up(&self, cx: &Ctx) -> Result<Record>;
    /// Stop what the xtask started (with `purge`, also its state); one line.
    fn down(&self, cx: &Ctx, purge: bool) -> Result<String>;
    /// Its state now: `Ok` with a line when it is up, `Err` saying why not.
    fn status(&self, cx: &Ctx) -> Result<String, String>;
}

/// Every service, in start order (a service comes after those it needs).
pub fn all() -> Vec<&'static dyn Service> {
    vec![
        &docker::Docker,
        &registry::Registry,
        &base_images::BaseImages,
        &buildx::Buildx,
        &kube::ControlPlane,
        &otelcol::Otelcol,
        &signing::Signing,
    ]
}

pub fn names() -> Vec<&'static str> {
    all().iter().map(|s| s.name()).collect()
}

pub fn get(name: &str) -> Option<&'static dyn Service> {
    all().into_iter().find(|s| s.name() == name)
}

/// What a service's work can read: the repo (the pins), where its files
/// live, whether this is GitHub, who runs it, and what the state file said.
pub struct Ctx<'a> {
    pub sh: &'a Shell,
    pub root: &'a Path,
    pub dirs: &'a Dirs,
    pub github: bool,
    pub euid: u32,
    /// The service's entry in the state file: a claim to check, never to trust.
    pub recorded: Option<&'a Record>,
}

impl Ctx<'_> {
    pub fn say(&self, service: &str, line: &str) {
        println!("[{service}] {line}");
    }

    /// Bad input unless this runs as root: `what` needs it.
    pub fn need_root(&self, what: &str) -> Result<()> {
        if self.euid == 0 {
            return Ok(());
        }
        Err(UsageError::new(format!(
            "{what} needs root: run `sudo -E env PATH=\"$PATH\" cargo xtask services up` (or as root)"
        )))
    }
}

/// Where services keep their files: machine-wide for root (as the
/// services are), else under the user's own state and cache folders (a
/// GitHub runner's user); each overridable by its variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    /// Lasting state: registry credentials and storage, the cluster's etcd, keys and logs.
    pub state: PathBuf,
    /// Rebuildable: base image root filesystems, the control plane's binaries.
    pub cache: PathBuf,
}

impl Dirs {
    pub fn decide(euid: u32, env: &dyn Fn(&str) -> Option<String>) -> Dirs {
        if euid == 0 {
            return Dirs { state: "/var/lib".into(), cache: "/var/cache".into() };
        }
        let home = PathBuf::from(env("HOME").unwrap_or_else(|| "/tmp".into()));
        let var = |k: &str| env(k).filter(|v| v.starts_with('/')).map(PathBuf::from);
        Dirs {
            state: var("XDG_STATE_HOME").unwrap_or_else(|| home.join(".local/state")),
            cache: var("XDG_CACHE_HOME").unwrap_or_else(|| home.join(".cache")),
        }
    }

    pub fn here() -> Dirs {
        Dirs::decide(euid(), &|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// `name` under the state folder, or the path in `var` when set.
    pub fn state_dir(&self, var: &str, name: &str) -> PathBuf {
        std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or_else(|| self.state.join(name))
    }

    /// `name` under the cache folder, or the path in `var` when set.
    pub fn cache_dir(&self, var: &str, name: &str) -> PathBuf {
        std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or_else(|| self.cache.join(name))
    }
}

/// 16 hex digits of sha256: the services' cache keys and identities.
pub fn short_sum(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

pub fn euid() -> u32 {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The services `asked` (all when empty) and everything they need, in start
/// order; an unknown name is an error listing the known ones.
pub fn select<'a>(
    asked: &[String],
    known: &[&'a str],
    needs: &dyn Fn(&str) -> Vec<&'a str>,
) -> Result<Vec<&'a str>, String> {
    if let Some(bad) = asked.iter().find(|a| !known.contains(&a.as_str())) {
        return Err(format!("unknown service `{bad}`: the services are {}", known.join(", ")));
    }
    let mut wanted: Vec<&str> = if asked.is_empty() {
        known.to_vec()
    } else {
        known.iter().copied().filter(|k| asked.iter().any(|a| a == k)).collect()
    };
    // Close over `needs` until nothing new comes in.
    loop {
        let more: Vec<&str> = wanted.iter().flat_map(|w| needs(w)).filter(|n| !wanted.contains(n)).collect();
        if more.is_empty() {
            break;
        }
        wanted.extend(more);
    }
    Ok(known.iter().copied().filter(|k| wanted.contains(k)).collect())
}

/// What `cargo xtask ARGS` needs running (the workflows rule asks a job to
/// start these first): the xtask's own tests build, push, sign and deploy
/// for real; a build needs the engine, the base images (with their OCI
/// layouts) and the xtask's builder, the same on GitHub as here; a push
/// signs and attests what it pushes, and a deploy verifies it (cosign and
/// syft, `signing`). A preview is both: `preview up --build` pushes and
/// deploys `pr-N`, verified. A deploy talks to the cluster its credentials
/// name, which no service provides.
pub fn needed_by(args: &[&str]) -> Vec<&'static str> {
    const TESTS: &[&str] = &["docker", "registry", "base-images", "buildx", "kube", "signing"];
    const BUILD: &[&str] = &["docker", "base-images", "buildx"];
    const PUSH: &[&str] = &["docker", "base-images", "buildx", "signing"];
    let words: Vec<&str> = args.iter().copied().take_while(|a| *a != "--").collect();
    let positional: Vec<&str> = words.iter().skip(1).copied().filter(|a| !a.starts_with('-')).collect();
    let needs: &[&str] = match words.first().copied() {
        // Named components run pytest only; none named (or `xtask`) runs the xtask's tests too.
        Some("test") if args.contains(&"--") && !positional.contains(&"xtask") => &[],
        Some("test") if positional.is_empty() || positional.contains(&"xtask") => TESTS,
        Some("image") if words.get(1) == Some(&"build") && words.contains(&"--push") => PUSH,
        Some("image") if words.get(1) == Some(&"build") => BUILD,
        Some("image") if words.get(1) == Some(&"push") => &["docker", "signing"],
        Some("image") if words.get(1) == Some(&"sbom") => &["signing"],
        Some("image") => &["docker"],
        Some("deploy") => &["signing"],
        Some("preview") if words.get(1) == Some(&"up") && words.contains(&"--build") => PUSH,
        Some("preview") if words.get(1) == Some(&"up") => &["signing"],
        Some("ci") if words.contains(&"--plan") => &[],
        Some("ci") => {
            let only: Vec<&str> = only_stages(&words);
            let has = |s: &str| only.is_empty() || only.contains(&s);
            // The preview stage runs `preview up --pr N --build`: a push and a deploy.
            return match (has("test"), has("image") || has("preview"), has("deploy")) {
                (true, _, _) => TESTS.to_vec(),
                (false, true, _) => PUSH.to_vec(),
                (false, false, true) => vec!["signing"],
                _ => Vec::new(),
            };
        }
        _ => &[],
    };
    needs.to_vec()
}

/// The stages of `ci --only A,B` (`--only=A` too); empty: all of them.
fn only_stages<'a>(words: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let value = match w.strip_prefix("--only") {
            Some("") => words.get(i + 1).copied(),
            Some(v) => v.strip_prefix('='),
            None => None,
        };
        out.extend(value.into_iter().flat_map(|v| v.split(',')));
    }
    out
}

#[cfg(test)]
#[path = "services_tests.rs"]
mod tests;
