//! Build contexts for images: the wheels of the component and of its local
//! component dependencies, and the third-party wheels they need. A wheel is
//! rebuilt only when its sources change (once per run, however many contexts
//! hold it), and the third-party wheels only when a pyproject in the closure
//! changes, so unchanged layers stay cached in Docker. The Dockerfile needs
//! no network. Wheels are built with SOURCE_DATE_EPOCH and every file of a
//! context carries that date, so the same sources give the same bytes.

use crate::component::{Component, Workspace};
use crate::exec::{self, Log, Prepare};
use crate::fsutil::write_atomic;
use crate::plan;
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use xshell::{cmd, Shell};

const STAMP: &str = ".xtask-fingerprint";

pub struct Contexts {
    root: PathBuf,
    python: PathBuf,
    uv: Option<PathBuf>,
    /// The source date (seconds since 1970) for wheels and the context's file times.
    epoch: i64,
    /// Per component: its closure as (name, folder) pairs, and its Dockerfile.
    specs: BTreeMap<String, (Vec<(String, PathBuf)>, PathBuf)>,
    /// Wheel builds write into the source folder (build/, *.egg-info): one at a time.
    building: Mutex<()>,
}

pub fn dir(root: &Path, component: &str) -> PathBuf {
    root.join("target/xtask/image").join(component)
}

fn wheel_dir(root: &Path, component: &str) -> PathBuf {
    root.join("target/xtask/wheels").join(component)
}

/// `c` and every component it needs at run time, transitively.
pub fn closure<'a>(ws: &'a Workspace, c: &'a Component) -> Vec<&'a Component> {
    let mut out = vec![c];
    let mut i = 0;
    while i < out.len() {
        for d in &out[i].depends_on {
            if let Some(d) = ws.get(d) {
                if !out.iter().any(|o| o.name == d.name) {
                    out.push(d);
                }
            }
        }
        i += 1;
    }
    out
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// A glob a POSIX shell expands: the folder quoted when it must be, the pattern never.
fn glob(dir: &str, pattern: &str) -> String {
    format!("{}/{pattern}", plan::quote(dir))
}

/// Give every file and folder under `dir` the modification time `epoch`.
fn set_times(dir: &Path, epoch: i64) -> Result<()> {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch.max(0) as u64);
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let f = std::fs::File::open(entry.path()).with_context(|| format!("cannot open {}", entry.path().display()))?;
        f.set_modified(time).with_context(|| format!("cannot set the time of {}", entry.path().display()))?;
    }
    Ok(())
}

fn hex(h: Sha256) -> String {
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `name==version` from a wheel's file name (`name-version-tags.whl`).
pub fn wheel_requirement(file: &str) -> Option<String> {
    let mut parts = file.strip_suffix(".whl")?.split('-');
    Some(format!("{}=={}", parts.next()?, parts.next()?))
}

fn wheels(dir: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".whl"))
        .collect();
    names.sort();
    Ok(names)
}

fn fresh(dir: &Path, want: &str) -> bool {
    std::fs::read_to_string(dir.join(STAMP)).is_ok_and(|have| have == want)
}

