use super::*;

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// An unpacked legacy `docker save` (engine 20.10): two layers, the second
/// saved twice as a symlink to the first copy of itself; the config's id.
fn legacy_archive(dir: &Path) -> String {
    let (one, two) = (b"layer one bytes".as_slice(), b"layer two bytes".as_slice());
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha(one), sha(two), sha(two)]},
    })
    .to_string();
    let id = sha(config.as_bytes());
    let hex_id = id.trim_start_matches("sha256:");
    std::fs::write(dir.join(format!("{hex_id}.json")), &config).unwrap();
    for (d, bytes) in [("a", one), ("b", two)] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
        std::fs::write(dir.join(d).join("layer.tar"), bytes).unwrap();
    }
    std::fs::create_dir_all(dir.join("c")).unwrap();
    std::os::unix::fs::symlink("../b/layer.tar", dir.join("c/layer.tar")).unwrap();
    let manifest = json!([{
        "Config": format!("{hex_id}.json"),
        "RepoTags": ["local/python:3.11-bookworm"],
        "Layers": ["a/layer.tar", "b/layer.tar", "c/layer.tar"],
    }]);
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    std::fs::write(dir.join("repositories"), "{}").unwrap();
    id
}

#[test]
fn a_legacy_archive_becomes_an_oci_layout_whose_blobs_are_their_digests() {
    let dir = tempfile::tempdir().unwrap();
    let id = legacy_archive(dir.path());
    let digest = convert(dir.path(), Some(&id)).unwrap();
    assert_eq!(manifest_digest(dir.path()).unwrap(), digest);
    let mut left: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    left.sort();
    assert_eq!(left, ["blobs", "index.json", "oci-layout"], "only the layout stays");
    let blobs = dir.path().join("blobs/sha256");
    for e in std::fs::read_dir(&blobs).unwrap() {
        let e = e.unwrap();
        let bytes = std::fs::read(e.path()).unwrap();
        assert_eq!(sha(&bytes), format!("sha256:{}", e.file_name().to_string_lossy()), "a blob is its digest");
    }
    let m: Value = serde_json::from_slice(&std::fs::read(blobs.join(&digest[7..])).unwrap()).unwrap();
    assert_eq!(m["config"]["digest"], id.as_str(), "the config blob is the image id");
    let layers: Vec<&str> = m["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap()).collect();
    assert_eq!(layers, [sha(b"layer one bytes"), sha(b"layer two bytes"), sha(b"layer two bytes")]);
    assert_eq!(m["layers"][0]["mediaType"], LAYER);
    let i: Value = serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(i["manifests"][0]["platform"], json!({"architecture": "amd64", "os": "linux"}));
}

#[test]
fn a_layer_that_is_not_its_diff_id_or_another_image_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let id = legacy_archive(dir.path());
    let err = convert(dir.path(), Some(&sha(b"another image"))).unwrap_err().to_string();
    assert!(err.contains("the image changed while it was saved"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    legacy_archive(dir.path());
    std::fs::write(dir.path().join("a/layer.tar"), b"tampered").unwrap();
    let err = convert(dir.path(), Some(&id)).unwrap_err().to_string();
    assert!(err.contains("layer a/layer.tar of the saved image is sha256:"), "{err}");
}

#[test]
fn an_oci_layout_from_a_newer_engine_is_taken_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = dir.path().join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let m = manifest((&sha(b"{}"), 2), &[]);
    let digest = put(&blobs, &m).unwrap();
    std::fs::write(dir.path().join("index.json"), index((&digest, m.len() as u64), "linux", "amd64")).unwrap();
    std::fs::write(dir.path().join("oci-layout"), "{}").unwrap();
    // Engines >= 25 write a manifest.json beside it too: left alone.
    std::fs::write(dir.path().join("manifest.json"), "[]").unwrap();
    assert_eq!(convert(dir.path(), None).unwrap(), digest);
    assert!(dir.path().join("manifest.json").is_file());
}

#[test]
fn a_half_layout_is_not_one_and_ids_name_folders() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.json"), index(("sha256:00", 2), "linux", "amd64")).unwrap();
    assert!(manifest_digest(dir.path()).is_err(), "a manifest blob missing");
    let id = format!("sha256:{}", "ab".repeat(32));
    assert_eq!(dir_of(Path::new("/c"), &id).unwrap(), Path::new("/c").join("ab".repeat(32)));
    assert!(dir_of(Path::new("/c"), "sha256:../../etc").is_err());
    assert_eq!(
        context_arg("local/python-jre:3.11-bookworm", Path::new("/c/x"), "sha256:12"),
        "local/python-jre:3.11-bookworm=oci-layout:///c/x@sha256:12"
    );
}

#[test]
fn prune_keeps_the_current_layouts_and_removes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (keep, old) = (format!("sha256:{}", "a".repeat(64)), format!("sha256:{}", "b".repeat(64)));
    for id in [&keep, &old] {
        std::fs::create_dir_all(dir_of(dir.path(), id).unwrap()).unwrap();
    }
    // A dead run's temp folder goes (no pid is that high), a live one's stays.
    std::fs::create_dir_all(dir.path().join(".x.4294967295.tmp")).unwrap();
    let live = dir.path().join(format!(".x.{}.tmp", std::process::id()));
    std::fs::create_dir_all(&live).unwrap();
    assert_eq!(prune(dir.path(), std::slice::from_ref(&keep)), 2);
    assert!(dir_of(dir.path(), &keep).unwrap().is_dir() && live.is_dir());
}
