use super::*;
use std::time::SystemTime;

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn dirs(t: &tempfile::TempDir) -> Dirs {
    Dirs { state: t.path().join("state"), cache: t.path().join("cache") }
}

#[test]
fn an_sbom_is_kept_by_digest_for_one_syft_and_its_settings_only() {
    let t = tempfile::tempdir().unwrap();
    let (made, back) = (t.path().join("made.json"), t.path().join("back.json"));
    std::fs::write(&made, "{\"spdxVersion\":\"SPDX-2.3\"}").unwrap();
    let cache = SbomCache::new(&dirs(&t), "1.57.2", "settings").unwrap();
    assert!(!cache.get(DIGEST, &back), "nothing kept yet");
    cache.put(DIGEST, &made);
    assert!(cache.get(DIGEST, &back));
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "{\"spdxVersion\":\"SPDX-2.3\"}");
    // another digest, another syft, other settings: not this one's
    assert!(!cache.get(&DIGEST.replace("0123", "4567"), &t.path().join("x")));
    assert!(!SbomCache::new(&dirs(&t), "1.58.0", "settings").unwrap().get(DIGEST, &t.path().join("x")));
    assert!(!SbomCache::new(&dirs(&t), "1.57.2", "other").unwrap().get(DIGEST, &t.path().join("x")));
    // no leftovers beside the entry
    let entries: Vec<_> = std::fs::read_dir(&cache.dir).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
}

#[test]
fn an_unknown_syft_or_a_name_that_is_no_digest_is_never_cached() {
    let t = tempfile::tempdir().unwrap();
    assert!(SbomCache::new(&dirs(&t), "unknown", "s").is_none());
    assert!(SbomCache::new(&dirs(&t), "", "s").is_none());
    let cache = SbomCache::new(&dirs(&t), "1.57.2", "s").unwrap();
    let made = t.path().join("made.json");
    std::fs::write(&made, "{}").unwrap();
    for bad in ["sha256:../../etc/passwd", "latest", "sha256:abc", "sha512:0123"] {
        cache.put(bad, &made);
        assert!(!cache.get(bad, &t.path().join("x")), "{bad}");
    }
    assert!(!cache.dir.exists(), "nothing was written for names that are no digest");
}

#[test]
fn an_entry_unused_for_its_days_goes_when_another_is_stored() {
    let t = tempfile::tempdir().unwrap();
    let cache = SbomCache::new(&dirs(&t), "1.57.2", "s").unwrap();
    let made = t.path().join("made.json");
    std::fs::write(&made, "{}").unwrap();
    cache.put(DIGEST, &made);
    let old = cache.file(DIGEST).unwrap();
    let long_ago = SystemTime::now() - Duration::from_secs((KEEP_DAYS + 1) * 24 * 3600);
    std::fs::File::options().append(true).open(&old).unwrap().set_modified(long_ago).unwrap();
    cache.put(&DIGEST.replace("0123", "4567"), &made);
    assert!(!old.exists(), "the unused entry was removed");
    assert!(cache.file(&DIGEST.replace("0123", "4567")).unwrap().exists());
}
