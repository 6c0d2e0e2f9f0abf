use super::*;

fn on_branch(b: &str) -> Facts {
    Facts { branch: Some(b.into()), ..Facts::default() }
}

fn released(tag: &str, images: Option<&str>) -> Facts {
    Facts { release_tags: vec![tag.into()], images_version: images.map(String::from), ..Facts::default() }
}

#[test]
fn development_takes_anything() {
    assert!(check("development", Guard::Any, &on_branch("feature/x")).is_ok());
    assert!(check("development", Guard::Any, &Facts::default()).is_ok());
}

#[test]
fn staging_takes_main_or_a_release_tag() {
    assert!(check("staging", Guard::Main, &on_branch("main")).is_ok());
    assert!(check("staging", Guard::Main, &released("v1.2.3", None)).is_ok());
    let e = check("staging", Guard::Main, &on_branch("develop")).unwrap_err();
    assert!(e.contains("not branch `develop`"), "{e}");
    let e = check("staging", Guard::Main, &Facts::default()).unwrap_err();
    assert!(e.contains("not a detached commit"), "{e}");
    // A tag that is not a release version does not count.
    let e =
        check("staging", Guard::Main, &Facts { release_tags: vec!["nightly".into()], ..Facts::default() }).unwrap_err();
    assert!(e.contains("tag a release"), "{e}");
}

#[test]
fn production_needs_a_release_its_images_and_an_approval() {
    let e = check("production", Guard::Release, &Facts { confirmed: true, ..on_branch("main") }).unwrap_err();
    assert!(e.starts_with("production is deployed only from a release"), "{e}");

    let e = check("production", Guard::Release, &Facts { confirmed: true, ..released("v1.2.3", None) }).unwrap_err();
    assert!(e.contains("images report is for no release, not release 1.2.3"), "{e}");
    let e = check("production", Guard::Release, &Facts { confirmed: true, ..released("v1.2.3", Some("1.2.2")) })
        .unwrap_err();
    assert!(e.contains("is for version 1.2.2"), "{e}");

    let e = check("production", Guard::Release, &released("v1.2.3", Some("1.2.3"))).unwrap_err();
    assert!(e.contains("needs --confirm"), "{e}");
    let staging_job = Facts { github_environment: Some("staging".into()), ..released("v1.2.3", Some("1.2.3")) };
    assert!(check("production", Guard::Release, &staging_job).is_err());

    assert!(
        check("production", Guard::Release, &Facts { confirmed: true, ..released("v1.2.3", Some("1.2.3")) }).is_ok()
    );
    let bound = Facts { github_environment: Some("production".into()), ..released("v1.2.3", Some("1.2.3")) };
    assert!(check("production", Guard::Release, &bound).is_ok());
}

#[test]
fn the_highest_release_at_head_counts() {
    let f = Facts { release_tags: vec!["v1.2.3".into(), "v1.10.0".into(), "latest".into()], ..Facts::default() };
    assert_eq!(release_at_head(&f).as_deref(), Some("1.10.0"));
}

#[test]
fn the_guard_comes_from_the_overlays_settings_and_unknown_names_get_the_strictest() {
    let shown = "deploy/overlays/qa/xtask.toml";
    assert_eq!(from_settings("development", None, shown), Ok(Guard::Any));
    assert_eq!(from_settings("staging", None, shown), Ok(Guard::Main));
    assert_eq!(from_settings("production", None, shown), Ok(Guard::Release));
    // Another name with no settings is guarded like production.
    assert_eq!(from_settings("qa", None, shown), Ok(Guard::Release));
    let e = check("qa", Guard::Release, &on_branch("main")).unwrap_err();
    assert!(e.starts_with("qa is deployed only from a release"), "{e}");
    // ... unless its overlay says otherwise.
    assert_eq!(from_settings("qa", Some("guard = \"any\"\n"), shown), Ok(Guard::Any));
    assert_eq!(from_settings("qa", Some("# staging-like\nguard = \"main\"\n"), shown), Ok(Guard::Main));
    assert_eq!(from_settings("qa", Some(""), shown), Ok(Guard::Release));
    let e = from_settings("qa", Some("guard = \"loose\""), shown).unwrap_err();
    assert!(e.starts_with("deploy/overlays/qa/xtask.toml sets guard = \"loose\": choose \"any\""), "{e}");
    let e = from_settings("qa", Some("gaurd = \"any\""), shown).unwrap_err();
    assert!(e.contains("unknown setting `gaurd`"), "{e}");
    assert!(from_settings("qa", Some("guard = "), shown).unwrap_err().contains("is not TOML"));
}

