//! Build contexts for images: the component's wheels and its local
//! component dependencies' (rebuilt every time, they are the code), and the
//! third-party wheels they need (reused while the pyprojects are unchanged,
//! so Docker's dependency layer stays cached). The Dockerfile needs no network.

use crate::component::{Component, Workspace};
use crate::exec::{self, Log, Prepare};
use crate::fsutil::write_atomic;
use crate::plan;
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use xshell::{cmd, Shell};

pub struct Contexts {
    root: PathBuf,
    python: PathBuf,
    uv: Option<PathBuf>,
    /// Per component: (its folder, the folders of it and its run-time component dependencies, its Dockerfile).
    specs: BTreeMap<String, (Vec<PathBuf>, PathBuf)>,
}

pub fn dir(root: &Path, component: &str) -> PathBuf {
    root.join("target/xtask/image").join(component)
}

/// `c` and every component it needs at run time, transitively.
fn closure<'a>(ws: &'a Workspace, c: &'a Component) -> Vec<&'a Component> {
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

impl Contexts {
    pub fn new(ws: &Workspace, components: &[&Component], python: PathBuf) -> Contexts {
        let specs = components
            .iter()
            .filter_map(|c| {
                let dockerfile = c.dockerfile.clone()?;
                Some((c.name.clone(), (closure(ws, c).iter().map(|d| d.path.clone()).collect(), dockerfile)))
            })
            .collect();
        Contexts { root: ws.root.clone(), python, uv: which::which("uv").ok(), specs }
    }

    fn name<'a>(&self, need: &'a str) -> &'a str {
        need.strip_prefix("context:").unwrap_or(need)
    }

    /// Commands run from the repo root: (program, args).
    fn steps(&self, component: &str, with_deps: bool) -> Vec<(PathBuf, Vec<String>)> {
        let (folders, _) = &self.specs[component];
        let ctx = rel(&self.root, &dir(&self.root, component));
        let app = format!("{ctx}/wheels/app");
        let mut steps: Vec<(PathBuf, Vec<String>)> = folders
            .iter()
            .map(|f| match &self.uv {
                Some(uv) => {
                    (uv.clone(), strings(&["build", "--wheel", "--quiet", "--out-dir", &app, &f.display().to_string()]))
                }
                None => (
                    self.python.clone(),
                    strings(&[
                        "-m",
                        "pip",
                        "wheel",
                        "--quiet",
                        "--no-deps",
                        "--wheel-dir",
                        &app,
                        &f.display().to_string(),
                    ]),
                ),
            })
            .collect();
        if with_deps {
            // The local wheels are named as files, so their dependencies on each
            // other resolve to them and never to a same-named package on an index.
            let mut args = strings(&["-m", "pip", "wheel", "--quiet", "--wheel-dir", &format!("{ctx}/wheels/deps")]);
            args.push(format!("{app}/*.whl"));
            steps.push((self.python.clone(), args));
        }
        steps
    }

    fn deps_fingerprint(&self, component: &str) -> Result<String> {
        let (folders, _) = &self.specs[component];
        let mut h = Sha256::new();
        for f in folders {
            let p = self.root.join(f).join("pyproject.toml");
            h.update(std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?);
        }
        Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }

    fn deps_fresh(&self, component: &str) -> Result<bool> {
        let stamp = dir(&self.root, component).join("wheels/deps/.xtask-fingerprint");
        Ok(std::fs::read_to_string(stamp).unwrap_or_default() == self.deps_fingerprint(component)?)
    }
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
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

impl Prepare for Contexts {
    fn label(&self, need: &str) -> String {
        rel(&self.root, &dir(&self.root, self.name(need)))
    }

    /// The component's own wheels are rebuilt every time: never fresh.
    fn is_fresh(&self, _need: &str) -> Result<bool> {
        Ok(false)
    }

    fn commands(&self, need: &str) -> Vec<String> {
        let c = self.name(need);
        let with_deps = !self.deps_fresh(c).unwrap_or(false);
        self.steps(c, with_deps).iter().map(|(p, a)| plan::command_line(&self.root, &self.root, &[], p, a)).collect()
    }

    fn ensure(&self, need: &str, log: &mut Log) -> Result<()> {
        let c = self.name(need);
        let ctx = dir(&self.root, c);
        let (app, deps) = (ctx.join("wheels/app"), ctx.join("wheels/deps"));
        if app.exists() {
            std::fs::remove_dir_all(&app).with_context(|| format!("cannot clear {}", app.display()))?;
        }
        std::fs::create_dir_all(&app)?;
        let with_deps = !self.deps_fresh(c)?;
        if with_deps && deps.exists() {
            std::fs::remove_dir_all(&deps).with_context(|| format!("cannot clear {}", deps.display()))?;
        }
        log.note(&format!(
            "building {}: {}",
            self.label(need),
            if with_deps { "wheels and dependency wheels" } else { "wheels (dependency wheels are up to date)" }
        ));
        let sh = Shell::new()?;
        sh.change_dir(&self.root);
        let steps = self.steps(c, with_deps);
        let deps_step = with_deps.then(|| steps.len() - 1);
        for (i, (program, mut args)) in steps.into_iter().enumerate() {
            if Some(i) == deps_step {
                // The dependency step takes the app wheels just built, by name.
                args.pop();
                args.extend(wheels(&app)?.iter().map(|w| format!("{}/{w}", rel(&self.root, &app))));
            }
            let status = exec::run_logged(cmd!(sh, "{program} {args...}").into(), log)?;
            if !status.success() {
                bail!("preparing {} failed ({status}): see the output above", self.label(need));
            }
        }
        if with_deps {
            // pip wheel copies the app wheels in too; they belong in wheels/app only.
            let own = wheels(&app)?;
            let mut reqs = String::new();
            for w in wheels(&deps)? {
                if own.contains(&w) {
                    std::fs::remove_file(deps.join(&w))?;
                } else if let Some(r) = wheel_requirement(&w) {
                    reqs += &format!("{r}\n");
                }
            }
            write_atomic(&deps.join("requirements.txt"), reqs.as_bytes())?;
            write_atomic(&deps.join(".xtask-fingerprint"), self.deps_fingerprint(c)?.as_bytes())?;
        }
        let (_, dockerfile) = &self.specs[c];
        let text = std::fs::read(self.root.join(dockerfile))
            .with_context(|| format!("cannot read {}", dockerfile.display()))?;
        write_atomic(&ctx.join("Dockerfile"), &text)
    }
}
