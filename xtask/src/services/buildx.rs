//! The `buildx` service: the image stage's builder, here and on GitHub
//! alike. buildx and buildkitd built from their Go modules (`buildx::build`),
//! a BuildKit image made from buildkitd, Debian's runc package and the local
//! base image (nothing pulled), and the builder (`buildx::builder`: a
//! BuildKit container on the host's network, so it reaches 127.0.0.1). On
//! GitHub the same, as the runner's user in its own folders (`Layout`). The
//! builder sees no engine image and mirrors no hub: the image stage hands
//! each build its base as an OCI layout (`base_images::layout`).

use crate::services::state::Record;
pub mod build;
pub mod builder;

use crate::services::{base_images, process, registry, Ctx, Dirs, Service};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use xshell::cmd;

pub struct Buildx;

const NAME: &str = "buildx";
const IMAGE: &str = "local/buildkit";
/// BuildKit's state (its layer cache) stays under this; its GC trims above it.
const KEEP_GB: u32 = 4;

/// Where the builder's files go and how its container runs on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The binaries, the runc package, the exported layer cache: `<cache>/xtask-buildx`.
    pub cache: PathBuf,
    /// The builder's own Docker config (credentials, plugin, builder): `<state>/xtask-buildx`.
    pub config: PathBuf,
    /// The container as setup-buildx-action runs it (GitHub), else the flags this machine allows.
    pub privileged: bool,
    /// Who owns buildkitd's socket: whoever runs `services up` (a runner's user is not root).
    pub owner: (u32, u32),
    /// runc's package from the base image's Debian sources (a runner's host is Ubuntu).
    pub runc_from_base: bool,
}

impl Layout {
    /// `XTASK_BUILDX_CACHE`/`XTASK_BUILDX_STATE` override the folders `dirs` gives.
    pub fn decide(dirs: &Dirs, github: bool, owner: (u32, u32), env: &dyn Fn(&str) -> Option<String>) -> Layout {
        let var = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        Layout {
            cache: var("XTASK_BUILDX_CACHE").unwrap_or_else(|| dirs.cache.join("xtask-buildx")),
            config: var("XTASK_BUILDX_STATE").unwrap_or_else(|| dirs.state.join("xtask-buildx")),
            privileged: github,
            owner,
            runc_from_base: github,
        }
    }

    pub fn here(cx: &Ctx) -> Layout {
        // SAFETY: getegid(2) has no preconditions and cannot fail.
        let gid = unsafe { libc::getegid() };
        Layout::decide(cx.dirs, cx.github, (cx.euid, gid), &|k| std::env::var(k).ok())
    }

    /// The exported `type=local` caches.
    pub fn layers(&self) -> PathBuf {
        self.cache.join("layers")
    }

    /// What later commands and tests read (on GitHub also through `$GITHUB_ENV`).
    pub fn env(&self) -> std::collections::BTreeMap<String, String> {
        [
            ("XTASK_BUILDX_CONFIG".to_string(), self.config.display().to_string()),
            ("XTASK_BUILDX_CACHE_DIR".to_string(), self.layers().display().to_string()),
        ]
        .into()
    }
}

/// `services key buildx`: the binaries' build key and folder, for actions/cache.
pub fn cache_entry(cx: &Ctx) -> Result<(String, PathBuf)> {
    let build = build::plan(cx.sh, cx.root, &Layout::here(cx).cache)?;
    Ok((build.key.clone(), build.out()))
}

/// Debian's runc package for the BuildKit image, downloaded once per
/// version into `<cache>/debs`: here from the host's apt (a Debian machine);
/// on a runner from the base image's own Debian sources, in a container of
/// it, since the host's (Ubuntu's) runc needs a newer libc than bookworm's.
fn runc_deb(cx: &Ctx, l: &Layout) -> Result<PathBuf> {
    if !l.runc_from_base {
        return download_runc(cx, &l.cache);
    }
    let debs = l.cache.join("debs-base");
    std::fs::create_dir_all(&debs).with_context(|| format!("cannot create {}", debs.display()))?;
    if let Some(p) = runc_in(&debs) {
        return Ok(p);
    }
    let sh = cx.sh;
    let (volume, owner, base) = (
        format!("--volume={}:/out", debs.display()),
        format!("--env=OWNER={}:{}", l.owner.0, l.owner.1),
        base_images::PYTHON,
    );
    // apt inside the container runs as its root: the file is handed to the runner's user.
    let script = "apt-get update -qq && apt-get download -qq runc && chown \"$OWNER\" runc_*.deb";
    let out = cmd!(sh, "docker run --rm --network=host {volume} --workdir=/out {owner} {base} sh -c {script}")
        .quiet()
        .ignore_status()
        .output()?;
    if !out.status.success() {
        bail!(
            "downloading Debian's runc in {base} failed: {}",
            String::from_utf8_lossy(&out.stderr).lines().rfind(|l| !l.trim().is_empty()).unwrap_or("").trim()
        );
    }
    runc_in(&debs).context("apt-get download runc in the base image left no runc_*.deb")
}

