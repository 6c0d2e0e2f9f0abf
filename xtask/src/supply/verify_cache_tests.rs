use super::*;
use std::os::unix::fs::PermissionsExt;

fn provenance(commit: &str) -> Attestation {
    Attestation {
        predicate_type: crate::supply::statement::SLSA_V1.into(),
        subjects: vec!["sha256:d".into()],
        predicate: serde_json::json!({"buildDefinition": {"resolvedDependencies": [{"digest": {"gitCommit": commit}}]}}),
    }
}

struct Fx {
    t: tempfile::TempDir,
    cosign: PathBuf,
    key: PathBuf,
}

impl Fx {
    fn new() -> Fx {
        let t = tempfile::tempdir().unwrap();
        let (cosign, key) = (t.path().join("cosign"), t.path().join("cosign.pub"));
        std::fs::write(&cosign, "a cosign").unwrap();
        std::fs::write(&key, "PUBLIC KEY 1").unwrap();
        Fx { t, cosign, key }
    }

    fn dirs(&self) -> Dirs {
        Dirs { state: self.t.path().join("state"), cache: self.t.path().join("cache") }
    }

    fn cache(&self) -> VerifyCache {
        let none = |_: &str| None;
        VerifyCache::new(&self.dirs(), &self.cosign, &Verifier::Key(self.key.display().to_string()), &none).unwrap()
    }
}

#[test]
fn a_success_is_kept_for_the_same_digest_attachments_key_and_cosign_only() {
    let fx = Fx::new();
    let cache = fx.cache();
    let k = cache.key("r/web@sha256:d", "📦 r/web@sha256:d\n└── 🍒 sha256:1\n");
    assert!(cache.get(&k).is_none());
    cache.put(&k, &[provenance("abc")]);
    assert_eq!(cache.get(&k).unwrap(), vec![provenance("abc")]);
    // An attachment added, another image, another key, another cosign: another entry.
    assert_ne!(k, cache.key("r/web@sha256:d", "📦 r/web@sha256:d\n└── 🍒 sha256:1\n└── 🍒 sha256:2\n"));
    assert_ne!(k, cache.key("r/web@sha256:e", "📦 r/web@sha256:d\n└── 🍒 sha256:1\n"));
    std::fs::write(&fx.key, "PUBLIC KEY 2").unwrap();
    assert_ne!(k, fx.cache().key("r/web@sha256:d", "📦 r/web@sha256:d\n└── 🍒 sha256:1\n"));
    std::fs::write(&fx.key, "PUBLIC KEY 1").unwrap();
    std::fs::write(&fx.cosign, "another cosign, rebuilt").unwrap();
    assert_ne!(k, fx.cache().key("r/web@sha256:d", "📦 r/web@sha256:d\n└── 🍒 sha256:1\n"));
    // The folder and its entries are the user's own.
    let dir = fx.t.path().join("cache/xtask-verify");
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(dir.join(&k)).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn a_folder_others_can_write_or_a_symlink_or_an_unreadable_key_caches_nothing() {
    let fx = Fx::new();
    let none = |_: &str| None;
    let dir = fx.t.path().join("cache/xtask-verify");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert!(VerifyCache::new(&fx.dirs(), &fx.cosign, &Verifier::Key(fx.key.display().to_string()), &none).is_none());
    std::fs::remove_dir(&dir).unwrap();
    let elsewhere = fx.t.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &dir).unwrap();
    assert!(VerifyCache::new(&fx.dirs(), &fx.cosign, &Verifier::Key(fx.key.display().to_string()), &none).is_none());
    std::fs::remove_file(&dir).unwrap();
    let missing = Verifier::Key(fx.t.path().join("no-such.pub").display().to_string());
    assert!(VerifyCache::new(&fx.dirs(), &fx.cosign, &missing, &none).is_none());
    // A key given in the environment is read from there.
    let env = |k: &str| (k == "COSIGN_PUBLIC_KEY").then(|| "PUBLIC KEY 1".to_string());
    assert!(VerifyCache::new(&fx.dirs(), &fx.cosign, &Verifier::Key("env://COSIGN_PUBLIC_KEY".into()), &env).is_some());
}

#[test]
fn a_corrupt_entry_is_no_success() {
    let fx = Fx::new();
    let cache = fx.cache();
    let k = cache.key("r/web@sha256:d", "x sha256:1");
    std::fs::write(fx.t.path().join("cache/xtask-verify").join(&k), "[{\"predicateType\": 3}]").unwrap();
    assert!(cache.get(&k).is_none());
    std::fs::write(fx.t.path().join("cache/xtask-verify").join(&k), "not json").unwrap();
    assert!(cache.get(&k).is_none());
}

#[test]
fn a_run_verifying_an_image_another_is_verifying_waits_and_takes_its_result() {
    let fx = Fx::new();
    let (cache, other) = (fx.cache(), fx.cache());
    let k = cache.key("r@sha256:d", "sig sha256:1");
    let held = cache.hold(&k, "r@sha256:d").expect("the entry's lock");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            let _waited = other.hold(&k, "r@sha256:d").expect("the lock, once released");
            tx.send(other.get(&k)).unwrap();
        });
        std::thread::sleep(Duration::from_millis(300));
        assert!(rx.try_recv().is_err(), "the second run waits while the first verifies");
        cache.put(&k, &[provenance("abc")]);
        drop(held);
        let found = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(found.map(|p| p.len()), Some(1), "the waiter finds the first run's verification");
    });
}
