use super::*;
use crate::manifests::pins::read_report;

const HEAD: &str = "9999999999999999999999999999999999999999";
const OLD: &str = "2f8ab4b70b4145b195a5fbbe6c1db0a47a4cfc2d";
/// What the committed production overlay pins (deploy/overlays/production), rendered.
const PINNED_STORAGE: &str =
    "127.0.0.1:5000/mlops/storage@sha256:f052aea7ef5b392a9639a9d1f84c5b7a8220334a4dcc41cc3a393fba191a3a78";
const NEW_DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// An images report as `image build --push` writes it at v9.9.9 (HEAD), storage only.
fn report(commit: &str, digest: &str) -> Vec<Built> {
    let text = format!(
        r#"{{"format":1,"components":{{"storage":{{"image_id":"sha256:id",
        "repositories":["127.0.0.1:5000/mlops/storage"],"tags":["9.9.9","9.9","latest"],"version":"9.9.9",
        "commit":"{commit}","ref":"refs/tags/v9.9.9","dirty":false,
        "pushed":[{{"repository":"127.0.0.1:5000/mlops/storage","tag":"9.9.9","digest":"{digest}"}},
                  {{"repository":"127.0.0.1:5000/mlops/storage","tag":"latest","digest":"{digest}"}}]}}}}}}"#
    );
    read_report(&text).unwrap()
}

fn one(reference: &str) -> Vec<(String, String)> {
    vec![("storage".into(), reference.into())]
}

#[test]
fn an_image_is_matched_to_its_build_by_digest_else_by_tag() {
    let r = report(HEAD, NEW_DIGEST);
    let ours = vec!["ghcr.io/mlops-platform/storage".to_string()];
    let by_digest = format!("127.0.0.1:5000/mlops/storage@{NEW_DIGEST}");
    assert_eq!(origin(&by_digest, &r, &ours), Origin::Built { commit: HEAD.into(), by_digest: true });
    assert_eq!(
        origin("127.0.0.1:5000/mlops/storage:9.9.9", &r, &ours),
        Origin::Built { commit: HEAD.into(), by_digest: false }
    );
    // Another build's digest of the same repository: ours, but not a build the report knows.
    assert_eq!(origin(PINNED_STORAGE, &r, &ours), Origin::Unknown);
    // The component's own name, never pinned: ours, unknown.
    assert_eq!(origin("ghcr.io/mlops-platform/storage:latest", &r, &ours), Origin::Unknown);
    assert_eq!(origin("docker.io/library/postgres:16", &r, &ours), Origin::Foreign);
}

#[test]
fn production_refuses_pins_of_another_commit_even_when_the_report_is_the_release() {
    // v9.9.9 at HEAD, its images pushed, but the overlay still pins 2f8ab4b's storage.
    let r = report(HEAD, NEW_DIGEST);
    let a = applied(&one(PINNED_STORAGE), &r, &[]);
    let e = judge("production", Guard::Release, HEAD, &a, false).unwrap_err();
    assert_eq!(
        e,
        format!("production's pins are not the release's images: storage runs {PINNED_STORAGE}, which the images report has no build of: pin the release's images (cargo xtask manifests update production) and commit them")
    );
    // --force does not apply to a release.
    assert!(judge("production", Guard::Release, HEAD, &a, true).is_err());
    // A report of the old commit knows the image: built from it, not from HEAD.
    let a = applied(&one(PINNED_STORAGE), &report(OLD, &PINNED_STORAGE[PINNED_STORAGE.find('@').unwrap() + 1..]), &[]);
    assert_eq!(a[0].image.built_from.as_deref(), Some(OLD));
    let e = judge("production", Guard::Release, HEAD, &a, false).unwrap_err();
    assert!(e.contains("built from 2f8ab4b70b41, not HEAD 999999999999"), "{e}");
    // Pinned by `manifests update production` from the release's report: accepted.
    let a = applied(&one(&format!("127.0.0.1:5000/mlops/storage@{NEW_DIGEST}")), &r, &[]);
    assert_eq!(judge("production", Guard::Release, HEAD, &a, false), Ok(vec![]));
    // A release runs digests, not a tag that may move.
    let a = applied(&one("127.0.0.1:5000/mlops/storage:latest"), &r, &[]);
    assert!(judge("production", Guard::Release, HEAD, &a, false).unwrap_err().contains("pinned by tag"));
}

#[test]
fn outside_development_other_commits_images_need_force_and_development_takes_them() {
    let r = report(OLD, NEW_DIGEST);
    let two = vec![
        ("storage".to_string(), format!("127.0.0.1:5000/mlops/storage@{NEW_DIGEST}")),
        ("cdc".to_string(), "127.0.0.1:5000/mlops/cdc:abc".to_string()),
        ("storage".to_string(), "docker.io/library/busybox:1".to_string()),
    ];
    let a = applied(&two, &r, &["127.0.0.1:5000/mlops/cdc".to_string()]);
    let e = judge("staging", Guard::Main, HEAD, &a, false).unwrap_err();
    assert!(
        e.starts_with("staging's pins are not this commit's images: storage runs 127.0.0.1:5000/mlops/storage@"),
        "{e}"
    );
    assert!(
        e.ends_with(
            "(and 1 more): pin them (cargo xtask manifests update staging), or pass --force to deploy them anyway"
        ),
        "{e}"
    );
    assert_eq!(judge("staging", Guard::Main, HEAD, &a, true).unwrap().len(), 2);
    assert_eq!(judge("development", Guard::Any, HEAD, &a, false).unwrap().len(), 2);
    // The foreign busybox is recorded with no origin and never judged.
    assert_eq!(a[2].origin, Origin::Foreign);
    // This commit's build, pinned by tag: fine below a release.
    let a = applied(&one("127.0.0.1:5000/mlops/storage:9.9.9"), &report(HEAD, NEW_DIGEST), &[]);
    assert_eq!(judge("staging", Guard::Main, HEAD, &a, false), Ok(vec![]));
}
