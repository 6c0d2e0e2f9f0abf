//! Running a render's smoke checks (`manifests::checks`) after a rollout, all
//! at once: each Job created, polled to its end or its deadline (the Job's
//! `activeDeadlineSeconds`, plus a grace for the xtask's own), its pod's log
//! printed (and put in the GitHub step summary), the Job deleted on every exit
//! path (Ctrl-C included). The exit code is the verdict. The verdicts over the
//! Job and its pods are pure (`job_state`, `stuck`).

use crate::github;
use crate::kube::cluster::Session;
use crate::kube::wait::Ending;
use crate::manifests::checks::Check;
use anyhow::Result;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Longer than the Job's own deadline, so the cluster's verdict comes first.
pub const GRACE: Duration = Duration::from_secs(30);
/// The waiting reasons no check recovers from.
const STUCK: [&str; 4] = ["ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "InvalidImageName"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    Running,
    Passed,
    /// The Job failed: the condition's reason and message.
    Failed(String),
}

/// How one check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed(String),
    TimedOut,
    Interrupted,
}

/// A Job's state from its conditions (`Complete`, `Failed` or `FailureTarget`, status True).
pub fn job_state(job: &Value) -> JobState {
    let conditions = job["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let holds = |kind: &str| conditions.iter().find(|c| c["status"] == "True" && c["type"] == kind);
    if holds("Complete").is_some() {
        return JobState::Passed;
    }
    // Since Kubernetes 1.31 the Job controller says FailureTarget as soon as it
    // decides, and Failed only once its pods are gone (a container that ignores
    // SIGTERM takes its whole grace period): the verdict is the first to come.
    let Some(c) = holds("Failed").or_else(|| holds("FailureTarget")) else { return JobState::Running };
    let reason = c["reason"].as_str().unwrap_or("Failed");
    let message = c["message"].as_str().unwrap_or_default();
    let why = match reason {
        "DeadlineExceeded" => format!("{reason}: it ran into its activeDeadlineSeconds"),
        _ => reason.to_string(),
    };
    JobState::Failed(if message.is_empty() { why } else { format!("{why} ({message})") })
}

/// A pod that cannot start: its container and waiting reason with the message.
pub fn stuck(pod: &Value) -> Option<String> {
    let statuses = pod["status"]["containerStatuses"].as_array()?;
    statuses.iter().find_map(|c| {
        let waiting = &c["state"]["waiting"];
        let reason = waiting["reason"].as_str()?;
        STUCK.contains(&reason).then(|| {
            let name = c["name"].as_str().unwrap_or("?");
            let message = waiting["message"].as_str().map(|m| format!(" ({m})")).unwrap_or_default();
            format!("container {name}: {reason}{message}")
        })
    })
}

/// The line a verdict prints: `  passed   storage (Job storage-smoke, 4s)`.
pub fn line(check: &Check, verdict: &Verdict, took: Duration) -> String {
    let secs = took.as_secs();
    match verdict {
        Verdict::Passed => format!("  passed   {} (check {}, {secs}s)", check.component, check.name),
        Verdict::Failed(why) => format!("  FAILED   {} (check {}, {secs}s): {why}", check.component, check.name),
        Verdict::TimedOut => format!(
            "  FAILED   {} (check {}): timed out after {secs}s (its deadline is {}s)",
            check.component,
            check.name,
            check.deadline.as_secs()
        ),
        Verdict::Interrupted => format!("  stopped  {} (check {}): interrupted", check.component, check.name),
    }
}

/// After a wait: when everything is rolled out, run the checks; a failed one
/// turns the ending into `ChecksFailed` (so a deploy rolls back as for a failed rollout).
pub fn after(s: &Session, ending: Ending, checks: &[Check]) -> Result<Ending> {
    if !matches!(ending, Ending::Ready) || checks.is_empty() {
        return Ok(ending);
    }
    let out = run_all(s, checks)?;
    Ok(if out.interrupted {
        Ending::Interrupted
    } else if out.failed.is_empty() {
        Ending::Ready
    } else {
        Ending::ChecksFailed(out.failed)
    })
}

/// Run every check at once (each is a Job of its own writing data of its own,
/// so a verify takes its slowest check, not their sum), their lines printed in
/// the given order as each is known: the failed ones' lines; an interrupt stops them.
pub fn run_all(s: &Session, checks: &[Check]) -> Result<Outcome> {
    let mut out = Outcome::default();
    if checks.is_empty() {
        return Ok(out);
    }
    println!("smoke checks: {}", checks.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "));
    let mut summary = String::from("### smoke checks\n\n");
    std::thread::scope(|scope| -> Result<()> {
        let running: Vec<_> = checks
            .iter()
            .map(|check| {
                scope.spawn(move || {
                    let start = Instant::now();
                    run_one(s, check).map(|(verdict, log)| (verdict, log, start.elapsed()))
                })
            })
            .collect();
        for (check, thread) in checks.iter().zip(running) {
            let (verdict, log, took) =
                thread.join().map_err(|_| anyhow::anyhow!("smoke check {}: its thread panicked", check.name))??;
            let l = line(check, &verdict, took);
            println!("{l}");
            print_log(check, &log);
            summary.push_str(&format!("**{}**\n\n```\n{}\n```\n\n", l.trim(), log.trim_end()));
            match verdict {
                Verdict::Passed => {}
                Verdict::Interrupted => out.interrupted = true,
                _ => out.failed.push(l.trim().trim_start_matches("FAILED").trim().to_string()),
            }
        }
        Ok(())
    })?;
    if github::on_github() {
        github::append_summary(&summary)?;
    }
    Ok(out)
}

/// What the checks came to.
#[derive(Debug, Default)]
pub struct Outcome {
    pub failed: Vec<String>,
    pub interrupted: bool,
}

fn print_log(check: &Check, log: &str) {
    let gh = github::on_github();
    if gh {
        println!("::group::{} output", check.name);
    }
    for l in log.lines() {
        println!("    | {l}");
    }
    if gh {
        println!("::endgroup::");
    }
}

/// Deletes the check's Job (and, in the background, its pods) when dropped.
struct Created<'a> {
    s: &'a Session,
    name: String,
}

impl Drop for Created<'_> {
    fn drop(&mut self) {
        let ns = self.s.namespace.clone();
        let _ = self.s.run(
            &["delete", "job", &self.name, "-n", &ns, "--ignore-not-found", "--cascade=background", "--wait=false"],
            None,
        );
    }
}

