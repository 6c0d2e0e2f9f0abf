//! Files the xtask writes appear whole or not at all.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Write to a temp file beside `path` with a name no other writer uses
/// (process and counter), then rename over it: readers see the old file or
/// the new one, never half of either.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().context("a file to write has a parent folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path.file_name().context("a file to write has a name")?.to_string_lossy();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// The xtask's own program, to run it again. `ci` runs stages in its own
/// process, and the test stage's `cargo test -p xtask` may relink the binary
/// meanwhile: Linux then names the old one "PATH (deleted)", and the program
/// at PATH is the same checkout's build.
/// Mark `path` used now (its modification time): what [`forget_unused`] keeps.
pub fn touch(path: &Path) {
    let _ = std::fs::File::options().append(true).open(path).and_then(|f| f.set_modified(std::time::SystemTime::now()));
}

/// Remove the files of `dir` not used (modified or touched) for `keep`: a
/// cache's entries that nothing asked for lately.
pub fn forget_unused(dir: &Path, keep: std::time::Duration) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let unused = e.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
        if unused.is_some_and(|u| u > keep) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

pub fn own_program() -> Result<std::path::PathBuf> {
    let exe = std::env::current_exe().context("cannot find the xtask's own program")?;
    Ok(relinked(&exe))
}

fn relinked(exe: &Path) -> std::path::PathBuf {
    let text = exe.to_string_lossy();
    match text.strip_suffix(" (deleted)").map(std::path::PathBuf::from) {
        Some(path) if path.is_file() => path,
        _ => exe.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_relinked_under_us_is_found_at_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("xtask");
        let deleted = std::path::PathBuf::from(format!("{} (deleted)", path.display()));
        assert_eq!(relinked(&deleted), deleted, "nothing at the path: the name as it is");
        std::fs::write(&path, b"").unwrap();
        assert_eq!(relinked(&deleted), path);
        assert_eq!(relinked(&path), path);
    }
}
