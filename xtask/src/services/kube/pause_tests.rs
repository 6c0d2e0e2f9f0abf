use super::*;

#[test]
fn the_layout_documents_name_each_other_by_digest_and_size() {
    let layer = digest(b"layer");
    let config = config("amd64", &layer);
    assert!(config.starts_with("{\"architecture\":\"amd64\",\"os\":\"linux\""), "{config}");
    assert!(config.ends_with(&format!("\"diff_ids\":[\"{layer}\"]}}}}")), "{config}");
    let m = manifest((&digest(config.as_bytes()), config.len() as u64), (&layer, 5));
    let parsed: serde_json::Value = serde_json::from_str(&m).unwrap();
    assert_eq!(parsed["layers"][0]["digest"], layer.as_str());
    assert_eq!(parsed["config"]["size"], config.len());
    let i: serde_json::Value = serde_json::from_str(&index((&digest(m.as_bytes()), m.len() as u64), "amd64")).unwrap();
    assert_eq!(i["manifests"][0]["annotations"]["io.containerd.image.name"], "xtask.local/pause:1");
    assert_eq!(i["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "1");
    assert_eq!(digest(b"abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
