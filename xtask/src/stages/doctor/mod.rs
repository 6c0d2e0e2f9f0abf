//! `cargo xtask doctor`: every tool the pipeline uses, found or not, its
//! version, and the command that installs it when missing.

use crate::kube;
use crate::python::{self, PINS};
use crate::services::node;
use anyhow::Result;
use std::path::Path;
use xshell::{cmd, Shell};

struct Tool {
    program: &'static str,
    version_args: &'static [&'static str],
    used_for: &'static str,
    /// Optional tools have a fallback.
    required: bool,
    install: &'static str,
}

const TOOLS: &[Tool] = &[
    Tool {
        program: "cargo",
        version_args: &["--version"],
        used_for: "builds the xtask, runs its tests",
        required: true,
        install: "install Rust with rustup",
    },
    Tool {
        program: "git",
        version_args: &["--version"],
        used_for: "revisions for image tags",
        required: true,
        install: "apt-get install git",
    },
    Tool {
        program: "python3",
        version_args: &["--version"],
        used_for: "component environments (>= 3.11)",
        required: true,
        install: "apt-get install python3 python3-venv",
    },
    Tool {
        program: "java",
        version_args: &["-version"],
        used_for: "the spark component (PySpark needs a JDK 17)",
        required: true,
        install: "apt-get install openjdk-17-jdk-headless",
    },
    Tool {
        program: "docker",
        version_args: &["--version"],
        used_for: "the image stage (a running engine: cargo xtask services up docker)",
        required: true,
        install: "cargo xtask services up docker (as root: installs docker.io and starts the engine)",
    },
    Tool {
        program: "kubectl",
        version_args: &["version", "--client"],
        used_for: "renders, validates and deploys manifests (XTASK_KUBECTL wins over PATH)",
        required: true,
        install: kube::INSTALL,
    },
    Tool {
        program: "uv",
        version_args: &["--version"],
        used_for: "fast virtualenvs (else python3 -m venv + pip)",
        required: false,
        install: "pip install uv",
    },
];

pub fn run(root: &Path) -> Result<i32> {
    let sh = Shell::new()?;
    let mut missing_required = false;
    let mut rows: Vec<(&Tool, &str, String)> = Vec::new();
    for t in TOOLS {
        let found = if t.program == "kubectl" { kube::kubectl() } else { which::which(t.program).map_err(Into::into) };
        let (status, version) = match found {
            Ok(exe) => ("found", version_of(&sh, &exe, t.version_args)),
            Err(_) => {
                missing_required |= t.required;
                (if t.required { "MISSING" } else { "missing" }, "-".to_string())
            }
        };
        rows.push((t, status, version));
    }
    let w = rows.iter().map(|r| r.2.len()).max().unwrap_or(0).max(7);
    println!("{:<8} {:<8} {:<w$}  used for", "tool", "status", "version");
    for (t, status, version) in &rows {
        println!("{:<8} {:<8} {:<w$}  {}", t.program, status, version, t.used_for);
        if *status != "found" {
            println!("{:<8} install: {}", "", t.install);
        }
    }
    if which::which("python3").is_ok() || std::env::var_os("XTASK_PYTHON").is_some() {
        match python::interpreter(&sh) {
            Err(e) => {
                println!("python3 is not usable: {e:#}");
                missing_required = true;
            }
            // The image stage collects dependency wheels with the interpreter's pip.
            Ok(py) => {
                let exe = &py.exe;
                if cmd!(sh, "{exe} -m pip --version").quiet().ignore_stdout().ignore_stderr().run().is_err() {
                    println!("{} has no pip (the image stage needs it): apt-get install python3-pip", exe.display());
                    missing_required = true;
                }
            }
        }
    }
    if which::which("docker").is_ok() && cmd!(sh, "docker info").quiet().ignore_stdout().ignore_stderr().run().is_err()
    {
        println!("note: the Docker engine is not answering; the image stage needs it: cargo xtask services up docker");
    }
    services(root, &sh);
    cluster(&sh);
    real_node(&sh);
    println!("\nPython tools pinned in {PINS} (installed into target/venvs on demand):");
    match std::fs::read_to_string(root.join(PINS)) {
        Ok(pins) => {
            for pin in pins.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
                println!("  {pin}");
            }
        }
        Err(_) => {
            println!("  {PINS} is missing: restore it from git");
            missing_required = true;
        }
    }
    if missing_required {
        println!("\nsome required tools are missing or unusable: install them as shown above");
        return Ok(1);
    }
    println!("\nall required tools found");
    Ok(0)
}

