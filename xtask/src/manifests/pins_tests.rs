use super::*;

const HEAD: &str = "0123456789abcdef0123456789abcdef01234567";

fn built(component: &str, pushed: &[(&str, &str, Option<&str>)]) -> Built {
    Built {
        component: component.into(),
        images: vec![format!("ghcr.io/o/{component}"), format!("docker.io/u/{component}")],
        tags: vec![HEAD.into(), "0123456".into()],
        revision: HEAD.into(),
        version: None,
        pushed: pushed
            .iter()
            .map(|(i, t, d)| Pushed { image: i.to_string(), tag: t.to_string(), digest: d.map(String::from) })
            .collect(),
    }
}

fn wanted(names: &[&str]) -> Vec<(String, String)> {
    names.iter().map(|n| (n.to_string(), format!("base/{n}"))).collect()
}

#[test]
fn the_report_is_read_whatever_else_it_carries() {
    let text = r#"{"format":1,"components":{"web":{"repositories":["r/web"],"tags":["abc"],"version":null,
        "commit":"abc","ref":null,"dirty":false,"image_id":"sha256:id","new_field":1,
        "pushed":[{"repository":"r/web","tag":"abc","digest":"sha256:d","size":3}]}}}"#;
    let report = read_report(text).unwrap();
    assert_eq!(report[0].component, "web");
    assert_eq!(report[0].revision, "abc");
    assert_eq!(report[0].pushed[0].digest.as_deref(), Some("sha256:d"));
    assert!(read_report(r#"{"format":1,"components":{"web":{}}}"#).unwrap_err().contains("missing field `commit`"));
    assert!(read_report(r#"{"format":2,"components":{}}"#)
        .unwrap_err()
        .contains("format 2 is not one this xtask reads"));
    assert!(read_report("not json").is_err());
}

#[test]
fn the_first_pushed_registry_and_most_specific_tag_win_with_their_digest() {
    let b = built(
        "web",
        &[("docker.io/u/web", "0123456", Some("sha256:hub")), ("ghcr.io/o/web", "0123456", Some("sha256:gh"))],
    );
    assert_eq!(choose(&b), Some(("ghcr.io/o/web".into(), "0123456".into(), Some("sha256:gh".into()))));
    let b =
        built("web", &[("ghcr.io/o/web", HEAD, Some("sha256:gh")), ("ghcr.io/o/web", "0123456", Some("sha256:gh"))]);
    assert_eq!(choose(&b).unwrap().1, HEAD);
    // A push whose digest was not read borrows the digest of another tag of the same image.
    let b = built("web", &[("ghcr.io/o/web", HEAD, None), ("ghcr.io/o/web", "0123456", Some("sha256:gh"))]);
    assert_eq!(choose(&b).unwrap().2.as_deref(), Some("sha256:gh"));
    // Built, not pushed: its first name and tag, no digest.
    assert_eq!(choose(&built("web", &[])), Some(("ghcr.io/o/web".into(), HEAD.into(), None)));
    let nothing = Built { images: Vec::new(), ..built("web", &[]) };
    assert_eq!(choose(&nothing), None);
}

#[test]
fn every_wanted_component_is_pinned_from_the_report_of_this_commit() {
    let report = [built("web", &[("ghcr.io/o/web", HEAD, Some("sha256:w"))]), built("db", &[])];
    let (pins, left) = pins_from_report(&wanted(&["db", "web"]), &report, HEAD, false).unwrap();
    assert!(left.is_empty());
    assert_eq!(
        pins[0],
        Pin { name: "base/db".into(), new_name: Some("ghcr.io/o/db".into()), new_tag: HEAD.into(), digest: None }
    );
    assert_eq!(pins[1].digest.as_deref(), Some("sha256:w"));
}

#[test]
fn a_missing_component_is_named_unless_partial() {
    let report = [built("web", &[])];
    let e = pins_from_report(&wanted(&["db", "web", "q"]), &report, HEAD, false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "target/xtask/images.json has no image of db, q: build and push it (cargo xtask image build --push), or pass --partial to leave it as it is"
    );
    assert!(e.chain().any(|c| c.is::<UsageError>()));
    let (pins, left) = pins_from_report(&wanted(&["db", "web"]), &report, HEAD, true).unwrap();
    assert_eq!((pins.len(), left), (1, vec!["db".to_string()]));
}

#[test]
fn a_report_of_another_commit_is_refused_naming_both() {
    let e = pins_from_report(&wanted(&["web"]), &[built("web", &[])], "fedcba9876543210", false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "target/xtask/images.json is from commit 0123456789ab, but HEAD is fedcba987654: build and push this commit's images (cargo xtask image build --push)"
    );
}

#[test]
fn a_tag_pins_every_component_without_a_digest() {
    let pins = pins_for_tag(&wanted(&["web"]), "1.2.3");
    assert_eq!(pins, [Pin { name: "base/web".into(), new_name: None, new_tag: "1.2.3".into(), digest: None }]);
}
