//! The `buildx` service: the image stage's builder, as on GitHub. Here:
//! buildx and buildkitd built from their Go modules (`buildx_build`), a
//! BuildKit image made from buildkitd, Debian's runc package and the local
//! base image (nothing pulled), the base images pushed to the loopback
//! registry (BuildKit pulls its bases from a registry: that one is its hub
//! mirror), and the builder (`buildx_builder`: a BuildKit container on the
//! host's network, so it reaches 127.0.0.1). On GitHub
//! `docker/setup-buildx-action` provides all of it; this only checks it is there.

use crate::services::state::Record;
use crate::services::{base_images, buildx_build, buildx_builder as builder, process, registry, Ctx, Service};
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

/// The binaries and the BuildKit image's builds: `<cache>/xtask-buildx`.
pub fn cache(cx: &Ctx) -> PathBuf {
    cx.dirs.cache_dir("XTASK_BUILDX_CACHE", "xtask-buildx")
}

/// The builder's own Docker config (credentials, plugin, builder): `<state>/xtask-buildx`.
pub fn config_dir(cx: &Ctx) -> PathBuf {
    cx.dirs.state_dir("XTASK_BUILDX_STATE", "xtask-buildx")
}

/// Debian's runc package, downloaded once per version into `dir`.
fn runc_deb(cx: &Ctx, dir: &Path) -> Result<PathBuf> {
    let sh = cx.sh;
    let version = cmd!(sh, "apt-cache policy runc").quiet().read().unwrap_or_default();
    let candidate = version.lines().find_map(|l| l.trim().strip_prefix("Candidate:")).map(str::trim).unwrap_or("");
    if candidate.is_empty() || candidate == "(none)" {
        bail!("apt knows no runc package: run `apt-get update`, then services up again");
    }
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
fn image_tag(build: &buildx_build::Plan, runc: &Path, base_id: &str) -> String {
    let text = format!("{}\n{}\n{base_id}\n", build.key, runc.file_name().unwrap_or_default().to_string_lossy());
    let d = Sha256::digest(text.as_bytes());
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("{IMAGE}:{}-{}", build.versions.buildkit, &hex[..12])
}

/// Build the BuildKit image unless the engine has it.
fn ensure_image(cx: &Ctx, build: &buildx_build::Plan, bin: &Path) -> Result<String> {
    let sh = cx.sh;
    let format = "{{.Id}}";
    let base = base_images::PYTHON;
    let base_id = cmd!(sh, "docker image inspect --format {format} {base}").quiet().read()?;
    let runc = runc_deb(cx, &build.cache)?;
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
fn write_config(cx: &Ctx, dir: &Path, bin: &Path, addr: &str) -> Result<PathBuf> {
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
    crate::fsutil::write_atomic(&toml, builder::buildkitd_toml(addr, KEEP_GB).as_bytes())?;
    Ok(toml)
}

/// Push the base images to the loopback registry under their own names (the builder's hub mirror).
fn push_bases(cx: &Ctx, config: &Path, addr: &str) -> Result<()> {
    let sh = cx.sh;
    for base in [base_images::PYTHON, base_images::PYTHON_JRE] {
        let mirrored = format!("{addr}/{base}");
        cmd!(sh, "docker tag {base} {mirrored}").quiet().run()?;
        cmd!(sh, "docker push {mirrored}")
            .quiet()
            .ignore_stdout()
            .env("DOCKER_CONFIG", config)
            .run()
            .with_context(|| format!("cannot push {base} to {addr}"))?;
    }
    Ok(())
}

impl Service for Buildx {
    fn name(&self) -> &'static str {
        NAME
    }

    fn needs(&self) -> &'static [&'static str] {
        &["docker", "registry", "base-images"]
    }

    fn up(&self, cx: &Ctx) -> Result<Record> {
        let sh = cx.sh;
        if cx.github {
            // setup-buildx-action installs the plugin and makes its builder current;
            // without it the image stage falls back to `docker build` (and says so).
            let summary = match builder::version(sh, None) {
                Ok(v) => format!("buildx {v}, docker/setup-buildx-action's builder"),
                Err(e) => e.unwrap_or_else(|| "docker buildx is missing: add a docker/setup-buildx-action step".into()),
            };
            return Ok(Record { summary, ..Record::default() });
        }
        let build = buildx_build::plan(sh, cx.root, &cache(cx))?;
        let bin = buildx_build::ensure(cx, &build)?;
        let image = ensure_image(cx, &build, &bin)?;
        let addr = registry::addr();
        let dir = config_dir(cx);
        let toml = write_config(cx, &dir, &bin, &addr)?;
        push_bases(cx, &dir, &addr)?;
        let spec = builder::Spec { name: builder::NAME.into(), image: image.clone(), buildkitd_config: toml };
        builder::write_spec(&dir, &spec)?;
        builder::ensure(sh, &dir, &|line| cx.say(NAME, line))?;
        let v = &build.versions;
        let processes = builder::pid(sh, &spec).and_then(|p| process::proc_of("buildkitd", p)).into_iter().collect();
        let layers = cache(cx).join("layers");
        Ok(Record {
            summary: format!(
                "builder {} (BuildKit container, buildx {}, BuildKit {}, image {image}), config {}",
                builder::NAME,
                v.buildx,
                v.buildkit,
                dir.display()
            ),
            env: [
                ("XTASK_BUILDX_CONFIG".to_string(), dir.display().to_string()),
                ("XTASK_BUILDX_CACHE_DIR".to_string(), layers.display().to_string()),
            ]
            .into(),
            processes,
            identity: format!("{} {image}", build.key),
        })
    }

    fn down(&self, cx: &Ctx, purge: bool) -> Result<String> {
        if cx.github {
            return Ok("nothing to stop (docker/setup-buildx-action's builder)".into());
        }
        let dir = config_dir(cx);
        let mut line = match builder::read_spec(&dir) {
            Some(spec) => {
                builder::remove(cx.sh, &dir, &spec);
                format!("removed the builder {}", spec.name)
            }
            None => "no builder".to_string(),
        };
        if purge {
            let layers = cache(cx).join("layers");
            let _ = std::fs::remove_dir_all(&layers);
            line += &format!("; removed the exported layer cache {}", layers.display());
        }
        Ok(line)
    }

    fn status(&self, cx: &Ctx) -> Result<String, String> {
        if cx.github {
            return builder::version(cx.sh, None)
                .map(|v| format!("buildx {v}"))
                .map_err(|e| e.unwrap_or("docker buildx is missing".into()));
        }
        let dir = config_dir(cx);
        let spec = builder::read_spec(&dir).ok_or("no builder made yet")?;
        builder::check(cx.sh, &dir, &spec.name).map(|_| format!("builder {} running {}", spec.name, spec.image))
    }
}
