use super::*;

fn files() -> Vec<(&'static str, String)> {
    vec![("go.mod", "module x\n".into()), ("go.sum", "".into())]
}

#[test]
fn the_key_moves_with_any_pin_file_and_with_the_rest() {
    let k = key(&files(), "== flags\n-s -w\ngo1.26.8\n");
    assert_eq!(k.len(), 16);
    assert!(k.chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(key(&files(), "== flags\n-s -w\ngo1.26.9\n"), k, "another Go builds other binaries");
    let mut f = files();
    f[1].1.push('\n');
    assert_ne!(key(&f, "== flags\n-s -w\ngo1.26.8\n"), k, "a changed go.sum is another build");
}

#[test]
fn a_build_lands_whole_or_not_at_all_and_is_made_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (sh, root) = (Shell::new().unwrap(), tmp.path().to_path_buf());
    let dirs = Dirs { state: root.join("state"), cache: root.join("cache") };
    let cx = Ctx { sh: &sh, root: &root, dirs: &dirs, github: false, euid: 0, recorded: None };
    let cache = root.join("cache/xtask-thing");
    let out = cache.join("k1");
    let complete = || out.join("bin").is_file();
    let b = CacheBuild { who: "thing", what: "a thing", cache: &cache, key: "k1", complete: &complete };

    let failed = b.ensure(&cx, |tmp| {
        std::fs::write(tmp.join("bin"), "half")?;
        bail!("the compiler broke")
    });
    assert_eq!(format!("{:#}", failed.unwrap_err()), "the compiler broke");
    let left: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from(".lock")], "nothing half-made stays");

    let made = b.ensure(&cx, |tmp| {
        std::fs::write(tmp.join("bin"), "whole")?;
        Ok("version=v1\n".into())
    });
    assert_eq!(made.unwrap(), out);
    let info = std::fs::read_to_string(out.join("BUILD-INFO")).unwrap();
    assert!(info.starts_with(&format!("key=k1\nversion=v1\ngoflags={GOFLAGS}\nbuild_seconds=")), "{info}");
    let again = b.ensure(&cx, |_| panic!("a complete build is not made again"));
    assert_eq!(again.unwrap(), out);
}