#[test]
fn a_release_guard_is_approved_by_confirm_or_a_job_bound_to_that_environment() {
    assert!(approved("qa", Guard::Release, false, Some("qa")).is_ok());
    assert!(approved("qa", Guard::Release, false, Some("production")).is_err());
    assert!(approved("qa", Guard::Main, false, None).is_ok());
    assert_eq!(
        approved("qa", Guard::Release, false, None).unwrap_err(),
        "deploying to qa needs --confirm (or a GitHub job bound to the `qa` environment)"
    );
}

#[test]
fn reviewers_are_required_on_github_where_the_guard_is_release_unless_the_overlay_opts_out() {
    let shown = "deploy/overlays/qa/xtask.toml";
    assert_eq!(reviewers_required("production", Guard::Release, None, shown), Ok(true));
    assert_eq!(reviewers_required("staging", Guard::Main, None, shown), Ok(false));
    assert_eq!(reviewers_required("staging", Guard::Main, Some("reviewers = \"required\""), shown), Ok(true));
    assert_eq!(
        reviewers_required("production", Guard::Release, Some("reviewers = \"not-required\""), shown),
        Ok(false)
    );
    let e = reviewers_required("qa", Guard::Release, Some("reviewers = true"), shown).unwrap_err();
    assert!(e.contains("choose one (default for qa: required)"), "{e}");
    assert!(from_settings("qa", Some("reviewers = \"required\""), shown).is_ok(), "a known setting");
    let bound_to = |e: &str| Facts { github_environment: Some(e.into()), ..Facts::default() };
    assert!(bound("production", &bound_to("production")).is_ok());
    let e = bound("production", &bound_to("staging")).unwrap_err();
    assert!(e.contains("add `environment: production` to the job"), "{e}");
}

#[test]
fn only_development_may_deploy_unverified_images() {
    let shown = "deploy/overlays/x/xtask.toml";
    assert_eq!(verify_images("development", Guard::Any, None, shown), Ok(true), "verified by default");
    assert_eq!(verify_images("development", Guard::Any, Some("verify-images = false\n"), shown), Ok(false));
    for (env, guard) in [("staging", Guard::Main), ("production", Guard::Release)] {
        let err = verify_images(env, guard, Some("verify-images = false\n"), shown).unwrap_err();
        assert!(err.contains("only a development environment") && err.contains(env), "{err}");
    }
    let err = verify_images("development", Guard::Any, Some("verify-images = \"no\"\n"), shown).unwrap_err();
    assert!(err.contains("non-boolean"), "{err}");
}

#[test]
fn a_preview_takes_developments_settings_and_previews_is_a_small_whole_number() {
    assert_eq!(settings_env("pr-12"), "development");
    assert_eq!(settings_env("staging"), "staging");
    let shown = "deploy/overlays/development/xtask.toml";
    assert_eq!(previews(None, shown), Ok(3));
    assert_eq!(previews(Some("guard = \"any\"\n"), shown), Ok(3));
    assert_eq!(previews(Some("previews = 5\n"), shown), Ok(5));
    for bad in ["previews = 0", "previews = \"3\"", "previews = 1.5", "previews = 51"] {
        let e = previews(Some(bad), shown).unwrap_err();
        assert!(e.starts_with(&format!("{shown} sets previews = ")) && e.contains("`previews = 3`"), "{e}");
    }
}
