//! Small fixture monorepos in temp dirs, and the built xtask run against them.

#![allow(dead_code)] // each test file uses its own part of this

pub mod buildx;
pub mod cluster;
pub mod deploy;
pub mod fixture_ns;
pub mod git;
pub mod images;
pub mod node;
pub mod platform;
pub mod python_image;
pub mod registry;
pub mod signed;

pub use cluster::{cluster, Cluster};
pub use git::git;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Repo {
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Repo {
    /// An empty monorepo carrying the real pinned tool versions.
    pub fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let pins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/python-tools.txt");
        fs::create_dir_all(dir.path().join("tools")).unwrap();
        fs::copy(pins, dir.path().join("tools/python-tools.txt")).unwrap();
        fs::create_dir_all(dir.path().join("components")).unwrap();
        Repo { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.root().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    /// A Python component with a package `<name>_pkg` and the given test files.
    pub fn component(&self, name: &str, deps: &[&str], tests: &[(&str, &str)]) {
        let deps: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
        self.write(
            &format!("components/{name}/pyproject.toml"),
            &format!(
                "[build-system]\nrequires = [\"setuptools>=68\"]\nbuild-backend = \"setuptools.build_meta\"\n\n\
                 [project]\nname = \"fx-{name}\"\nversion = \"0.1.0\"\ndependencies = [{}]\n",
                deps.join(", ")
            ),
        );
        self.write(&format!("components/{name}/src/{name}_pkg/__init__.py"), "def answer() -> int:\n    return 42\n");
        for (file, body) in tests {
            self.write(&format!("components/{name}/tests/{file}"), body);
        }
    }

    pub fn passing(&self, name: &str) {
        let body = format!("from {name}_pkg import answer\n\n\ndef test_answer():\n    assert answer() == 42\n\n\ndef test_more():\n    assert True\n");
        self.component(name, &[], &[("test_ok.py", &body)]);
    }

    pub fn failing(&self, name: &str) {
        let body = "def test_good():\n    assert True\n\n\ndef test_bad():\n    assert 1 == 2, 'planted failure'\n";
        self.component(name, &[], &[("test_bad.py", body)]);
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(args).current_dir(self.root());
        // The caller's CI settings (GitHub, registries, base images) must not leak into fixtures.
        for (var, _) in std::env::vars() {
            // A trace or collector of the caller's too: each test sets its own.
            if ["GITHUB_", "XTASK_", "DOCKER_HUB_", "RUNNER_", "OTEL_", "TRACEPARENT"]
                .iter()
                .any(|p| var.starts_with(p))
            {
                cmd.env_remove(var);
            }
        }
        // Its own services record, never the machine's: a fixture sees only what its test records.
        cmd.env("XTASK_SERVICES_FILE", self.path("target/xtask/services.json"));
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        run(self.command(args))
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
    }
}

pub fn run(mut cmd: Command) -> Run {
    let Output { status, stdout, stderr } = cmd.output().unwrap();
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    eprintln!("--- stdout\n{}\n--- stderr\n{}", run.stdout, run.stderr);
    run
}

impl Run {
    pub fn last_line(&self) -> &str {
        self.stdout.trim_end().lines().last().unwrap_or("")
    }
}

/// The monorepo's components (what discovery and the manifests need), `deploy/` and the workflows, copied.
pub fn copy_of_the_monorepo() -> tempfile::TempDir {
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let wanted = |rel: &Path| {
        let s = rel.to_string_lossy();
        s.starts_with("deploy/")
            || s.starts_with(".github/workflows/")
            || s == "tools/python-tools.txt"
            || s.contains("/k8s/")
            || s.ends_with("/pyproject.toml")
            || s.ends_with("/Dockerfile")
    };
    for e in walkdir::WalkDir::new(&real).into_iter().filter_entry(|e| {
        let n = e.file_name().to_string_lossy();
        !(n == "target" || n == ".git" || n == "src" || n == "tests" || n == "xtask")
    }) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(&real).unwrap();
        if e.file_type().is_file() && wanted(rel) {
            let to = dir.path().join(rel);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(e.path(), to).unwrap();
        }
    }
    dir
}

/// The signing service's tools and key pair (`cargo xtask services up
/// signing`) for a fixture's push or deploy: a push signs what it pushes.
pub fn signing(cmd: &mut Command) -> &mut Command {
    for var in
        ["XTASK_COSIGN", "XTASK_SYFT", "XTASK_SIGNING_KEY", "XTASK_SIGNING_PASSWORD_FILE", "XTASK_SIGNING_PUBLIC_KEY"]
    {
        let value =
            service_var(var).unwrap_or_else(|| panic!("{var} is not recorded: run `cargo xtask services up signing`"));
        cmd.env(var, value);
    }
    cmd
}

/// A variable the run was given, else the one `cargo xtask services up`
/// recorded for it (so `cargo test` works as `cargo xtask test` does): the
/// record the xtask reads here (the override, the user's, the machine's, the
/// checkout's old one; `services::location`, without its ownership checks).
pub fn service_var(name: &str) -> Option<String> {
    if let Some(v) = std::env::var(name).ok().filter(|v| !v.is_empty()) {
        return Some(v);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let user = var("XDG_STATE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| var("HOME").map(|h| Path::new(&h).join(".local/state")))
        .map(|d| d.join("xtask/services.json"));
    // SAFETY: geteuid(2) cannot fail.
    let user = user.filter(|_| unsafe { libc::geteuid() } != 0);
    let machine =
        Path::new(&var("XTASK_SERVICES_MACHINE_DIR").unwrap_or_else(|| "/var/lib/xtask".into())).join("services.json");
    let candidates: Vec<std::path::PathBuf> = match var("XTASK_SERVICES_FILE") {
        Some(f) => vec![root.join(f)],
        None => user.into_iter().chain([machine, root.join("target/xtask/services.json")]).collect(),
    };
    let text = candidates.iter().find_map(|f| fs::read_to_string(f).ok())?;
    let state: serde_json::Value = serde_json::from_str(&text).ok()?;
    state["services"].as_object()?.values().find_map(|r| r["env"][name].as_str().map(String::from))
}

/// A variable the run was given or `services up` recorded, else `default`.
pub fn var_or(name: &str, default: &str) -> String {
    service_var(name).unwrap_or_else(|| default.to_string())
}

/// A unique suffix, so runs never see each other's images or namespaces.
pub fn unique() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{}-{}", std::process::id(), t % 1_000_000_000)
}

/// A loopback port nothing listens on (the OS's pick, let go at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The process runs and is no zombie (one that exited is not alive, reaped or not).
pub fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}
