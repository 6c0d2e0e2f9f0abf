//! Per-component virtualenvs under `target/venvs/`, made on demand with uv
//! (or `python3 -m venv` + pip when uv is missing) and reused while their
//! inputs (pyprojects, pinned tools, interpreter) are unchanged.

use crate::component::{Component, Workspace};
use crate::error::UsageError;
use crate::exec::{self, Log, Prepare};
use crate::plan;
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use xshell::{cmd, Shell};

/// The oldest interpreter the components support.
const MIN_PYTHON: (u32, u32) = (3, 11);
/// The one file pinning every Python tool the pipeline runs.
pub const PINS: &str = "tools/python-tools.txt";
/// Bump when the way environments are built changes, so old ones are rebuilt.
const LAYOUT: &str = "xtask-venv-2";
const STAMP: &str = ".xtask-fingerprint";

#[derive(Debug, Clone)]
pub struct Interpreter {
    pub exe: PathBuf,
    pub version: String,
}

/// Find python3 (or `$XTASK_PYTHON`) and check it is new enough.
pub fn interpreter(sh: &Shell) -> Result<Interpreter> {
    let exe = match std::env::var_os("XTASK_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => which::which("python3").map_err(|_| {
            UsageError::new("python3 not found on PATH: install Python >= 3.11 (apt-get install python3 python3-venv) or set XTASK_PYTHON")
        })?,
    };
    // Ask the interpreter itself: PATH entries are often shims (pyenv) that
    // would tie the virtualenvs to whatever the shim picks next time.
    let probe = "import sys; print(*sys.version_info[:3], sep=chr(46)); print(sys.executable)";
    let out = cmd!(sh, "{exe} -c {probe}").quiet().read().map_err(|e| {
        UsageError::new(format!("cannot run {}: {e}; install Python >= 3.11 or set XTASK_PYTHON", exe.display()))
    })?;
    let mut lines = out.lines();
    let version = lines.next().unwrap_or_default().to_string();
    let exe = lines.next().filter(|l| !l.is_empty()).map(PathBuf::from).unwrap_or(exe);
    let mut parts = version.trim().split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if found < MIN_PYTHON {
        return Err(UsageError::new(format!(
            "{} is Python {}, too old: the pipeline needs Python >= {}.{} (install it, or point XTASK_PYTHON at one)",
            exe.display(),
            version.trim(),
            MIN_PYTHON.0,
            MIN_PYTHON.1
        )));
    }
    Ok(Interpreter { exe, version: version.trim().to_string() })
}

/// One virtualenv: where it lives and what goes in it.
#[derive(Debug, Clone)]
pub struct EnvSpec {
    pub name: String,
    pub dir: PathBuf,
    /// `pip install` arguments, relative to the repo root.
    pub install: Vec<String>,
    /// Files whose contents decide whether the environment is still good.
    pub inputs: Vec<PathBuf>,
}

impl EnvSpec {
    /// A component's test environment: itself (editable, with its test
    /// extra), its local component dependencies (editable) and pytest,
    /// all constrained by the pinned tool versions.
    pub fn for_tests(ws: &Workspace, c: &Component) -> EnvSpec {
        let mut install = Vec::new();
        let mut inputs = vec![ws.root.join(PINS)];
        let own = match &c.test_extra {
            Some(extra) => format!("./{}[{extra}]", c.path.display()),
            None => format!("./{}", c.path.display()),
        };
        install.extend(["-e".to_string(), own]);
        inputs.push(ws.root.join(&c.path).join("pyproject.toml"));
        for d in ws.test_closure(c) {
            install.extend(["-e".to_string(), format!("./{}", d.path.display())]);
            inputs.push(ws.root.join(&d.path).join("pyproject.toml"));
        }
        install.extend(["pytest".to_string(), "-c".to_string(), PINS.to_string()]);
        EnvSpec { name: c.name.clone(), dir: ws.root.join("target/venvs").join(&c.name), install, inputs }
    }

    /// A tools-only environment (no component), e.g. the linters: the
    /// named tools at their pinned versions.
    pub fn tools(ws: &Workspace, name: &str, tools: &[&str]) -> EnvSpec {
        let mut install: Vec<String> = tools.iter().map(|t| t.to_string()).collect();
        install.extend(["-c".to_string(), PINS.to_string()]);
        EnvSpec {
            name: name.to_string(),
            dir: ws.root.join("target/venvs").join(name),
            install,
            inputs: vec![ws.root.join(PINS)],
        }
    }

    /// The environment's resolved third-party packages (`pip freeze`, no
    /// editable installs), written when it is built: what the audit checks.
    pub fn lock_file(&self) -> PathBuf {
        self.dir.join("requirements.txt")
    }

    pub fn bin(&self, program: &str) -> PathBuf {
        self.dir.join("bin").join(program)
    }

    pub fn python(&self) -> PathBuf {
        self.dir.join("bin/python")
    }