fn recreate(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

impl Contexts {
    pub fn new(ws: &Workspace, components: &[&Component], python: PathBuf, epoch: i64) -> Contexts {
        let specs = components
            .iter()
            .filter_map(|c| {
                let dockerfile = c.dockerfile.clone()?;
                let members = closure(ws, c).iter().map(|d| (d.name.clone(), d.path.clone())).collect();
                Some((c.name.clone(), (members, dockerfile)))
            })
            .collect();
        Contexts { root: ws.root.clone(), python, uv: which::which("uv").ok(), epoch, specs, building: Mutex::new(()) }
    }

    fn name<'a>(&self, need: &'a str) -> &'a str {
        need.strip_prefix("context:").unwrap_or(need)
    }

    /// What a component's wheel is made from: its pyproject, README and `src/`.
    fn source_fingerprint(&self, folder: &Path) -> Result<String> {
        let mut h = Sha256::new();
        let dir = self.root.join(folder);
        let mut files: Vec<PathBuf> =
            ["pyproject.toml", "README.md"].iter().map(|f| dir.join(f)).filter(|p| p.is_file()).collect();
        let src = walkdir::WalkDir::new(dir.join("src")).sort_by_file_name().into_iter().filter_entry(|e| {
            let n = e.file_name().to_string_lossy();
            !(n == "__pycache__" || n.ends_with(".egg-info"))
        });
        for entry in src {
            let entry = entry.with_context(|| format!("cannot read {}/src", folder.display()))?;
            if entry.file_type().is_file() {
                files.push(entry.into_path());
            }
        }
        for f in files {
            h.update(f.strip_prefix(&dir).unwrap_or(&f).display().to_string());
            h.update(Sha256::digest(std::fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?));
        }
        Ok(hex(h))
    }

    fn deps_fingerprint(&self, component: &str) -> Result<String> {
        let (members, _) = &self.specs[component];
        let mut h = Sha256::new();
        h.update(self.python.display().to_string());
        for (_, folder) in members {
            let p = self.root.join(folder).join("pyproject.toml");
            h.update(std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?);
        }
        Ok(hex(h))
    }

    /// Wheel builds date their files by SOURCE_DATE_EPOCH: the same sources, the same wheel.
    fn env(&self) -> Vec<(String, String)> {
        vec![("SOURCE_DATE_EPOCH".into(), self.epoch.to_string())]
    }

    fn wheel_command(&self, name: &str, folder: &Path) -> (PathBuf, Vec<String>) {
        let out = rel(&self.root, &wheel_dir(&self.root, name));
        let folder = folder.display().to_string();
        match &self.uv {
            Some(uv) => {
                (uv.clone(), ["build", "--wheel", "--quiet", "--out-dir", &out, &folder].map(String::from).to_vec())
            }
            None => (
                self.python.clone(),
                ["-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", &out, &folder].map(String::from).to_vec(),
            ),
        }
    }

    /// pip resolves the third-party wheels from the app wheels, named as files,
    /// so a component dependency never resolves to a same-named package on an index.
    fn deps_command(&self, component: &str, app_wheels: Vec<String>) -> (PathBuf, Vec<String>) {
        let deps = rel(&self.root, &dir(&self.root, component).join("wheels/deps"));
        let mut args = ["-m", "pip", "wheel", "--quiet", "--wheel-dir", &deps].map(String::from).to_vec();
        args.extend(app_wheels);
        (self.python.clone(), args)
    }

    fn run(
        &self,
        sh: &Shell,
        (program, args): (PathBuf, Vec<String>),
        log: &mut Log,
    ) -> Result<std::process::ExitStatus> {
        let cmd = self.env().into_iter().fold(cmd!(sh, "{program} {args...}"), |c, (k, v)| c.env(k, v));
        exec::run_logged(cmd.into(), log)
    }

    /// Build a component's wheel into `target/xtask/wheels/<name>/` unless its sources are unchanged.
    fn ensure_wheel(&self, sh: &Shell, name: &str, folder: &Path, log: &mut Log) -> Result<PathBuf> {
        let _one_at_a_time = self.building.lock().unwrap_or_else(|p| p.into_inner());
        let out = wheel_dir(&self.root, name);
        let want = self.source_fingerprint(folder)?;
        if !(fresh(&out, &want) && wheels(&out).is_ok_and(|w| w.len() == 1)) {
            recreate(&out)?;
            let status = self.run(sh, self.wheel_command(name, folder), log)?;
            if !status.success() {
                bail!("building the wheel of {} failed ({status}): see the output above", folder.display());
            }
            write_atomic(&out.join(STAMP), want.as_bytes())?;
        }
        let wheel =
            wheels(&out)?.into_iter().next().with_context(|| format!("no wheel was built in {}", out.display()))?;
        Ok(out.join(wheel))
    }
}

impl Prepare for Contexts {
    fn label(&self, need: &str) -> String {
        rel(&self.root, &dir(&self.root, self.name(need)))
    }

    /// The wheels are copied in anew every run: never fresh.
    fn is_fresh(&self, _need: &str) -> Result<bool> {
        Ok(false)
    }

