//! An image with python3 in the local registry for fixture pods on the real
//! node: the local base image (`cargo xtask services up base-images`) tagged
//! and pushed once per test binary; the node pulls it with the registry's
//! credentials from its containerd configuration.

use super::registry::Registry;
use super::var_or;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// `<registry>/xtask-node-test/python:3.11-bookworm`, pushed.
pub fn pushed() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let Registry { host: registry, user, password_file } = Registry::recorded();
        let base = var_or("XTASK_BASE_IMAGE", "local/python:3.11-bookworm");
        let target = format!("{registry}/xtask-node-test/python:3.11-bookworm");
        let config = tempfile::tempdir().unwrap();
        let docker = |args: &[&str], stdin: Option<String>| {
            let mut cmd = Command::new("docker");
            cmd.arg("--config").arg(config.path()).args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
            cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
            let mut child = cmd.spawn().expect("docker runs (cargo xtask services up docker)");
            if let Some(s) = stdin {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
            }
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let secret = std::fs::read_to_string(&password_file).unwrap_or_else(|e| {
            let at = password_file.display();
            panic!("no registry password at {at} ({e}): run `cargo xtask services up registry`")
        });
        docker(&["tag", &base, &target], None);
        docker(&["login", &registry, "--username", &user, "--password-stdin"], Some(secret.trim().to_string()));
        docker(&["push", &target], None);
        target
    })
}

/// The same image pinned by digest (`<tag>@sha256:…`), as every environment but development must be.
pub fn pinned() -> &'static str {
    static PINNED: OnceLock<String> = OnceLock::new();
    PINNED.get_or_init(|| {
        let target = pushed();
        let out = Command::new("docker")
            .args(["inspect", "--format", "{{range .RepoDigests}}{{println .}}{{end}}", target])
            .output()
            .unwrap();
        let digests = String::from_utf8_lossy(&out.stdout).into_owned();
        let repo = target.rsplit_once(':').unwrap().0;
        let digest =
            digests.lines().find_map(|l| l.strip_prefix(&format!("{repo}@"))).expect("a digest after the push");
        format!("{target}@{digest}")
    })
}
