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
