use super::*;

fn dirs() -> Dirs {
    Dirs { state: "/var/lib".into(), cache: "/var/cache".into() }
}

fn present(paths: &'static [&'static str]) -> impl Fn(&Path) -> Probe {
    move |p: &Path| if paths.iter().any(|q| Path::new(q) == p) { Probe::Dir } else { Probe::Missing }
}

#[test]
fn a_wipe_takes_the_folders_the_xtask_owns_and_leaves_out_missing_ones() {
    let all: &'static [&'static str] = &[
        "/var/cache/xtask-base",
        "/var/cache/xtask-buildx",
        "/var/cache/xtask-kube",
        "/var/cache/xtask-otelcol",
        "/var/cache/xtask-go",
        "/var/lib/xtask-registry",
        "/var/lib/xtask-kube",
        "/var/lib/xtask-buildx",
        "/var/lib/xtask-docker",
    ];
    let items = plan(&dirs(), &|_| None, &present(all), &[]);
    let paths: Vec<&Path> = items.iter().map(|i| i.path.as_path()).collect();
    assert_eq!(paths, all.iter().map(Path::new).collect::<Vec<_>>());
    assert!(items.iter().all(|i| i.refused.is_none()));
    // Never anything but `xtask-*` folders directly under the two bases.
    for p in &paths {
        let name = p.file_name().unwrap().to_string_lossy();
        assert!(
            name.starts_with("xtask-")
                && (p.parent() == Some(Path::new("/var/cache")) || p.parent() == Some(Path::new("/var/lib")))
        );
    }
    let some = plan(&dirs(), &|_| None, &present(&["/var/cache/xtask-go"]), &[]);
    assert_eq!(
        some,
        [Item { path: "/var/cache/xtask-go".into(), what: "the Go build and module caches", refused: None }]
    );
    // A user's services: their own folders.
    let user = Dirs { state: "/home/ann/.local/state".into(), cache: "/home/ann/.cache".into() };
    let items = plan(&user, &|_| None, &present(&["/home/ann/.cache/xtask-kube"]), &[]);
    assert_eq!(items[0].path, Path::new("/home/ann/.cache/xtask-kube"));
}

#[test]
fn a_folder_moved_by_its_variable_a_symlink_or_one_with_a_mount_is_named_and_left() {
    let env = |k: &str| (k == "XTASK_GOCACHE").then(|| "/".to_string());
    let items = plan(&dirs(), &env, &|p| if p == Path::new("/") { Probe::Dir } else { Probe::Missing }, &[]);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].path, Path::new("/"));
    assert_eq!(
        items[0].refused.as_deref(),
        Some("set by XTASK_GOCACHE, not the folder the xtask owns (/var/cache/xtask-go): remove it yourself")
    );
    let link = |p: &Path| if p == Path::new("/var/cache/xtask-base") { Probe::Other } else { Probe::Missing };
    let items = plan(&dirs(), &|_| None, &link, &[]);
    assert_eq!(items[0].refused.as_deref(), Some("not a folder (a symlink?): remove it yourself"));
    let mounts = [PathBuf::from("/"), PathBuf::from("/var/lib/xtask-kube/node/pods/x/volumes/data")];
    let items = plan(&dirs(), &|_| None, &present(&["/var/lib/xtask-kube", "/var/lib/xtask-registry"]), &mounts);
    assert_eq!(items[0].refused, None, "/ is above, not under, the registry's folder");
    assert_eq!(
        items[1].refused.as_deref(),
        Some("/var/lib/xtask-kube/node/pods/x/volumes/data is mounted under it: `cargo xtask services down` first, or unmount it")
    );
}

#[test]
fn mount_points_come_from_mountinfo_with_escapes_undone() {
    let text = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
                 90 22 0:50 / /var/lib/xtask-kube/node/a\\040b rw - tmpfs tmpfs rw\n";
    assert_eq!(mount_points(text), [PathBuf::from("/"), PathBuf::from("/var/lib/xtask-kube/node/a b")]);
}

#[test]
fn only_the_images_services_up_made_are_taken() {
    let listing = "local/python:3.11-bookworm 301MB\nlocal/python-jre:3.11-bookworm 512MB\nlocal/buildkit:v0.34.2-80871ddd5913 210MB\n\
                   127.0.0.1:5000/mlops/storage:abc 350MB\nlocal/python:3.12 300MB\nlocal/buildkitx:1 1MB\n";
    assert_eq!(
        images(listing),
        [
            ("local/python:3.11-bookworm".to_string(), "301MB".to_string()),
            ("local/python-jre:3.11-bookworm".into(), "512MB".into()),
            ("local/buildkit:v0.34.2-80871ddd5913".into(), "210MB".into()),
        ]
    );
}

#[test]
fn sizes_read_as_people_read_them() {
    assert_eq!(human(999), "999 B");
    assert_eq!(human(33_000_000), "33.0 MB");
    assert_eq!(human(7_600_000_000), "7.6 GB");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a"), [0u8; 1500]).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/b"), [0u8; 500]).unwrap();
    std::os::unix::fs::symlink("/usr", dir.path().join("link")).unwrap();
    assert_eq!(size(dir.path()), 2000, "symlinks are not followed");
    assert_eq!(probe(&dir.path().join("link")), Probe::Other);
    assert_eq!(probe(dir.path()), Probe::Dir);
    assert_eq!(probe(&dir.path().join("none")), Probe::Missing);
}
