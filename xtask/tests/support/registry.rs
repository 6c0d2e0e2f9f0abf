//! The Docker engine and the loopback registry with htpasswd auth that
//! `cargo xtask services up` starts and records.

use super::var_or;
use std::path::PathBuf;
use std::process::{Command, Output};

pub struct Registry {
    pub host: String,
    pub user: String,
    pub password_file: PathBuf,
}

impl Registry {
    /// The registry the services' record (or the run's variables) names.
    pub fn recorded() -> Registry {
        Registry {
            host: var_or("XTASK_TEST_REGISTRY", "127.0.0.1:5000"),
            user: var_or("XTASK_TEST_REGISTRY_USER", "xtask"),
            password_file: var_or("XTASK_TEST_REGISTRY_PASSWORD_FILE", "/var/lib/xtask-registry/password").into(),
        }
    }
}

/// The engine and the registry `cargo xtask services up` starts; a clear failure when they are not there.
pub fn engine_and_registry() -> Registry {
    let info = Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]).output();
    assert!(
        info.is_ok_and(|o| o.status.success()),
        "no Docker engine answers: start it with `cargo xtask services up docker` (CI does)"
    );
    let r = Registry::recorded();
    assert!(
        r.password_file.is_file(),
        "no registry credentials at {}: run `cargo xtask services up registry`",
        r.password_file.display()
    );
    r
}

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().unwrap()
}

/// A Docker config folder of its own, logged in to the recorded registry
/// (the user's config stays as it was); removed when dropped.
pub fn logged_in() -> tempfile::TempDir {
    use std::io::Write;
    let reg = Registry::recorded();
    let password = std::fs::read_to_string(&reg.password_file).unwrap_or_else(|e| {
        let at = reg.password_file.display();
        panic!("no registry password at {at} ({e}): run `cargo xtask services up registry`")
    });
    let config = tempfile::tempdir().unwrap();
    let mut login = Command::new("docker")
        .arg("--config")
        .arg(config.path())
        .args(["login", &reg.host, "--username", &reg.user, "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("docker runs (cargo xtask services up docker)");
    login.stdin.take().unwrap().write_all(password.trim().as_bytes()).unwrap();
    let out = login.wait_with_output().unwrap();
    assert!(out.status.success(), "docker login {}: {}", reg.host, String::from_utf8_lossy(&out.stderr));
    config
}

/// `docker ARGS` within `config` (a [`logged_in`] folder); it must succeed.
pub fn docker_in(config: &std::path::Path, args: &[&str]) {
    let out = Command::new("docker").arg("--config").arg(config).args(args).output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// `docker pull -q REFERENCE` from the recorded registry, logged in within a
/// Docker config of its own (the user's stays as it was).
pub fn pull(reference: &str) {
    docker_in(logged_in().path(), &["pull", "-q", reference]);
}
