use super::*;
use crate::github::api::serve;

fn vars(api: &str) -> impl Fn(&str) -> Option<String> + '_ {
    move |k: &str| match k {
        "GITHUB_TOKEN" => Some("ghs_s3cret".to_string()),
        "GITHUB_REPOSITORY" => Some("acme/platform".to_string()),
        "GITHUB_API_URL" => Some(api.to_string()),
        _ => None,
    }
}

#[test]
fn the_comment_is_found_by_its_marker() {
    let page = json!([{"id": 1, "body": "looks good"}, {"id": 9, "body": "<!-- xtask-preview pr-7 -->\nold"}]);
    assert_eq!(find(&page, &marker(7)), Some(9));
    assert_eq!(find(&page, &marker(8)), None);
    assert_eq!(find(&json!({"message": "x"}), &marker(7)), None);
}

#[test]
fn a_second_run_edits_the_comment_the_first_posted() {
    if which::which("curl").is_err() {
        eprintln!("skipped: no curl");
        return;
    }
    // first run: no comment yet, so one is posted
    let (api, seen) = serve(vec![(200, "[]".into()), (201, r#"{"id": 77}"#.into())]);
    assert_eq!(upsert(7, "preview \"pr-7\" is up\nline two", &vars(&api)), Ok(77));
    let seen = seen.join().unwrap();
    assert!(seen[0].starts_with("GET /repos/acme/platform/issues/7/comments?per_page=100 HTTP/1.1"), "{}", seen[0]);
    assert!(seen[0].contains("Authorization: Bearer ghs_s3cret"), "{}", seen[0]);
    assert!(seen[1].starts_with("POST /repos/acme/platform/issues/7/comments HTTP/1.1"), "{}", seen[1]);
    let body: Value = serde_json::from_str(seen[1].split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["body"], "<!-- xtask-preview pr-7 -->\npreview \"pr-7\" is up\nline two");
    // second run: the same comment is edited, nothing is posted
    let page = json!([{"id": 77, "body": body["body"]}]).to_string();
    let (api, seen) = serve(vec![(200, page), (200, r#"{"id": 77}"#.into())]);
    assert_eq!(upsert(7, "preview pr-7 failed", &vars(&api)), Ok(77));
    let seen = seen.join().unwrap();
    assert!(seen[1].starts_with("PATCH /repos/acme/platform/issues/comments/77 HTTP/1.1"), "{}", seen[1]);
    assert!(seen.iter().all(|r| !r.contains("ghs_s3cret\n") && !r.starts_with("POST")));
}

#[test]
fn a_refusal_names_the_permission_and_no_token_names_the_variable() {
    if which::which("curl").is_err() {
        eprintln!("skipped: no curl");
        return;
    }
    let (api, seen) = serve(vec![(403, r#"{"message": "Resource not accessible by integration"}"#.into())]);
    let e = upsert(7, "x", &vars(&api)).unwrap_err();
    assert!(e.contains("`permissions: pull-requests: write`"), "{e}");
    seen.join().unwrap();
    let e = upsert(7, "x", &|_| None).unwrap_err();
    assert!(e.contains("set `GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}` on the preview step"), "{e}");
}
