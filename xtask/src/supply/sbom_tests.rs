use super::*;

#[test]
fn the_summary_counts_by_type_and_names_the_largest_without_the_image_itself() {
    let pkg = |id: &str, name: &str, purl: &str| {
        serde_json::json!({"SPDXID": id, "name": name, "versionInfo": "1",
            "externalRefs": [{"referenceType": "purl", "referenceLocator": purl}]})
    };
    let contains = |id: &'static str, n: usize| {
        (0..n).map(move |i| serde_json::json!({"spdxElementId": id, "relationshipType": "CONTAINS", "relatedSpdxElement": format!("f{i}")}))
    };
    let mut rels: Vec<serde_json::Value> =
        vec![serde_json::json!({"spdxElementId": "DOC", "relationshipType": "DESCRIBES", "relatedSpdxElement": "img"})];
    rels.extend(contains("a", 3));
    rels.extend(contains("b", 9));
    let doc = serde_json::json!({
        "packages": [pkg("img", "r/storage", "pkg:oci/storage"), pkg("a", "fastapi", "pkg:pypi/fastapi@1"),
                     pkg("b", "libc6", "pkg:deb/debian/libc6@1"), pkg("c", "tzdata", "pkg:deb/debian/tzdata@1")],
        "relationships": rels,
        "creationInfo": {"creators": ["Tool: syft-1.57.2"]},
    });
    let lines = summary(&doc);
    assert_eq!(lines[0], "3 packages: 2 deb, 1 pypi");
    assert!(lines[2].ends_with("libc6 1 (deb)") && lines[2].contains('9'), "{lines:?}");
    assert!(lines[3].ends_with("fastapi 1 (pypi)"), "{lines:?}");
    assert_eq!(package_count(&doc.to_string()), 3);
}
