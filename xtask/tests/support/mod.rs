//! Small fixture monorepos in temp dirs, and the built xtask run against them.

#![allow(dead_code)] // each test file uses its own part of this

pub mod deploy;
pub mod node;
pub mod platform;
pub mod python_image;

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

/// The local cluster `cargo xtask services up kube` starts (it records
/// `XTASK_TEST_KUBECONFIG` and `XTASK_KUBECTL` in `target/xtask/services.json`).
pub struct Cluster {
    pub kubeconfig: PathBuf,
    pub kubectl: PathBuf,
}

impl Cluster {
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(&self.kubectl).arg("--kubeconfig").arg(&self.kubeconfig).args(args).output().unwrap()
    }

    pub fn text(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.text(args)).unwrap()
    }

    pub fn has_namespace(&self, ns: &str) -> bool {
        self.kubectl(&["get", "namespace", ns]).status.success()
    }
}

/// A variable the run was given, else the one `cargo xtask services up`
/// recorded for it (so `cargo test` works as `cargo xtask test` does).
pub fn service_var(name: &str) -> Option<String> {
    if let Some(v) = std::env::var(name).ok().filter(|v| !v.is_empty()) {
        return Some(v);
    }
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/xtask/services.json");
    let state: serde_json::Value = serde_json::from_str(&fs::read_to_string(file).ok()?).ok()?;
    state["services"].as_object()?.values().find_map(|r| r["env"][name].as_str().map(String::from))
}

/// The cluster the run was given. The tests that need it are `#[ignore]`d
/// (plain `cargo test` counts them as skipped); `cargo xtask test` includes
/// them when `services up` recorded a cluster and always on CI, so here a
/// missing cluster is a failure that says how to start one, never a silent pass.
pub fn cluster() -> Cluster {
    let kubeconfig = service_var("XTASK_TEST_KUBECONFIG").map(PathBuf::from).unwrap_or_else(|| {
        panic!("no cluster: start one with `cargo xtask services up kube` (it records XTASK_TEST_KUBECONFIG and XTASK_KUBECTL in target/xtask/services.json)")
    });
    assert!(
        kubeconfig.is_file(),
        "XTASK_TEST_KUBECONFIG={} does not exist: run `cargo xtask services up kube`",
        kubeconfig.display()
    );
    Cluster { kubeconfig, kubectl: service_var("XTASK_KUBECTL").unwrap_or_else(|| "kubectl".into()).into() }
}

/// Run git in `dir` with an identity of its own; panics on failure; its stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "fixture")
        .env("GIT_AUTHOR_EMAIL", "fixture@example.invalid")
        .env("GIT_COMMITTER_NAME", "fixture")
        .env("GIT_COMMITTER_EMAIL", "fixture@example.invalid")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Test-only scheduling for an overlay whose images need not exist: its
/// Deployments' and CronJobs' pods select the fake (kwok) node and tolerate its
/// taint, so kwok simulates them. `services up kube` taints the fake node when it
/// starts the real one, where every other pod (the environments') runs.
pub fn simulated(overlay: &Path) {
    let file = overlay.join("kustomization.yaml");
    let text = fs::read_to_string(&file).unwrap();
    assert!(text.contains("\npatches:\n"), "{} has no patches: list", file.display());
    let ops = "      - op: add\n        path: POD/nodeSelector\n        value: {type: kwok}\n      - op: add\n        path: POD/tolerations\n        value: [{key: xtask.dev/fake-node, operator: Exists, effect: NoSchedule}]\n";
    let patches = format!(
        "  - target: {{kind: Deployment}}\n    patch: |-\n{}  - target: {{kind: CronJob}}\n    patch: |-\n{}",
        ops.replace("POD", "/spec/template/spec"),
        ops.replace("POD", "/spec/jobTemplate/spec/template/spec")
    );
    fs::write(&file, text.replacen("\npatches:\n", &format!("\npatches:\n{patches}"), 1)).unwrap();
}
