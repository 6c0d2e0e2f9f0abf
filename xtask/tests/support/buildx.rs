//! Test builders of their own beside the one `services up buildx` made.

use super::registry::docker;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The builder's config folder `services up buildx` recorded; a clear failure when there is none.
pub fn buildx_config() -> PathBuf {
    let dir = super::service_var("XTASK_BUILDX_CONFIG").unwrap_or_else(|| {
        panic!("no buildx builder: run `cargo xtask services up buildx` (it records XTASK_BUILDX_CONFIG)")
    });
    PathBuf::from(dir)
}

/// A config folder for a test builder `name`: the real plugin, the real
/// builder's spec renamed, then `edit` (the folder, the spec) makes it the
/// test's own.
pub fn test_builder(name: &str, edit: impl FnOnce(&Path, &mut serde_json::Value)) -> tempfile::TempDir {
    let real = buildx_config();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("cli-plugins")).unwrap();
    std::os::unix::fs::symlink(
        std::fs::read_link(real.join("cli-plugins/docker-buildx")).unwrap(),
        dir.path().join("cli-plugins/docker-buildx"),
    )
    .unwrap();
    let mut spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(real.join("builder.json")).unwrap()).unwrap();
    spec["name"] = name.into();
    edit(dir.path(), &mut spec);
    std::fs::write(dir.path().join("builder.json"), spec.to_string()).unwrap();
    dir
}

/// A test's own builder, removed when dropped: a failing test's too (its
/// BuildKit state volume holds gigabytes). Bind it after the builder's
/// config folder, so it goes first.
pub struct RemovedOnDrop {
    pub name: String,
    pub config: std::path::PathBuf,
}

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        remove_builder(&self.name, &self.config);
    }
}

/// Remove a test's own builder: its container, state volume and socket folder.
pub fn remove_builder(name: &str, config: &Path) {
    let _ = Command::new("docker").args(["buildx", "rm", "--force", name]).env("DOCKER_CONFIG", config).output();
    let container = format!("{name}-buildkit");
    docker(&["rm", "-f", "-v", &container]);
    docker(&["volume", "rm", &format!("{container}-state")]);
    // Its socket's folder sits beside the real builder's configuration.
    let _ = std::fs::remove_dir_all(buildx_config().join(format!("{name}-run")));
}
