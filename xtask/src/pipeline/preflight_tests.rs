use super::*;
use crate::pipeline::trigger::{decide, Event};

const HEAD: &str = "1111111111111111111111111111111111111111";

fn plan(name: &str, reference: &str, env: Option<&str>) -> Pipeline {
    let envs = ["development", "staging", "production", "qa"].map(String::from);
    decide(
        &Event { name: name.into(), reference: reference.into(), requested: env.map(String::from), action: None },
        &envs,
    )
    .unwrap()
}

fn at(tag_commit: Option<&str>) -> Checkout {
    Checkout { head: Some(HEAD.into()), tag_commit: tag_commit.map(String::from) }
}

#[test]
fn a_dispatch_to_production_from_a_branch_is_refused_before_anything_runs() {
    let p = plan("workflow_dispatch", "refs/heads/main", Some("production"));
    let e = check(&p, Guard::Release, &at(None), true, true, true).unwrap_err();
    assert_eq!(e, "production is deployed only from a release: check out a commit tagged vX.Y.Z and build its images");
    let p = plan("workflow_dispatch", "refs/heads/feature/x", Some("staging"));
    let e = check(&p, Guard::Main, &at(None), false, false, true).unwrap_err();
    assert!(e.starts_with("staging is deployed from main or a release tag, not branch `feature/x`"), "{e}");
    // A branch plan that deploys development, or deploys nothing, is never refused.
    assert!(check(&plan("push", "refs/heads/main", None), Guard::Any, &at(None), false, false, true).is_ok());
    assert!(check(
        &plan("pull_request", "refs/pull/1/merge", None),
        Guard::Release,
        &Checkout::default(),
        false,
        false,
        false
    )
    .is_ok());
}

#[test]
fn a_release_tag_must_exist_and_be_the_checkout() {
    let p = plan("push", "refs/tags/v9.9.9", None);
    let e = check(&p, Guard::Main, &at(None), false, false, true).unwrap_err();
    assert_eq!(
        e,
        "tag `v9.9.9` does not exist here: tag the release (git tag v9.9.9 && git push origin v9.9.9) or fetch it (git fetch --tags)"
    );
    let e =
        check(&p, Guard::Main, &at(Some("2222222222222222222222222222222222222222")), false, false, true).unwrap_err();
    assert!(e.starts_with("tag `v9.9.9` is commit 222222222222, but the checkout is 111111111111:"), "{e}");
    assert!(check(&p, Guard::Main, &at(Some(HEAD)), false, false, true).is_ok());
    // Outside a git work tree there is no tag either.
    assert!(check(&p, Guard::Main, &Checkout::default(), false, false, true)
        .unwrap_err()
        .contains("does not exist here"));
}

#[test]
fn off_github_a_release_guarded_deploy_needs_confirm_when_the_deploy_runs_here() {
    let p = plan("workflow_dispatch", "refs/tags/v1.4.0", Some("production"));
    let e = check(&p, Guard::Release, &at(Some(HEAD)), false, false, true).unwrap_err();
    assert!(e.starts_with("deploying to production needs --confirm: add it to this command"), "{e}");
    assert!(check(&p, Guard::Release, &at(Some(HEAD)), true, false, true).is_ok());
    // On GitHub the environment's approval stands for it; without the deploy stage it is not asked.
    assert!(check(&p, Guard::Release, &at(Some(HEAD)), false, true, true).is_ok());
    assert!(check(&p, Guard::Release, &at(Some(HEAD)), false, false, false).is_ok());
    // An overlay with another name is guarded like production unless its settings say otherwise.
    let qa = plan("workflow_dispatch", "refs/heads/main", Some("qa"));
    assert!(check(&qa, Guard::Release, &at(None), true, false, true)
        .unwrap_err()
        .starts_with("qa is deployed only from a release"));
    assert!(check(&qa, Guard::Any, &at(None), false, false, true).is_ok());
}
