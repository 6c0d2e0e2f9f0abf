//! The base images the Dockerfiles start FROM:
//!   local/python:3.11-bookworm       Debian bookworm + python3, venv, ca-certificates
//!   local/python-jre:3.11-bookworm   the same + a headless JRE (spark)
//! Here no hub can be reached, so their root filesystems come from
//! debootstrap against the machine's own Debian mirror, cached as tarballs
//! keyed by suite and packages (re-importing after the engine lost its
//! images takes seconds). On GitHub they come from the hub: Python's
//! bookworm image, and the JRE installed over it. Either way each is also
//! exported as an OCI layout (`layout`), the form the image stage hands a
//! builder its base in, so no builder needs to see the engine's images.

pub mod layout;

use crate::services::process;
use crate::services::state::Record;
use crate::services::{packages, Ctx, Service};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Instant;
use xshell::cmd;

pub struct BaseImages;

const NAME: &str = "base-images";
const SUITE: &str = "bookworm";
const PY_PACKAGES: &str = "python3,python3-venv,ca-certificates,passwd";
const JRE_PACKAGE: &str = "default-jre-headless";
/// The symlink default-jre-headless ships.
const JAVA_HOME: &str = "/usr/lib/jvm/default-java";
pub const PYTHON: &str = "local/python:3.11-bookworm";
pub const PYTHON_JRE: &str = "local/python-jre:3.11-bookworm";
/// What they are made from on GitHub.
pub const HUB_PYTHON: &str = "python:3.11-slim-bookworm";

