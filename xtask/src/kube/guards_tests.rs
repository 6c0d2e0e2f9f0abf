use super::*;

fn on_branch(b: &str) -> Facts {
    Facts { branch: Some(b.into()), ..Facts::default() }
}

fn released(tag: &str, images: Option<&str>) -> Facts {
    Facts { release_tags: vec![tag.into()], images_version: images.map(String::from), ..Facts::default() }
}

#[test]
fn development_takes_anything() {
    assert!(check("development", &on_branch("feature/x")).is_ok());
    assert!(check("development", &Facts::default()).is_ok());
}

#[test]
fn staging_takes_main_or_a_release_tag() {
    assert!(check("staging", &on_branch("main")).is_ok());
    assert!(check("staging", &released("v1.2.3", None)).is_ok());
    let e = check("staging", &on_branch("develop")).unwrap_err();
    assert!(e.contains("not branch `develop`"), "{e}");
    let e = check("staging", &Facts::default()).unwrap_err();
    assert!(e.contains("not a detached commit"), "{e}");
    // A tag that is not a release version does not count.
    let e = check("staging", &Facts { release_tags: vec!["nightly".into()], ..Facts::default() }).unwrap_err();
    assert!(e.contains("tag a release"), "{e}");
}

#[test]
fn production_needs_a_release_its_images_and_an_approval() {
    let e = check("production", &Facts { confirmed: true, ..on_branch("main") }).unwrap_err();
    assert!(e.starts_with("production is deployed only from a release"), "{e}");

    let e = check("production", &Facts { confirmed: true, ..released("v1.2.3", None) }).unwrap_err();
    assert!(e.contains("images report is for no release, not release 1.2.3"), "{e}");
    let e = check("production", &Facts { confirmed: true, ..released("v1.2.3", Some("1.2.2")) }).unwrap_err();
    assert!(e.contains("is for version 1.2.2"), "{e}");

    let e = check("production", &released("v1.2.3", Some("1.2.3"))).unwrap_err();
    assert!(e.contains("needs --confirm"), "{e}");
    let staging_job = Facts { github_environment: Some("staging".into()), ..released("v1.2.3", Some("1.2.3")) };
    assert!(check("production", &staging_job).is_err());

    assert!(check("production", &Facts { confirmed: true, ..released("v1.2.3", Some("1.2.3")) }).is_ok());
    let bound = Facts { github_environment: Some("production".into()), ..released("v1.2.3", Some("1.2.3")) };
    assert!(check("production", &bound).is_ok());
}

#[test]
fn the_highest_release_at_head_counts() {
    let f = Facts { release_tags: vec!["v1.2.3".into(), "v1.10.0".into(), "latest".into()], ..Facts::default() };
    assert_eq!(release_at_head(&f).as_deref(), Some("1.10.0"));
}
