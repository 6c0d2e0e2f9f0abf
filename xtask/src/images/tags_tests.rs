use super::*;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn src(reference: Option<&str>) -> Source {
    // A tag ref names a tag that exists and points at the commit being built.
    Source { reference: reference.map(String::from), sha: SHA.into(), tagged: Some(SHA.into()), ..Source::default() }
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

#[test]
fn a_release_tag_must_exist_and_name_the_commit_being_built() {
    let mut s = src(Some("refs/tags/v9.9.9"));
    s.tagged = None;
    let e = tags(&s, None).unwrap_err();
    assert_eq!(
        format!("{e}"),
        "tag v9.9.9 does not exist in this repository: create it (git tag v9.9.9) or fetch it (git fetch --tags)"
    );
    assert_eq!(crate::error::exit_code(&e), 2);
    s.tagged = Some("fedcba9876543210fedcba9876543210fedcba98".into());
    let e = tags(&s, None).unwrap_err();
    assert_eq!(
        format!("{e}"),
        "tag v9.9.9 is commit fedcba987654, but 0123456789ab is checked out: check the tag out first"
    );
    assert_eq!(crate::error::exit_code(&e), 2);
    // --tag replaces the policy, so the ref is not checked.
    assert_eq!(tags(&s, Some("pr-1")).unwrap().tags, ["pr-1"]);
    // A malformed release tag is named as such, whether or not it exists.
    let mut s = src(Some("refs/tags/banana"));
    s.tagged = None;
    assert!(format!("{}", tags(&s, None).unwrap_err()).contains("is not a release version"));
}

#[test]
fn only_changes_that_can_change_an_image_count() {
    let folders = ["components/storage/".to_string(), "docker/storage.Dockerfile".to_string()];
    let status = [
        " M xtask/src/main.rs",           // tracked, anywhere: counts
        "?? notes.txt",                   // scratch file at the root: does not
        "?? components/storage/src/x.py", // untracked inside the component: counts
        "?? components/client/new.py",    // another component, not built: does not
        "?? docker/storage.Dockerfile",   // the Dockerfile, wherever it is: counts
        "R  components/storage/b.py",     // a rename, followed by its source path
        "components/storage/a.py",
        "D  tools/old.txt",
        "",
    ]
    .join("\0");
    assert_eq!(
        changes_that_count(&status, &folders),
        [
            "xtask/src/main.rs",
            "components/storage/src/x.py",
            "docker/storage.Dockerfile",
            "components/storage/b.py",
            "tools/old.txt"
        ]
    );
    assert!(changes_that_count("?? scratch.py\0?? tmp/a b.txt\0", &folders).is_empty());
    assert!(changes_that_count("", &folders).is_empty());
}

#[test]
fn a_long_list_names_a_few_and_counts_the_rest() {
    let names: Vec<String> = (1..=6).map(|i| format!("f{i}")).collect();
    assert_eq!(some_of(&names, 3), "f1, f2, f3 and 3 more");
    assert_eq!(some_of(&names[..2], 3), "f1, f2");
}
