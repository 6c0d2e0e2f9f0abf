use super::*;

#[test]
fn objects_know_the_line_their_document_starts_at() {
    let text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns\n---\n# a comment\n\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: ns\n---\n";
    let found = objects(text).unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!((found[0].id(), found[0].line, found[0].namespace.clone()), ("Namespace/ns".into(), 1, None));
    assert_eq!((found[1].id(), found[1].line, found[1].namespace.as_deref()), ("Service/web".into(), 8, Some("ns")));
    assert_eq!(found[1].value["apiVersion"], "v1");
}

#[test]
fn a_document_that_does_not_parse_is_reported_at_its_line_in_the_file() {
    let text = "kind: A\nmetadata: {name: a}\n---\nkind: B\nmetadata:\n  name: [b\n";
    let e = objects(text).unwrap_err();
    assert_eq!(e.line, 6, "{e:?}");
    assert!(e.message.contains("unclosed bracket"), "{e:?}");
    assert!(!e.message.contains("at line"), "{e:?}");

    let e = objects("kind: A\nmetadata:\n  name: a\nkind: B\n").unwrap_err();
    assert_eq!(e.line, 4, "{e:?}");
    assert!(e.message.contains("duplicate"), "{e:?}");

    assert_eq!(objects("metadata: {name: a}\n").unwrap_err().message, "a document has no kind");
    assert_eq!(objects("kind: Pod\n").unwrap_err().message, "a Pod has no metadata.name");
}

#[test]
fn yaml_is_read_with_yaml_1_2_booleans() {
    let v = parse("a: yes\nb: true\nc: \"1\"\nd: 1\n").unwrap();
    assert_eq!(v, serde_json::json!({"a": "yes", "b": true, "c": "1", "d": 1}));
}

#[test]
fn documents_split_at_separator_lines_only() {
    let docs = documents("a: 1\n---\nb: '---'\n--- # next\nc: 3\n");
    let starts: Vec<u32> = docs.iter().map(|d| d.0).collect();
    assert_eq!(starts, [1, 3, 5]);
    assert_eq!(docs[1].1, "b: '---'\n");
}