/// What `services up` starts, each up or down with the fix: the engine, the
/// registry, the base images and the cluster (the image stage and the
/// deploy tests need every one).
fn services(root: &Path, sh: &Shell) {
    let dirs = crate::services::Dirs::here();
    let recorded = crate::services::state::load(root).unwrap_or_default();
    println!("services (cargo xtask services up starts them):");
    for service in crate::services::all() {
        let name = service.name();
        let cx = crate::services::Ctx {
            sh,
            root,
            dirs: &dirs,
            github: crate::github::on_github(),
            euid: crate::services::euid(),
            recorded: recorded.services.get(name),
        };
        match service.status(&cx) {
            Ok(line) => println!("  {name:<12} up    {line}"),
            Err(why) => println!("  {name:<12} DOWN  {why}: cargo xtask services up {name}"),
        }
    }
}

/// The cluster the manifests stage dry-runs against (and deploys will use):
/// not configured, answering (its version), or unreachable (with the fix).
fn cluster(sh: &Shell) {
    let line = match (kube::Cluster::configured(None), kube::kubectl()) {
        (Ok(None), _) => format!(
            "none configured: manifests are validated offline only; for a local one run `{}` and export KUBECONFIG",
            kube::START_CLUSTER
        ),
        (Ok(Some(c)), Ok(kubectl)) => match c.check(sh, &kubectl) {
            Ok(version) => format!("{} answers (Kubernetes {version})", c.server(sh, &kubectl).unwrap_or_default()),
            Err(e) => format!("{e:#}"),
        },
        (Ok(Some(_)), Err(_)) => "configured, but there is no kubectl to reach it".into(),
        (Err(e), _) => format!("{e:#}"),
    };
    println!("cluster: {line}");
}

/// The configured cluster's real worker node(s) (the local cluster's, made by
/// `services up kube`): Ready or not, kubelet and runtime versions, the fix.
/// Informational: a cluster without one still deploys (its pods are simulated).
fn real_node(sh: &Shell) {
    let (Ok(Some(c)), Ok(kubectl)) = (kube::Cluster::configured(None), kube::kubectl()) else { return };
    let args = c.args();
    let selector = node::NODE_LABEL;
    let Ok(out) = cmd!(sh, "{kubectl} {args...} --request-timeout=10s get nodes -l {selector} -o json")
        .quiet()
        .ignore_stderr()
        .read()
    else {
        return; // the cluster line above already says it does not answer
    };
    let log = node::state_dir().join("logs/kubelet.log");
    let nodes = serde_json::from_str(&out).map(|list| node::real_nodes(&list)).unwrap_or_default();
    if nodes.is_empty() {
        println!(
            "node: none real (pods are only simulated by kwok); start one with `{}` (as root)",
            kube::START_CLUSTER
        );
    }
    for n in nodes {
        println!("node: {}", n.line(&log));
    }
}

/// The first line a tool prints about its version (java prints it on stderr).
fn version_of(sh: &Shell, exe: &Path, args: &[&str]) -> String {
    let Ok(out) = cmd!(sh, "{exe} {args...}").quiet().ignore_status().output() else {
        return "(does not run)".into();
    };
    let text = if out.stdout.is_empty() { out.stderr } else { out.stdout };
    String::from_utf8_lossy(&text).lines().next().unwrap_or("").trim().to_string()
}