fn run_one(s: &Session, check: &Check) -> Result<(Verdict, String)> {
    // A leftover of an interrupted run would make create fail.
    let ns = s.namespace.clone();
    s.run(
        &["delete", "job", &check.name, "-n", &ns, "--ignore-not-found", "--cascade=foreground", "--wait=true"],
        None,
    )?;
    s.create(&check.job)?;
    let _job = Created { s, name: check.name.clone() };
    let deadline = Instant::now() + check.deadline + GRACE;
    let selector = format!("job-name={}", check.name);
    let verdict = loop {
        if crate::exec::interrupted() {
            break Verdict::Interrupted;
        }
        let job = s.get_one("job", &check.name)?.unwrap_or(Value::Null);
        match job_state(&job) {
            JobState::Passed => break Verdict::Passed,
            JobState::Failed(why) => break Verdict::Failed(why),
            JobState::Running => {}
        }
        if let Some(why) = s.get("pods", Some(&selector))?.iter().find_map(stuck) {
            break Verdict::Failed(why);
        }
        if Instant::now() >= deadline {
            break Verdict::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(1000));
    };
    Ok((verdict, logs(s, &selector)))
}

/// Every pod's log of a check (the newest pod last); what could not be read says so.
fn logs(s: &Session, selector: &str) -> String {
    let ns = s.namespace.clone();
    let pods = s.get("pods", Some(selector)).unwrap_or_default();
    let mut names: Vec<(String, String)> = pods
        .iter()
        .map(|p| {
            let created = p["metadata"]["creationTimestamp"].as_str().unwrap_or_default().to_string();
            (created, p["metadata"]["name"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    names.sort();
    let mut out = String::new();
    for (_, pod) in &names {
        if names.len() > 1 {
            out.push_str(&format!("--- pod {pod}\n"));
        }
        match s.run(&["logs", pod, "-n", &ns, "--all-containers", "--tail=200"], None) {
            Ok(text) => out.push_str(&text),
            Err(e) => out.push_str(&format!("(no log: {e})\n")),
        }
    }
    if names.is_empty() {
        out.push_str("(no pod was started)\n");
    }
    out
}

#[cfg(test)]
#[path = "smoke_tests.rs"]
mod tests;