    /// What `ensure` does, as commands a POSIX shell runs as printed.
    fn commands(&self, need: &str) -> Vec<String> {
        let c = self.name(need);
        let (members, dockerfile) = &self.specs[c];
        let env = self.env();
        let line = |(p, a): (PathBuf, Vec<String>)| plan::command_line(&self.root, &self.root, &env, &p, &a);
        let q = |p: &Path| plan::quote(&rel(&self.root, p));
        let mut lines = Vec::new();
        for (name, folder) in members {
            let out = wheel_dir(&self.root, name);
            if !fresh(&out, &self.source_fingerprint(folder).unwrap_or_default()) {
                lines.push(format!("rm -rf {}", q(&out)));
                lines.push(line(self.wheel_command(name, folder)));
            }
        }
        let ctx = dir(&self.root, c);
        let (app, deps) = (ctx.join("wheels/app"), ctx.join("wheels/deps"));
        lines.push(format!("rm -rf {}", q(&app)));
        lines.push(format!("mkdir -p {}", q(&app)));
        for (name, _) in members {
            lines.push(format!("cp {} {}/", glob(&rel(&self.root, &wheel_dir(&self.root, name)), "*.whl"), q(&app)));
        }
        if !fresh(&deps, &self.deps_fingerprint(c).unwrap_or_default()) {
            let (app_rel, deps_rel) = (rel(&self.root, &app), q(&deps));
            lines.push(format!("rm -rf {deps_rel}"));
            lines.push(line(self.deps_command(c, vec![])) + " " + &glob(&app_rel, "*.whl"));
            // pip copies the app wheels in too: they belong in wheels/app only.
            lines.push(format!("for w in {}; do rm -f {deps_rel}/\"${{w##*/}}\"; done", glob(&app_rel, "*.whl")));
            lines.push(format!(
                "LC_ALL=C ls {deps_rel} | sed -n 's/^\\([^-]*\\)-\\([^-]*\\)-.*\\.whl$/\\1==\\2/p' > {deps_rel}/requirements.txt"
            ));
        }
        lines.push(format!("cp {} {}", q(&self.root.join(dockerfile)), q(&ctx.join("Dockerfile"))));
        lines.push(format!("find {} -exec touch -d {} {{}} +", q(&ctx), crate::clock::rfc3339(self.epoch)));
        lines
    }

    fn ensure(&self, need: &str, log: &mut Log) -> Result<()> {
        let c = self.name(need);
        let (members, dockerfile) = &self.specs[c];
        let ctx = dir(&self.root, c);
        let (app, deps) = (ctx.join("wheels/app"), ctx.join("wheels/deps"));
        let sh = Shell::new()?;
        sh.change_dir(&self.root);
        recreate(&app)?;
        for (name, folder) in members {
            let wheel = self.ensure_wheel(&sh, name, folder, log)?;
            let file = wheel.file_name().context("a wheel has a file name")?;
            std::fs::copy(&wheel, app.join(file)).with_context(|| format!("cannot copy {}", wheel.display()))?;
        }
        let want = self.deps_fingerprint(c)?;
        if fresh(&deps, &want) {
            log.note(&format!("{} is up to date", rel(&self.root, &deps)));
        } else {
            recreate(&deps)?;
            let own = wheels(&app)?;
            let paths = own.iter().map(|w| format!("{}/{w}", rel(&self.root, &app))).collect();
            let status = self.run(&sh, self.deps_command(c, paths), log)?;
            if !status.success() {
                bail!("collecting the dependency wheels of {c} failed ({status}): see the output above");
            }
            // pip wheel copies the app wheels in too; they belong in wheels/app only.
            let mut reqs = String::new();
            for w in wheels(&deps)? {
                if own.contains(&w) {
                    std::fs::remove_file(deps.join(&w))?;
                } else if let Some(r) = wheel_requirement(&w) {
                    reqs += &format!("{r}\n");
                }
            }
            write_atomic(&deps.join("requirements.txt"), reqs.as_bytes())?;
            write_atomic(&deps.join(STAMP), want.as_bytes())?;
        }
        let text = std::fs::read(self.root.join(dockerfile))
            .with_context(|| format!("cannot read {}", dockerfile.display()))?;
        write_atomic(&ctx.join("Dockerfile"), &text)?;
        set_times(&ctx, self.epoch)
    }
}