/// A root filesystem's cache key: suite and packages (as the shell script had it, so its cache stays valid).
pub fn key(packages: &str) -> String {
    let digest = Sha256::digest(format!("{SUITE}|minbase|{packages}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect::<String>()[..12].to_string()
}

/// The JRE image over the hub's Python image, as a Dockerfile.
pub fn jre_dockerfile(from: &str) -> String {
    format!(
        "FROM {from}\nRUN apt-get update && apt-get install -y --no-install-recommends {JRE_PACKAGE} \
         && rm -rf /var/lib/apt/lists/*\nENV JAVA_HOME={JAVA_HOME}\n"
    )
}

fn image_id(cx: &Ctx, image: &str) -> Option<String> {
    let (sh, format) = (cx.sh, "{{.Id}}");
    cmd!(sh, "docker image inspect --format {format} {image}").quiet().ignore_stderr().read().ok()
}

/// Run `args` in `image`; its output, or an error with the first line of it.
fn run_in(cx: &Ctx, image: &str, args: &[&str]) -> Result<String> {
    let sh = cx.sh;
    let out = cmd!(sh, "docker run --rm {image} {args...}").quiet().ignore_status().output()?;
    let text =
        String::from_utf8_lossy(if out.stdout.is_empty() { &out.stderr } else { &out.stdout }).trim().to_string();
    if !out.status.success() {
        bail!("{image}: `{}` failed: {}", args.join(" "), text.lines().next().unwrap_or(""));
    }
    Ok(text)
}

/// What a base image must hold: Python 3.11 and useradd (the Dockerfiles add a user); java in the JRE image.
fn check(cx: &Ctx, image: &str, java: bool) -> Result<()> {
    let v = run_in(cx, image, &["python3", "--version"])?;
    if !v.starts_with("Python 3.11") {
        bail!("{image} runs {v}, not Python 3.11: remove it (docker rmi {image}) and run services up again");
    }
    run_in(cx, image, &["sh", "-c", "command -v useradd"])?;
    if java {
        run_in(cx, image, &["sh", "-c", "test -x \"$JAVA_HOME/bin/java\" && java -version"])?;
    }
    Ok(())
}

/// A work folder under the cache, removed (chroot mounts first) however the work ends.
struct Work {
    dir: PathBuf,
}

impl Work {
    fn new(cache: &Path) -> Result<Work> {
        let dir = cache.join(format!("work.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("rootfs")).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Work { dir })
    }

    fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    fn unmount(&self) {
        for m in ["proc", "dev"] {
            let at = self.rootfs().join(m);
            // SAFETY: umount2(2) on a path we mounted; failure (not mounted) is fine.
            if let Ok(c) = std::ffi::CString::new(at.as_os_str().as_encoded_bytes()) {
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        self.unmount();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Drop what an image does not need, then tar the root filesystem (temp file, then rename).
fn pack(cx: &Ctx, root: &Path, tarball: &Path) -> Result<()> {
    // (folder, file suffix): apt's lists and downloads, logs.
    let junk = [
        ("var/lib/apt/lists", ""),
        ("var/cache/apt/archives", ".deb"),
        ("var/cache/apt", ".bin"),
        ("var/log", ".log"),
        ("var/log/apt", ""),
    ];
    for (dir, suffix) in junk {
        for e in std::fs::read_dir(root.join(dir)).into_iter().flatten().flatten() {
            if e.path().is_file() && e.file_name().to_string_lossy().ends_with(suffix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    for f in ["etc/hostname", "etc/resolv.conf", "usr/sbin/policy-rc.d"] {
        let _ = std::fs::remove_file(root.join(f));
    }
    let tmp = tarball.with_extension("tar.tmp");
    let sh = cx.sh;
    cmd!(sh, "tar --numeric-owner -C {root} --exclude=./dev/* --exclude=./proc/* --exclude=./sys/* -cf {tmp} .")
        .quiet()
        .run()
        .with_context(|| format!("cannot pack {}", tarball.display()))?;
    std::fs::rename(&tmp, tarball).with_context(|| format!("cannot write {}", tarball.display()))
}

/// debootstrap's minbase with Python: the rootfs tarball, built once.
fn python_tarball(cx: &Ctx, cache: &Path) -> Result<PathBuf> {
    let tarball = cache.join(format!("python-{SUITE}-{}.tar", key(PY_PACKAGES)));
    if tarball.is_file() {
        return Ok(tarball);
    }
    cx.need_root("making the base images' root filesystem (debootstrap)")?;
    packages::ensure(cx, NAME, &[("debootstrap", "debootstrap")])?;
    let mirror = packages::mirror_here(SUITE)?;
    let work = Work::new(cache)?;
    let (root, debs) = (work.rootfs(), cache.join("debs"));
    std::fs::create_dir_all(&debs)?;
    cx.say(NAME, &format!("debootstrap {SUITE} minbase + {PY_PACKAGES} (the mirror in apt's sources) ..."));
    let t0 = Instant::now();
    let sh = cx.sh;
    let out =
        cmd!(sh, "debootstrap --variant=minbase --include={PY_PACKAGES} --cache-dir={debs} {SUITE} {root} {mirror}")
            .quiet()
            .ignore_status()
            .output()?;
    if !out.status.success() {
        let kept = cache.join("debootstrap-failed.log");
        std::fs::write(&kept, [out.stdout, out.stderr].concat())?;
        bail!("debootstrap failed; its log ends:\n{}\n(whole log: {})", process::tail(&kept, 10), kept.display());
    }
    pack(cx, &root, &tarball)?;
    cx.say(NAME, &format!("root filesystem made in {:.0}s", t0.elapsed().as_secs_f64()));
    Ok(tarball)
}

/// The Python rootfs plus the JRE, installed with apt in a chroot (cheaper than a second debootstrap).
fn jre_tarball(cx: &Ctx, cache: &Path) -> Result<PathBuf> {
    let tarball = cache.join(format!("python-jre-{SUITE}-{}.tar", key(&format!("{PY_PACKAGES}+{JRE_PACKAGE}"))));
    if tarball.is_file() {
        return Ok(tarball);
    }
    let python = python_tarball(cx, cache)?;
    cx.need_root("installing the JRE into a root filesystem (chroot)")?;
    let work = Work::new(cache)?;
    let root = work.rootfs();
    let sh = cx.sh;
    cmd!(sh, "tar --numeric-owner -C {root} -xf {python}").quiet().run()?;
    std::fs::copy("/etc/resolv.conf", root.join("etc/resolv.conf")).context("cannot copy /etc/resolv.conf")?;
    std::fs::write(root.join("usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 101\n")?;
    cmd!(sh, "chmod 0755 {root}/usr/sbin/policy-rc.d").quiet().run()?;
    cmd!(sh, "mount -t proc proc {root}/proc").quiet().run()?;
    cmd!(sh, "mount --bind /dev {root}/dev").quiet().run()?;
    cx.say(NAME, &format!("installing {JRE_PACKAGE} into a copy of the python root filesystem (chroot apt) ..."));
    let t0 = Instant::now();
    fn apt(c: xshell::Cmd) -> xshell::Result<std::process::Output> {
        c.env("DEBIAN_FRONTEND", "noninteractive").quiet().ignore_status().output()
    }
    let update = apt(cmd!(sh, "chroot {root} apt-get update -qq"))?;
    let install = if update.status.success() {
        apt(cmd!(sh, "chroot {root} apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-unsafe-io {JRE_PACKAGE}"))?
    } else {
        update
    };
    work.unmount();
    if !install.status.success() {
        let kept = cache.join("jre-install-failed.log");
        std::fs::write(&kept, [install.stdout, install.stderr].concat())?;
        bail!(
            "installing {JRE_PACKAGE} in the chroot failed; its log ends:\n{}\n(whole log: {})",
            process::tail(&kept, 10),
            kept.display()
        );
    }
    if !root.join(JAVA_HOME.trim_start_matches('/')).join("bin/java").exists() {
        bail!("{JAVA_HOME}/bin/java is missing after installing {JRE_PACKAGE}");
    }
    pack(cx, &root, &tarball)?;
    cx.say(NAME, &format!("JRE root filesystem made in {:.0}s", t0.elapsed().as_secs_f64()));
    Ok(tarball)
}

fn import(cx: &Ctx, image: &str, tarball: &Path, java: bool) -> Result<()> {
    let mut changes = vec![
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        "ENV LANG=C.UTF-8".into(),
        "CMD [\"python3\"]".into(),
    ];
    if java {
        changes.push(format!("ENV JAVA_HOME={JAVA_HOME}"));
    }
    let flags: Vec<String> = changes.iter().flat_map(|c| ["--change".to_string(), c.clone()]).collect();
    let sh = cx.sh;
    let t0 = Instant::now();
    cmd!(sh, "docker import {flags...} {tarball} {image}")
        .quiet()
        .ignore_stdout()
        .run()
        .with_context(|| format!("docker import of {image} failed"))?;
    cx.say(NAME, &format!("imported {image} in {:.1}s", t0.elapsed().as_secs_f64()));
    Ok(())
}

/// Make `image` when it is missing; whether it was made.
fn make(cx: &Ctx, image: &str, java: bool) -> Result<bool> {
    if image_id(cx, image).is_some() {
        return Ok(false);
    }
    let sh = cx.sh;
    if cx.github {
        if !java {
            cmd!(sh, "docker pull --quiet {HUB_PYTHON}").quiet().ignore_stdout().run()?;
            cmd!(sh, "docker tag {HUB_PYTHON} {image}").quiet().run()?;
        } else {
            let dockerfile = jre_dockerfile(HUB_PYTHON);
            cmd!(sh, "docker build --quiet -t {image} -").stdin(dockerfile).quiet().ignore_stdout().run()?;
        }
        cx.say(NAME, &format!("made {image} from {HUB_PYTHON}"));
        return Ok(true);
    }
    let cache = cx.dirs.cache_dir("XTASK_BASE_CACHE", "xtask-base");
    std::fs::create_dir_all(&cache).with_context(|| format!("cannot create {}", cache.display()))?;
    let tarball = if java { jre_tarball(cx, &cache)? } else { python_tarball(cx, &cache)? };
    import(cx, image, &tarball, java)?;
    Ok(true)
}

impl Service for BaseImages {
    fn name(&self) -> &'static str {
        NAME
    }

    fn needs(&self) -> &'static [&'static str] {
        &["docker"]
    }

    fn up(&self, cx: &Ctx) -> Result<Record> {
        let mut ids = Vec::new();
        for (image, java) in [(PYTHON, false), (PYTHON_JRE, true)] {
            let made = make(cx, image, java)?;
            let id = image_id(cx, image).with_context(|| format!("{image} is not there after making it"))?;
            // A new image, or another one than recorded, is run once to check it.
            let known = cx.recorded.is_some_and(|r| r.identity.contains(&id));
            if made || !known {
                check(cx, image, java)?;
            }
            ids.push(id);
        }
        // Each as an OCI layout, by image id: the image stage's builds take them as named contexts.
        let root = layout::root(cx.dirs);
        for image in [PYTHON, PYTHON_JRE] {
            let t0 = Instant::now();
            let made = layout::find(cx.sh, &root, image).is_none();
            let (dir, _) = layout::ensure(cx.sh, &root, image)?;
            if made {
                cx.say(
                    NAME,
                    &format!(
                        "exported {image} as an OCI layout in {:.1}s ({})",
                        t0.elapsed().as_secs_f64(),
                        dir.display()
                    ),
                );
            }
        }
        let pruned = layout::prune(&root, &ids);
        if pruned > 0 {
            cx.say(NAME, &format!("removed {pruned} layouts of earlier images from {}", root.display()));
        }
        // The same name here and on GitHub: builds find it as a named context, never in a registry.
        Ok(Record {
            summary: format!("{PYTHON}, {PYTHON_JRE} (OCI layouts in {})", root.display()),
            env: [("XTASK_BASE_IMAGE".to_string(), PYTHON.to_string())].into(),
            processes: Vec::new(),
            identity: ids.join(","),
        })
    }

    fn down(&self, cx: &Ctx, purge: bool) -> Result<String> {
        if purge {
            let root = layout::root(cx.dirs);
            let _ = std::fs::remove_dir_all(&root);
            return Ok(format!(
                "removed the OCI layouts {} (the images stay; `docker rmi` removes them)",
                root.display()
            ));
        }
        Ok("nothing to stop (the images stay; `docker rmi` removes them)".into())
    }

    fn status(&self, cx: &Ctx) -> Result<String, String> {
        let missing: Vec<&str> = [PYTHON, PYTHON_JRE].into_iter().filter(|i| image_id(cx, i).is_none()).collect();
        if missing.is_empty() {
            Ok(format!("{PYTHON}, {PYTHON_JRE} present"))
        } else {
            Err(format!("missing {}", missing.join(", ")))
        }
    }
}
