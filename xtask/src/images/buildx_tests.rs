use super::*;

#[test]
fn gha_and_local_caches_have_one_scope_per_component_in_max_mode() {
    let all = Use { from: true, to: true };
    assert_eq!(
        cache_args(&Cache::Gha, "storage", all),
        ["--cache-from", "type=gha,scope=storage", "--cache-to", "type=gha,mode=max,scope=storage"]
    );
    assert_eq!(
        cache_args(&Cache::Local("/c".into()), "spark", all),
        ["--cache-from", "type=local,src=/c/spark", "--cache-to", "type=local,dest=/c/spark,mode=max"]
    );
    assert_eq!(
        cache_args(&Cache::Local("/c".into()), "spark", Use { from: false, to: true }),
        ["--cache-to", "type=local,dest=/c/spark,mode=max"]
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
fn on_github_the_stage_keeps_the_runners_builder_whatever_the_local_one_records() {
    // The full suite's job records XTASK_BUILDX_CONFIG (the image tests' builder);
    // the image stage there must still take setup-buildx-action's, with type=gha.
    let config = tempfile::tempdir().unwrap();
    let dir = config.path().display().to_string();
    let env = move |k: &str| (k == "XTASK_BUILDX_CONFIG" || k == "XTASK_BUILDX_CACHE_DIR").then(|| dir.clone());
    let sh = Shell::new().unwrap();
    let (got, said) = decide(&sh, true, &env, true, &|_| {}).unwrap();
    match got {
        Some(b) => assert_eq!((b.config, b.cache), (None, Cache::Gha)),
        None => assert!(said.unwrap().contains("add a docker/setup-buildx-action step")),
    }
}
