use super::*;
use std::time::{Duration, SystemTime};

fn entry(task: &str, key: &str, log: &[u8], artifact: Option<&[u8]>) -> Entry {
    let mut e = Entry::new(task, key, vec![("file:a".into(), "h1".into())], 2.5, 7);
    e.log = log.to_vec();
    e.artifact = artifact.map(<[u8]>::to_vec);
    e
}

#[test]
fn an_entry_reads_back_byte_for_byte() {
    let e = entry("test:a", "k1", b"setup\noutput \xff bytes\n", Some(b"<testsuites/>\n"));
    let back = Entry::decode(&e.encode()).expect("decodes");
    assert_eq!(back.log, e.log);
    assert_eq!(back.artifact, e.artifact);
    assert_eq!((back.meta.seconds, back.meta.output_start), (2.5, 7));
    // No result file and an empty one are told apart.
    let none = Entry::decode(&entry("t", "k", b"x", None).encode()).unwrap();
    assert_eq!(none.artifact, None);
    let empty = Entry::decode(&entry("t", "k", b"x", Some(b"")).encode()).unwrap();
    assert_eq!(empty.artifact, Some(Vec::new()));
}

#[test]
fn a_truncated_or_damaged_entry_is_ignored() {
    let bytes = entry("test:a", "k1", b"log text", Some(b"<xml/>")).encode();
    for cut in [0, 5, bytes.len() / 2, bytes.len() - 1] {
        assert_eq!(Entry::decode(&bytes[..cut]), None, "cut at {cut}");
    }
    let mut flipped = bytes.clone();
    let last = flipped.len() - 2;
    flipped[last] ^= 1;
    assert_eq!(Entry::decode(&flipped), None);
    let mut longer = bytes.clone();
    longer.push(b'!');
    assert_eq!(Entry::decode(&longer), None);
    assert_eq!(Entry::decode(b"xtask-cache-0\n{}\n"), None, "another format");
}

#[test]
fn the_store_ignores_a_damaged_entry_and_a_put_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let e = entry("test:a", "k1", b"log", Some(b"<xml/>"));
    store.put(&e).unwrap();
    assert_eq!(store.get("k1").map(|g| g.log), Some(b"log".to_vec()));
    assert_eq!(store.last("test:a").as_deref(), Some("k1"));
    let path = dir.path().join("target/xtask/cache/entries/k1");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    assert_eq!(store.get("k1"), None, "truncated");
    store.put(&e).unwrap();
    assert!(store.get("k1").is_some(), "rewritten");
    // An entry filed under another key is not this key's.
    std::fs::copy(&path, dir.path().join("target/xtask/cache/entries/k2")).unwrap();
    assert_eq!(store.get("k2"), None);
}

#[test]
fn readers_never_see_half_an_entry_while_others_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let big = vec![b'x'; 1 << 20];
    std::thread::scope(|s| {
        // Two writers of one key with the same content, as two runs of one task would write.
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..20 {
                    store.put(&entry("test:a", "same", &big, Some(b"<xml/>"))).unwrap();
                }
            });
        }
        s.spawn(|| {
            for _ in 0..200 {
                if let Some(e) = store.get("same") {
                    assert_eq!(e.log.len(), 1 << 20);
                }
            }
        });
    });
    assert!(store.get("same").is_some());
}

#[test]
fn eviction_takes_the_too_old_then_the_least_recently_used() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(100 * 86_400);
    let ago = |days: u64| now - Duration::from_secs(days * 86_400);
    let entries = vec![
        ("fresh".to_string(), ago(0), 40),
        ("old".to_string(), ago(30), 10),
        ("older-use".to_string(), ago(3), 40),
        ("recent".to_string(), ago(1), 40),
    ];
    let limits = Limits { max_bytes: 100, max_age: Duration::from_secs(14 * 86_400) };
    assert_eq!(evictions(&entries, now, limits), ["old", "older-use"]);
    let roomy = Limits { max_bytes: 1000, ..limits };
    assert_eq!(evictions(&entries, now, roomy), ["old"]);
}

#[test]
fn eviction_and_clean_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let entries = dir.path().join("target/xtask/cache/entries");
    let age = |name: &str, secs: u64| {
        let f = std::fs::File::options().append(true).open(entries.join(name)).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(secs)).unwrap();
    };
    for (k, secs) in [("a", 30), ("b", 20), ("c", 10)] {
        store.put(&entry("t", k, &[b'x'; 100], None)).unwrap();
        age(k, secs);
    }
    let size = std::fs::metadata(entries.join("a")).unwrap().len();
    // A temp file a crashed run left behind, two hours ago.
    std::fs::write(entries.join(".a.999.tmp"), b"half").unwrap();
    age(".a.999.tmp", 7200);
    let removed = store.evict(Limits { max_bytes: 2 * size, max_age: Duration::from_secs(3600) }).unwrap();
    assert_eq!(removed, 1);
    assert!(!entries.join("a").exists(), "the least recently used goes");
    assert!(entries.join("b").exists() && entries.join("c").exists());
    assert!(!entries.join(".a.999.tmp").exists());
    // A hit counts as a use: b is now the newest.
    assert!(store.get("b").is_some());
    store.evict(Limits { max_bytes: size, max_age: Duration::from_secs(3600) }).unwrap();
    assert!(entries.join("b").exists() && !entries.join("c").exists());
    assert!(store.clean().unwrap());
    assert!(!dir.path().join("target/xtask/cache").exists());
    assert!(!store.clean().unwrap());
}