    fn fingerprint(&self, py: &Interpreter, uv: Option<&Path>) -> Result<String> {
        let mut h = Sha256::new();
        h.update(LAYOUT);
        h.update(format!("{}\0{}\0{}\0", py.exe.display(), py.version, uv.is_some()));
        h.update(self.install.join("\0"));
        for f in &self.inputs {
            let bytes = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
            h.update(f.display().to_string());
            h.update(Sha256::digest(&bytes));
        }
        Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// The environments of one run, and how to build them.
pub struct Envs {
    pub root: PathBuf,
    /// Resolved on first use: a run whose tasks are all cached never starts Python.
    python: Mutex<Option<Interpreter>>,
    pub uv: Option<PathBuf>,
    specs: BTreeMap<String, EnvSpec>,
    /// One lock per environment: tasks sharing it wait for one build.
    locks: BTreeMap<String, Mutex<()>>,
}

impl Envs {
    pub fn new(root: &Path, specs: Vec<EnvSpec>) -> Envs {
        let uv = which::which("uv").ok();
        let locks = specs.iter().map(|s| (s.name.clone(), Mutex::new(()))).collect();
        let specs = specs.into_iter().map(|s| (s.name.clone(), s)).collect();
        Envs { root: root.to_path_buf(), python: Mutex::new(None), uv, specs, locks }
    }

    /// The interpreter, found (and checked) the first time it is wanted.
    pub fn python(&self) -> Result<Interpreter> {
        let mut found = self.python.lock().unwrap_or_else(|p| p.into_inner());
        if found.is_none() {
            *found = Some(interpreter(&Shell::new()?)?);
        }
        Ok(found.clone().expect("just resolved"))
    }

    pub fn spec(&self, name: &str) -> &EnvSpec {
        &self.specs[name]
    }

    fn fresh(&self, name: &str) -> Result<bool> {
        let spec = self.spec(name);
        let want = spec.fingerprint(&self.python()?, self.uv.as_deref())?;
        let have = std::fs::read_to_string(spec.dir.join(STAMP)).unwrap_or_default();
        Ok(have.trim() == want && spec.python().exists())
    }

    /// The commands that build the environment from nothing, run from the repo root.
    pub fn build_commands(&self, name: &str) -> Result<Vec<(PathBuf, Vec<String>)>> {
        let spec = self.spec(name);
        let dir = spec.dir.strip_prefix(&self.root).unwrap_or(&spec.dir).display().to_string();
        let py = format!("{dir}/bin/python");
        let python = self.python()?;
        let exe = python.exe.display().to_string();
        Ok(match &self.uv {
            Some(uv) => vec![
                (uv.clone(), vec!["venv".into(), "--quiet".into(), "--python".into(), exe, dir]),
                (
                    uv.clone(),
                    [vec!["pip".into(), "install".into(), "--python".into(), py], spec.install.clone()].concat(),
                ),
            ],
            None => vec![
                (python.exe.clone(), vec!["-m".into(), "venv".into(), dir]),
                (
                    self.root.join(&py),
                    [vec!["-m".into(), "pip".into(), "install".into(), "--quiet".into()], spec.install.clone()]
                        .concat(),
                ),
            ],
        })
    }
}

impl Prepare for Envs {
    fn label(&self, name: &str) -> String {
        format!("target/venvs/{name}")
    }

    /// Is the environment built and are its inputs unchanged?
    fn is_fresh(&self, name: &str) -> Result<bool> {
        self.fresh(name)
    }

    fn commands(&self, name: &str) -> Vec<String> {
        match self.build_commands(name) {
            Ok(cmds) => cmds.iter().map(|(p, a)| plan::command_line(&self.root, &self.root, &[], p, a)).collect(),
            Err(e) => vec![format!("# {e:#}")],
        }
    }

    /// The stamp written when the environment was built (interpreter,
    /// installer, pins, pyprojects), its resolved packages, and the
    /// interpreter binary behind it: read, never run.
    fn fingerprint(&self, name: &str) -> Option<String> {
        let spec = self.specs.get(name)?;
        let stamp = std::fs::read_to_string(spec.dir.join(STAMP)).unwrap_or_else(|_| "no stamp".into());
        let lock = crate::inputs::file_hash(&spec.lock_file()).unwrap_or_else(|| "no lock file".into());
        let python = crate::inputs::interpreter_stat(&spec.python());
        Some(format!("{}\n{lock}\n{python}", stamp.trim()))
    }

    fn check(&self) -> Result<()> {
        self.python().map(|_| ())
    }

    /// Make the environment ready, writing what happens to `log`.
    fn ensure(&self, name: &str, log: &mut Log) -> Result<()> {
        let _guard = self.locks[name].lock().unwrap_or_else(|p| p.into_inner());
        let start = std::time::Instant::now();
        if self.fresh(name)? {
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            log.note(&format!("environment target/venvs/{name} is up to date (checked in {ms:.1} ms)"));
            return Ok(());
        }
        let spec = self.spec(name);
        log.note(&format!("building environment target/venvs/{name}"));
        if spec.dir.exists() {
            std::fs::remove_dir_all(&spec.dir).with_context(|| format!("cannot remove {}", spec.dir.display()))?;
        }
        let sh = Shell::new()?;
        sh.change_dir(&self.root);
        for (program, args) in self.build_commands(name)? {
            let status = exec::run_logged(cmd!(sh, "{program} {args...}").into(), log)?;
            if !status.success() {
                bail!("building target/venvs/{name} failed ({status}): see the output above");
            }
        }
        let py = spec.python();
        // uv says which environment it uses on stderr: kept out of the run's output unless it fails.
        let out = match &self.uv {
            Some(uv) => cmd!(sh, "{uv} pip freeze --python {py} --exclude-editable"),
            None => cmd!(sh, "{py} -m pip freeze --exclude-editable"),
        }
        .quiet()
        .ignore_status()
        .output()
        .with_context(|| format!("cannot list the packages of target/venvs/{name}"))?;
        if !out.status.success() {
            bail!("cannot list the packages of target/venvs/{name}: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        let frozen = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
        crate::fsutil::write_atomic(&spec.lock_file(), format!("{frozen}\n").as_bytes())?;
        let fp = spec.fingerprint(&self.python()?, self.uv.as_deref())?;
        crate::fsutil::write_atomic(&spec.dir.join(STAMP), fp.as_bytes())
    }
}
