//! One pull-request comment per preview, updated in place, never re-posted:
//! the comment carrying our marker is found among the pull request's
//! comments and edited, else posted (GitHub's REST API, issues comments; the
//! job's token needs `pull-requests: write`). curl reads its config, the
//! token and the JSON body, on stdin (never in argv).

use serde_json::{json, Value};
use xshell::{cmd, Shell};

/// The hidden line that marks the preview's comment on pull request `pr`.
pub fn marker(pr: u64) -> String {
    format!("<!-- xtask-preview pr-{pr} -->")
}

/// The id of the comment carrying `marker` in a page of comments (GitHub's JSON).
pub fn find(comments: &Value, marker: &str) -> Option<u64> {
    comments.as_array()?.iter().find(|c| c["body"].as_str().is_some_and(|b| b.contains(marker)))?["id"].as_u64()
}

/// A string as curl's config file quotes it.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// One API call: (status, body); the error is one line.
fn call(token: &str, method: &str, url: &str, body: Option<&Value>) -> Result<(u16, String), String> {
    let sh = Shell::new().map_err(|e| e.to_string())?;
    let mut config = format!(
        "header = \"Authorization: Bearer {token}\"\nheader = \"Accept: application/vnd.github+json\"\nheader = \"X-GitHub-Api-Version: 2022-11-28\"\nrequest = {method}\n"
    );
    if let Some(b) = body {
        config += &format!("header = \"Content-Type: application/json\"\ndata-binary = {}\n", quoted(&b.to_string()));
    }
    let status_line = "\nXTASK-HTTP-STATUS:%{http_code}";
    let out = cmd!(sh, "curl --silent --show-error --max-time 30 --config - --write-out {status_line} {url}")
        .stdin(config)
        .quiet()
        .ignore_status()
        .output()
        .map_err(|e| format!("cannot run curl to comment on the pull request ({e}): install curl"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (answer, status) = text.rsplit_once("\nXTASK-HTTP-STATUS:").unwrap_or((&text, "0"));
    match status.trim().parse::<u16>() {
        Ok(code) if code > 0 => Ok((code, answer.to_string())),
        _ => Err(format!("cannot reach GitHub's API at {url}: {}", String::from_utf8_lossy(&out.stderr).trim())),
    }
}

/// Post `body` on pull request `pr`, or edit the comment an earlier run
/// posted. `vars` reads the job's environment (GITHUB_TOKEN, GITHUB_REPOSITORY,
/// GITHUB_API_URL). Returns the comment's id.
pub fn upsert(pr: u64, body: &str, vars: &dyn Fn(&str) -> Option<String>) -> Result<u64, String> {
    let token = vars("GITHUB_TOKEN").ok_or_else(|| {
        "commenting on the pull request needs the job's token: set `GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}` on the preview step".to_string()
    })?;
    let repo = vars("GITHUB_REPOSITORY")
        .ok_or_else(|| "GITHUB_REPOSITORY is not set: run the preview inside a GitHub Actions job".to_string())?;
    let api = vars("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into());
    let base = format!("{}/repos/{repo}/issues", api.trim_end_matches('/'));
    let refused = |what: &str, code: u16| {
        match code {
        401 | 403 => format!("GitHub refused to {what} ({code}): give the preview job `permissions: pull-requests: write` and set GITHUB_TOKEN on its step"),
        other => format!("GitHub answered {other} when asked to {what}: retry the job"),
    }
    };
    let text = format!("{}\n{body}", marker(pr));
    let (code, page) = call(&token, "GET", &format!("{base}/{pr}/comments?per_page=100"), None)?;
    if code != 200 {
        return Err(refused("list the pull request's comments", code));
    }
    let page: Value = serde_json::from_str(&page)
        .map_err(|e| format!("GitHub's list of comments is not JSON ({e}): retry the job"))?;
    let (code, answer) = match find(&page, &marker(pr)) {
        Some(id) => call(&token, "PATCH", &format!("{base}/comments/{id}"), Some(&json!({ "body": text })))?,
        None => call(&token, "POST", &format!("{base}/{pr}/comments"), Some(&json!({ "body": text })))?,
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
