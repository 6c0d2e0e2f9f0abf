//! One pull-request comment per preview, updated in place, never re-posted:
//! the comment carrying our marker is found among the pull request's
//! comments and edited, else posted (GitHub's REST API, issues comments; the
//! job's token needs `pull-requests: write`). curl reads its config, the
//! token and the JSON body, on stdin (never in argv).

use super::api::Api;
use serde_json::{json, Value};

/// The hidden line that marks the preview's comment on pull request `pr`.
pub fn marker(pr: u64) -> String {
    format!("<!-- xtask-preview pr-{pr} -->")
}

/// The id of the comment carrying `marker` in a page of comments (GitHub's JSON).
pub fn find(comments: &Value, marker: &str) -> Option<u64> {
    comments.as_array()?.iter().find(|c| c["body"].as_str().is_some_and(|b| b.contains(marker)))?["id"].as_u64()
}

/// Post `body` on pull request `pr`, or edit the comment an earlier run
/// posted. `vars` reads the job's environment (GITHUB_TOKEN, GITHUB_REPOSITORY,
/// GITHUB_API_URL). Returns the comment's id.
pub fn upsert(pr: u64, body: &str, vars: &dyn Fn(&str) -> Option<String>) -> Result<u64, String> {
    let api = Api::from_vars(
        vars,
        "commenting on the pull request needs the job's token: set `GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}` on the preview step",
    )?;
    let base = format!("{}/issues", api.repo);
    let refused = |what: &str, code: u16| {
        match code {
        401 | 403 => format!("GitHub refused to {what} ({code}): give the preview job `permissions: pull-requests: write` and set GITHUB_TOKEN on its step"),
        other => format!("GitHub answered {other} when asked to {what}: retry the job"),
    }
    };
    let text = format!("{}\n{body}", marker(pr));
    let (code, page) = api.call("GET", &format!("{base}/{pr}/comments?per_page=100"), None)?;
    if code != 200 {
        return Err(refused("list the pull request's comments", code));
    }
    let page: Value = serde_json::from_str(&page)
        .map_err(|e| format!("GitHub's list of comments is not JSON ({e}): retry the job"))?;
    let (code, answer) = match find(&page, &marker(pr)) {
        Some(id) => api.call("PATCH", &format!("{base}/comments/{id}"), Some(&json!({ "body": text })))?,
        None => api.call("POST", &format!("{base}/{pr}/comments"), Some(&json!({ "body": text })))?,
    };
    if !(200..300).contains(&code) {
        return Err(refused("write the preview's comment", code));
    }
    let answer: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
    answer["id"].as_u64().ok_or_else(|| "GitHub's answer names no comment id: retry the job".to_string())
}

#[cfg(test)]
#[path = "comment_tests.rs"]
mod tests;
