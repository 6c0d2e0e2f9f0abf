use super::*;
use base64::Engine;

fn build() -> Build {
    Build {
        component: "storage".into(),
        repository: "https://github.com/acme/mlops".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        reference: Some("refs/heads/main".into()),
        command: "docker buildx build …".into(),
        dockerfile: "components/storage/Dockerfile".into(),
        bases: vec![("local/python:3.11-bookworm".into(), "sha256:abcd".into())],
        builder: vec![("buildx".into(), "v0.38.2".into())],
        source_date_epoch: 1_700_000_000,
        reproducible: Some(true),
        ..Build::default()
    }
}

/// A DSSE envelope as `cosign verify-attestation` prints it.
fn envelope(predicate_type: &str, digest: &str, predicate: &serde_json::Value) -> String {
    let st = serde_json::json!({"_type": "https://in-toto.io/Statement/v0.1", "predicateType": predicate_type,
        "subject": [{"name": "r/storage", "digest": {"sha256": digest}}], "predicate": predicate});
    let payload = base64::engine::general_purpose::STANDARD.encode(st.to_string());
    serde_json::json!({"payloadType": "application/vnd.in-toto+json", "payload": payload, "signatures": []}).to_string()
}

#[test]
fn provenance_names_the_source_the_bases_the_builder_and_the_epoch() {
    let p = provenance(&build());
    assert_eq!(p["buildDefinition"]["buildType"], BUILD_TYPE);
    assert_eq!(p["buildDefinition"]["internalParameters"]["SOURCE_DATE_EPOCH"], 1_700_000_000);
    assert_eq!(p["buildDefinition"]["internalParameters"]["reproducible"], true);
    assert_eq!(p["buildDefinition"]["externalParameters"]["command"], "docker buildx build …");
    let deps = p["buildDefinition"]["resolvedDependencies"].as_array().unwrap();
    assert_eq!(deps[1]["uri"], "docker-image://local/python:3.11-bookworm");
    assert_eq!(deps[1]["digest"]["sha256"], "abcd");
    assert_eq!(p["runDetails"]["builder"]["version"]["buildx"], "v0.38.2");
    assert_eq!(
        source_of(&p),
        Some(("https://github.com/acme/mlops".into(), "0123456789abcdef0123456789abcdef01234567".into()))
    );
}

#[test]
fn verified_attestations_are_read_back_and_a_corrupt_one_is_named() {
    let p = provenance(&build());
    let out = format!("{}\n{}\n", envelope(SLSA_V1, "aa", &p), envelope(SPDX, "aa", &serde_json::json!({})));
    let got = attestations(&out).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].predicate_type, SLSA_V1);
    assert_eq!(got[0].subjects, vec!["sha256:aa".to_string()]);
    assert_eq!(got[1].predicate_type, SPDX);
    let err = attestations("{\"payload\": \"%%%\"}\n").unwrap_err();
    assert!(err.contains("not base64"), "{err}");
    let err = attestations("{\"payload\": \"bm90IGpzb24=\"}\n").unwrap_err();
    assert!(err.contains("statement is not JSON"), "{err}");
}
