//! Deploys fail closed on GitHub: a job bound to an environment counts as
//! approved only when that environment requires reviewers. GitHub creates an
//! environment a job names on first use, with no protection at all, so a
//! typo or a new repository would otherwise deploy production unreviewed.
//! The rules come from the REST API (`GET /repos/{repo}/environments/{name}`,
//! needing `actions: read`), read with the job's token through curl, the
//! token handed over on stdin (never in argv).

use super::api::Api;
use serde_json::Value;

/// Where a repository's owner adds reviewers.
fn settings(env: &str) -> String {
    format!("Settings → Environments → {env} → Required reviewers")
}

/// Whether the API's answer (`status`, body) shows required reviewers; the
/// error is one line naming the fix.
pub fn judge(env: &str, status: u16, body: &str) -> Result<(), String> {
    match status {
        200 => {}
        401 => return Err(format!("GitHub refused the job's token reading environment {env}: set GITHUB_TOKEN to `${{{{ secrets.GITHUB_TOKEN }}}}` on the deploy step")),
        403 => return Err(format!("the job's token cannot read environment {env}'s protection rules: give the deploy job `permissions: actions: read`")),
        404 => return Err(format!("GitHub has no environment {env} in this repository: create it with required reviewers ({})", settings(env))),
        other => return Err(format!("GitHub answered {other} reading environment {env}'s protection rules: retry the job, or look at GitHub's status page")),
    }
    let json: Value = serde_json::from_str(body)
        .map_err(|e| format!("GitHub's answer for environment {env} is not JSON ({e}): retry the job"))?;
    let reviewers: usize = json["protection_rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["type"] == "required_reviewers")
        .map(|r| r["reviewers"].as_array().map_or(0, Vec::len))
        .sum();
    if reviewers == 0 {
        return Err(format!(
            "environment {env} has no required reviewers, so this job would deploy it unapproved: add them ({}), or, where the plan cannot (a private repository on GitHub Free), set `reviewers = \"not-required\"` in deploy/overlays/{env}/xtask.toml",
            settings(env)
        ));
    }
    Ok(())
}

/// The environment's name as one URL path segment.
fn segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Reads `env`'s protection rules with the job's token and judges them.
/// `vars` reads the job's environment (GITHUB_TOKEN, GITHUB_REPOSITORY,
/// GITHUB_API_URL).
pub fn require_reviewers(env: &str, vars: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
    let no_token = format!("deploying {env} from GitHub checks its required reviewers with the job's token: set `GITHUB_TOKEN: ${{{{ secrets.GITHUB_TOKEN }}}}` on the deploy step");
    let api = Api::from_vars(vars, &no_token)?;
    let (code, body) = api.call("GET", &format!("{}/environments/{}", api.repo, segment(env)), None)?;
    judge(env, code, &body)
}

#[cfg(test)]
#[path = "environment_tests.rs"]
mod tests;
