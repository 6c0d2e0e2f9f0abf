use super::*;

#[test]
fn registry_and_local_caches_have_one_place_per_component_in_max_mode() {
    let all = Use { from: true, to: true };
    assert_eq!(
        cache_args(&Cache::Registry("ghcr.io/o".into()), "storage", all),
        [
            "--cache-from",
            "type=registry,ref=ghcr.io/o/storage:buildcache",
            "--cache-to",
            "type=registry,ref=ghcr.io/o/storage:buildcache,mode=max,image-manifest=true,oci-mediatypes=true,compression=zstd"
        ]
    );
    assert_eq!(
        cache_args(&Cache::Local("/c".into()), "spark", all),
        ["--cache-from", "type=local,src=/c/spark", "--cache-to", "type=local,dest=/c/spark,mode=max,compression=zstd"]
    );
    assert_eq!(
        cache_args(&Cache::Local("/c".into()), "spark", Use { from: false, to: true }),
        ["--cache-to", "type=local,dest=/c/spark,mode=max,compression=zstd"]
    );
}

#[test]
fn a_corrupt_cache_folder_is_started_afresh_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("storage");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::write(c.join("index.json"), "{not json").unwrap();
    let (use_, warning) = local_use(dir.path(), "storage");
    assert_eq!(use_, Use { from: false, to: true });
    let warning = warning.unwrap();
    assert!(
        warning.starts_with("the build cache of storage is corrupt (") && warning.contains("is not JSON"),
        "{warning}"
    );
    assert!(!c.exists(), "the corrupt folder is removed");
    // A blob the index names but the folder lacks is corrupt too.
    std::fs::create_dir_all(&c).unwrap();
    std::fs::write(c.join("index.json"), r#"{"manifests":[{"digest":"sha256:ab"}]}"#).unwrap();
    assert_eq!(
        sound(&c).unwrap_err(),
        format!("blob sha256:ab named in {} is missing", c.join("index.json").display())
    );
    std::fs::create_dir_all(c.join("blobs/sha256")).unwrap();
    std::fs::write(c.join("blobs/sha256/ab"), "{}").unwrap();
    assert_eq!(sound(&c), Ok(()));
    assert_eq!(local_use(dir.path(), "storage"), (Use { from: true, to: true }, None));
}

#[test]
fn a_full_disk_reads_the_cache_but_does_not_export_it() {
    let dir = tempfile::tempdir().unwrap();
    let free = free_mb(dir.path()).unwrap();
    // More than is free: the disk counts as full.
    std::env::set_var("XTASK_BUILDX_CACHE_MIN_FREE_MB", (free + 1_000_000).to_string());
    let (use_, warning) = local_use(dir.path(), "storage");
    std::env::remove_var("XTASK_BUILDX_CACHE_MIN_FREE_MB");
    assert_eq!(use_, Use { from: false, to: false });
    assert!(warning.unwrap().contains("building without exporting the cache"));
}

#[test]
fn the_builder_is_the_recorded_one_on_github_too_and_a_push_keeps_its_cache_in_the_registry() {
    let sh = Shell::new().unwrap();
    // No builder recorded: plain docker build, said once, on GitHub as here (no runner's builder).
    let (got, said) = decide(&sh, &|_| None, Some("ghcr.io/o"), false, &|_| {}).unwrap();
    assert!(got.is_none() && said.unwrap().contains("cargo xtask services up buildx"));
    let config = Path::new("/b");
    assert_eq!(cache_for(Some("ghcr.io/o"), &|_| None, config), Cache::Registry("ghcr.io/o".into()));
    assert_eq!(cache_for(None, &|_| None, config), Cache::Local("/b/layers".into()));
    let env = |k: &str| (k == "XTASK_BUILDX_CACHE_DIR").then(|| "/l".to_string());
    assert_eq!(cache_for(None, &env, config), Cache::Local("/l".into()));
}