/// A downloaded runc package in `dir`, if any.
fn runc_in(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).find(|p| {
        let n = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        n.starts_with("runc_") && n.ends_with(".deb")
    })
}

/// The version `apt-cache policy` would install; None when apt knows none.
fn candidate_of(policy: &str) -> Option<String> {
    let c = policy.lines().find_map(|l| l.trim().strip_prefix("Candidate:")).map(str::trim)?;
    (!c.is_empty() && c != "(none)").then(|| c.to_string())
}

fn download_runc(cx: &Ctx, dir: &Path) -> Result<PathBuf> {
    let sh = cx.sh;
    let policy = || candidate_of(&cmd!(sh, "apt-cache policy runc").quiet().read().unwrap_or_default());
    let mut candidate = policy();
    // A fresh machine's apt has no package lists until someone updates them.
    if candidate.is_none() && cx.euid == 0 {
        cx.say(NAME, "apt knows no runc yet: apt-get update");
        let _ = cmd!(sh, "apt-get update -qq").env("DEBIAN_FRONTEND", "noninteractive").quiet().ignore_stdout().run();
        candidate = policy();
    }
    let Some(candidate) = candidate else {
        bail!("apt knows no runc package: run `apt-get update`, then services up again");
    };
    let candidate = candidate.as_str();
    let debs = dir.join("debs");
    std::fs::create_dir_all(&debs)?;
    let found = |v: &str| {
        std::fs::read_dir(&debs).ok()?.flatten().map(|e| e.path()).find(|p| {
            let n = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            n.starts_with("runc_") && n.contains(&v.replace(':', "%3a")) && n.ends_with(".deb")
        })
    };
    if let Some(p) = found(candidate) {
        return Ok(p);
    }
    let _dir = sh.push_dir(&debs);
    let pkg = format!("runc={candidate}");
    let out = cmd!(sh, "apt-get download {pkg}").quiet().ignore_status().output()?;
    if !out.status.success() {
        bail!("apt-get download {pkg} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    found(candidate).context("apt-get download runc left no runc_*.deb")
}

/// The BuildKit image's tag: BuildKit's version and a hash of the binaries' key, the runc package and the base.
fn image_tag(build: &build::Plan, runc: &Path, base_id: &str) -> String {
    let text = format!("{}\n{}\n{base_id}\n", build.key, runc.file_name().unwrap_or_default().to_string_lossy());
    let d = Sha256::digest(text.as_bytes());
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("{IMAGE}:{}-{}", build.versions.buildkit, &hex[..12])
}

/// Build the BuildKit image unless the engine has it.
fn ensure_image(cx: &Ctx, l: &Layout, build: &build::Plan, bin: &Path) -> Result<String> {
    let sh = cx.sh;
    let format = "{{.Id}}";
    let base = base_images::PYTHON;
    let base_id = cmd!(sh, "docker image inspect --format {format} {base}").quiet().read()?;
    let runc = runc_deb(cx, l)?;
    let tag = image_tag(build, &runc, base_id.trim());
    if cmd!(sh, "docker image inspect {tag}").quiet().ignore_stdout().ignore_stderr().run().is_ok() {
        return Ok(tag);
    }
    cx.say(NAME, &format!("building the BuildKit image {tag} (buildkitd, Debian's runc, on {base})"));
    let ctx = build.cache.join(format!(".image-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&ctx);
    std::fs::create_dir_all(&ctx)?;
    let result = (|| -> Result<()> {
        for b in ["buildkitd", "buildctl"] {
            std::fs::copy(bin.join(b), ctx.join(b))?;
        }
        std::fs::copy(&runc, ctx.join("runc.deb"))?;
        std::fs::copy(build.pins.join("buildkit/Dockerfile"), ctx.join("Dockerfile"))?;
        let arg = format!("BASE_IMAGE={base}");
        let out = cmd!(sh, "docker build --quiet --build-arg {arg} --tag {tag} {ctx}")
            .quiet()
            .ignore_status()
            .env("DOCKER_BUILDKIT", "0")
            .output()?;
        if !out.status.success() {
            bail!("building the BuildKit image failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&ctx);
    result.map(|_| tag)
}

/// The builder's Docker config: credentials for the loopback registry, the plugin, buildkitd's file.
fn write_config(cx: &Ctx, l: &Layout, bin: &Path, addr: &str) -> Result<PathBuf> {
    let dir = &l.config;
    std::fs::create_dir_all(dir.join("cli-plugins")).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let pw_file = registry::password_file(cx);
    let pw = std::fs::read_to_string(&pw_file).with_context(|| format!("cannot read {}", pw_file.display()))?;
    let config = dir.join("config.json");
    // buildx keeps its builders under buildx/, not here: rewriting the credentials keeps them.
    crate::fsutil::write_atomic(&config, builder::docker_config(addr, registry::USER, pw.trim()).as_bytes())?;
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600))?;
    let plugin = dir.join("cli-plugins/docker-buildx");
    let _ = std::fs::remove_file(&plugin);
    std::os::unix::fs::symlink(bin.join("docker-buildx"), &plugin)?;
    let toml = dir.join("buildkitd.toml");
    crate::fsutil::write_atomic(&toml, builder::buildkitd_toml(addr, KEEP_GB, l.owner).as_bytes())?;
    Ok(toml)
}

impl Service for Buildx {
    fn name(&self) -> &'static str {
        NAME
    }

    fn needs(&self) -> &'static [&'static str] {
        &["docker", "registry", "base-images"]
    }

    fn has_build(&self) -> bool {
        true
    }

    fn build(&self, cx: &Ctx) -> Result<()> {
        build::ensure(cx, &build::plan(cx.sh, cx.root, &Layout::here(cx).cache)?).map(drop)
    }

    fn up(&self, cx: &Ctx) -> Result<Record> {
        let sh = cx.sh;
        let l = Layout::here(cx);
        let build = build::plan(sh, cx.root, &l.cache)?;
        let bin = build::ensure(cx, &build)?;
        let image = ensure_image(cx, &l, &build, &bin)?;
        let addr = registry::addr();
        let toml = write_config(cx, &l, &bin, &addr)?;
        let spec = builder::Spec {
            name: builder::NAME.into(),
            image: image.clone(),
            buildkitd_config: toml,
            privileged: l.privileged,
        };
        // A builder made with other run flags (or none) is recreated from this spec.
        if let Some(old) = builder::read_spec(&l.config).filter(|old| old.privileged != spec.privileged) {
            builder::remove(sh, &l.config, &old);
        }
        builder::write_spec(&l.config, &spec)?;
        builder::ensure(sh, &l.config, &|line| cx.say(NAME, line))?;
        let v = &build.versions;
        let processes = builder::pid(sh, &spec).and_then(|p| process::proc_of("buildkitd", p)).into_iter().collect();
        Ok(Record {
            summary: format!(
                "builder {} (BuildKit container{}, buildx {}, BuildKit {}, image {image}), config {}",
                builder::NAME,
                if l.privileged { " run as setup-buildx-action's driver runs it" } else { "" },
                v.buildx,
                v.buildkit,
                l.config.display()
            ),
            env: l.env(),
            processes,
            identity: format!("{} {image}", build.key),
        })
    }

    fn down(&self, cx: &Ctx, purge: bool) -> Result<String> {
        let l = Layout::here(cx);
        let mut line = match builder::read_spec(&l.config) {
            Some(spec) => {
                builder::remove(cx.sh, &l.config, &spec);
                format!("removed the builder {}", spec.name)
            }
            None => "no builder".to_string(),
        };
        if purge {
            let _ = std::fs::remove_dir_all(l.layers());
            line += &format!("; removed the exported layer cache {}", l.layers().display());
        }
        Ok(line)
    }

    fn status(&self, cx: &Ctx) -> Result<String, String> {
        let dir = Layout::here(cx).config;
        let spec = builder::read_spec(&dir).ok_or("no builder made yet")?;
        builder::check(cx.sh, &dir, &spec.name).map(|_| format!("builder {} running {}", spec.name, spec.image))
    }
}

#[cfg(test)]
#[path = "buildx_tests.rs"]
mod tests;
