//! Deploys fail closed on GitHub: a job bound to an environment counts as
//! approved only when that environment requires reviewers. GitHub creates an
//! environment a job names on first use, with no protection at all, so a
//! typo or a new repository would otherwise deploy production unreviewed.
//! The rules come from the REST API (`GET /repos/{repo}/environments/{name}`,
//! needing `actions: read`), read with the job's token through curl, the
//! token handed over on stdin (never in argv).

use serde_json::Value;
use xshell::{cmd, Shell};

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
    let token = vars("GITHUB_TOKEN").ok_or_else(|| {
        format!("deploying {env} from GitHub checks its required reviewers with the job's token: set `GITHUB_TOKEN: ${{{{ secrets.GITHUB_TOKEN }}}}` on the deploy step")
    })?;
    let repo = vars("GITHUB_REPOSITORY")
        .ok_or_else(|| "GITHUB_REPOSITORY is not set: run the deploy inside a GitHub Actions job".to_string())?;
    let api = vars("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into());
    let url = format!("{}/repos/{repo}/environments/{}", api.trim_end_matches('/'), segment(env));
    let sh = Shell::new().map_err(|e| e.to_string())?;
    // curl's config on stdin carries the token; a marker line ends the body with the status.
    let config = format!(
        "header = \"Authorization: Bearer {token}\"\nheader = \"Accept: application/vnd.github+json\"\nheader = \"X-GitHub-Api-Version: 2022-11-28\"\n"
    );
    let status_line = "\nXTASK-HTTP-STATUS:%{http_code}";
    let out = cmd!(sh, "curl --silent --show-error --max-time 30 --config - --write-out {status_line} {url}")
        .stdin(config)
        .quiet()
        .ignore_status()
        .output()
        .map_err(|e| format!("cannot run curl to read environment {env}'s protection rules ({e}): install curl"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (body, status) = text.rsplit_once("\nXTASK-HTTP-STATUS:").unwrap_or((&text, "0"));
    match status.trim().parse::<u16>() {
        Ok(code) if code > 0 => judge(env, code, body),
        _ => Err(format!(
            "cannot reach GitHub's API at {api} to read environment {env}'s protection rules: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

#[cfg(test)]
#[path = "environment_tests.rs"]
mod tests;
