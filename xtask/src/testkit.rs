//! Fixtures the unit tests share.

use crate::component::Workspace;
use std::fs;

/// A workspace in a temp dir made of `files` (a path under its root and its
/// text; a path ending in `/` is an empty folder), discovered as the xtask does.
pub fn workspace(files: &[(&str, &str)]) -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        if path.ends_with('/') {
            fs::create_dir_all(&p).unwrap();
        } else {
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
    }
    let ws = Workspace::discover(dir.path()).unwrap();
    (dir, ws)
}
