use super::*;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn src(reference: Option<&str>) -> Source {
    Source { reference: reference.map(String::from), sha: SHA.into(), dirty: false, head_tags: Vec::new() }
}

#[test]
fn a_branch_gets_the_full_and_short_sha() {
    for r in ["refs/heads/main", "refs/heads/feature/x", "refs/pull/7/merge"] {
        let t = tags(&src(Some(r)), None).unwrap();
        assert_eq!(t.tags, [SHA, "0123456"], "{r}");
        assert_eq!(t.version, None);
    }
    assert_eq!(tags(&src(None), None).unwrap().tags, [SHA, "0123456"]);
}

#[test]
fn a_release_tag_gets_version_minor_and_latest() {
    let t = tags(&src(Some("refs/tags/v1.2.3")), None).unwrap();
    assert_eq!(t.tags, ["1.2.3", "1.2", "latest"]);
    assert_eq!(t.version.as_deref(), Some("1.2.3"));
    assert_eq!(t.revision, SHA);
}

#[test]
fn an_invalid_tag_is_an_error() {
    for bad in [
        "refs/tags/banana",
        "refs/tags/v1.2",
        "refs/tags/v1.2.3.4",
        "refs/tags/1.2.3",
        "refs/tags/v01.2.3",
        "refs/tags/v1.2.3-rc1",
    ] {
        let e = tags(&src(Some(bad)), None).unwrap_err();
        assert!(format!("{e}").contains("is not a release version"), "{bad}: {e}");
        assert_eq!(crate::error::exit_code(&e), 2);
    }
}

#[test]
fn a_version_tag_at_head_releases_the_local_commit() {
    let mut s = src(None);
    s.head_tags = vec!["nightly".into(), "v1.9.0".into(), "v1.10.0".into()];
    assert_eq!(tags(&s, None).unwrap().tags, ["1.10.0", "1.10", "latest"]);
}

#[test]
fn a_dirty_tree_is_suffixed_and_never_latest() {
    let mut s = src(Some("refs/tags/v2.0.0"));
    s.dirty = true;
    assert_eq!(tags(&s, None).unwrap().tags, ["2.0.0-dirty", "2.0-dirty"]);
    s.reference = Some("refs/heads/main".into());
    let t = tags(&s, None).unwrap();
    assert_eq!(t.tags, [format!("{SHA}-dirty"), "0123456-dirty".to_string()]);
    assert!(t.dirty);
}

#[test]
fn tag_override_wins_and_is_validated() {
    let t = tags(&src(Some("refs/tags/v1.0.0")), Some("pr-42")).unwrap();
    assert_eq!(t.tags, ["pr-42"]);
    assert!(tags(&src(None), Some("-bad")).is_err());
    assert!(tags(&src(None), Some("has space")).is_err());
}
