//! An image with python3 in the local registry for fixture pods on the real
//! node: the local base image (`cargo xtask services up base-images`) tagged
//! and pushed once per test binary; the node pulls it with the registry's
//! credentials from its containerd configuration.

use super::registry::Registry;
use super::var_or;
use std::process::Command;
use std::sync::OnceLock;

/// `<registry>/xtask-node-test/python:3.11-bookworm`, pushed.
pub fn pushed() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let registry = Registry::recorded().host;
        let base = var_or("XTASK_BASE_IMAGE", "local/python:3.11-bookworm");
        let target = format!("{registry}/xtask-node-test/python:3.11-bookworm");
        let config = super::registry::logged_in();
        super::registry::docker_in(config.path(), &["tag", &base, &target]);
        super::registry::docker_in(config.path(), &["push", &target]);
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
