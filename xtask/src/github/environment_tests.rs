use super::*;

const PROTECTED: &str = include_str!("../../tests/fixtures/github/environment-production-protected.json");
const UNPROTECTED: &str = include_str!("../../tests/fixtures/github/environment-staging-unprotected.json");
const FORBIDDEN: &str = include_str!("../../tests/fixtures/github/error-403-no-actions-read.json");
const MISSING: &str = include_str!("../../tests/fixtures/github/error-404.json");

#[test]
fn required_reviewers_approve_and_anything_less_is_refused_naming_the_fix() {
    assert_eq!(judge("production", 200, PROTECTED), Ok(()));
    let none = judge("staging", 200, UNPROTECTED).unwrap_err();
    assert!(none.starts_with("environment staging has no required reviewers"), "{none}");
    assert!(none.contains("Settings → Environments → staging → Required reviewers"), "{none}");
    let forbidden = judge("production", 403, FORBIDDEN).unwrap_err();
    assert!(forbidden.contains("`permissions: actions: read`"), "{forbidden}");
    let missing = judge("production", 404, MISSING).unwrap_err();
    assert!(missing.starts_with("GitHub has no environment production"), "{missing}");
    // A reviewers rule with nobody in it is no review.
    let empty = r#"{"protection_rules":[{"type":"required_reviewers","reviewers":[]}]}"#;
    assert!(judge("production", 200, empty).is_err());
    assert!(judge("production", 200, "{}").is_err(), "no rules at all");
    assert!(judge("production", 502, "").unwrap_err().contains("answered 502"));
}

/// One canned answer on the fake API; the handle gives the request as sent.
fn serve(status: u16, body: &str) -> (String, std::thread::JoinHandle<String>) {
    let (url, seen) = crate::github::api::serve(vec![(status, body.to_string())]);
    (url, std::thread::spawn(move || seen.join().unwrap().remove(0)))
}

#[test]
fn the_rules_are_read_with_the_jobs_token_from_the_repositorys_api() {
    if which::which("curl").is_err() {
        eprintln!("skipped: no curl");
        return;
    }
    let (api, request) = serve(200, UNPROTECTED);
    let vars = |k: &str| match k {
        "GITHUB_TOKEN" => Some("ghs_s3cret".to_string()),
        "GITHUB_REPOSITORY" => Some("acme/platform".to_string()),
        "GITHUB_API_URL" => Some(api.clone()),
        _ => None,
    };
    let err = require_reviewers("staging", &vars).unwrap_err();
    assert!(err.starts_with("environment staging has no required reviewers"), "{err}");
    let sent = request.join().unwrap();
    assert!(sent.starts_with("GET /repos/acme/platform/environments/staging HTTP/1.1"), "{sent}");
    assert!(sent.contains("Authorization: Bearer ghs_s3cret"), "{sent}");
    assert!(sent.contains("X-GitHub-Api-Version: 2022-11-28"), "{sent}");

    let (api, request) = serve(403, FORBIDDEN);
    let vars = |k: &str| if k == "GITHUB_API_URL" { Some(api.clone()) } else { vars(k) };
    assert!(require_reviewers("production", &vars).unwrap_err().contains("actions: read"));
    request.join().unwrap();

    let no_token = require_reviewers("production", &|_| None).unwrap_err();
    assert!(no_token.contains("set `GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}` on the deploy step"), "{no_token}");
}

#[test]
fn an_environment_name_is_one_path_segment() {
    assert_eq!(segment("production"), "production");
    assert_eq!(segment("eu west/1"), "eu%20west%2F1");
}
