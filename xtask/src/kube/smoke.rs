//! Running a render's smoke checks (split off the render by
//! `manifests::checks`) after a rollout, all at once: each Job created,
//! polled to its end or its deadline (the Job's `activeDeadlineSeconds`, plus
//! a grace for the xtask's own), its pod's log printed (and put in the GitHub
//! step summary), the Job deleted on every exit path (Ctrl-C included). The
//! exit code is the verdict. The verdicts over the Job and its pods are pure
//! (`job_state`, `stuck`).

use crate::github;
use crate::kube::cluster::Session;
use crate::kube::wait::Ending;
use anyhow::Result;
use serde_json::Value;
use std::time::{Duration, Instant};

/// One smoke check: a Job to create, and how long it may take.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: String,
    /// Its component (`app.kubernetes.io/name`), else the Job's name.
    pub component: String,
    /// The Job as rendered.
    pub job: Value,
    /// `activeDeadlineSeconds` (the cluster's timeout), else the manifests' default.
    pub deadline: Duration,
}

/// Longer than the Job's own deadline, so the cluster's verdict comes first.
const GRACE: Duration = Duration::from_secs(30);
/// The waiting reasons no check recovers from.
const STUCK: [&str; 4] = ["ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "InvalidImageName"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum JobState {
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
fn job_state(job: &Value) -> JobState {
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
/// so the checks take as long as the slowest, not their sum), their lines
/// printed in the given order as each is known: the failed ones' lines; an
/// interrupt stops them.
fn run_all(s: &Session, checks: &[Check]) -> Result<Outcome> {
    let mut out = Outcome::default();
    if checks.is_empty() {
        return Ok(out);
    }
    println!("smoke checks: {}", checks.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "));
    let mut summary = String::from("### smoke checks\n\n");
    let mut jobs = Vec::new();
    for check in checks {
        jobs.push(Some(start(s, check)?));
    }
    let began = Instant::now();
    // One `get` of the Jobs and the pods per poll, however many checks run (`judge` picks each check's own).
    let mut ended: Vec<Option<(Verdict, String, Duration)>> = vec![None; checks.len()];
    let mut printed = 0;
    let mut pause = crate::kube::poll::Backoff::cluster();
    while printed < checks.len() {
        let stop = crate::exec::interrupted();
        let (all_jobs, pods): (Vec<Value>, Vec<Value>) = if stop {
            (Vec::new(), Vec::new())
        } else {
            s.get("jobs,pods", None)?.into_iter().partition(|o| o["kind"] == "Job")
        };
        for (i, check) in checks.iter().enumerate() {
            if ended[i].is_some() {
                continue;
            }
            let Some(verdict) =
                (if stop { Some(Verdict::Interrupted) } else { judge(check, &all_jobs, &pods, began.elapsed()) })
            else {
                continue;
            };
            let log = logs(s, &format!("job-name={}", check.name));
            jobs[i] = None; // its Job deleted now: a hanging check's pod stops at once
            ended[i] = Some((verdict, log, began.elapsed()));
        }
        while let Some(Some((verdict, log, took))) = ended.get(printed) {
            let check = &checks[printed];
            let l = line(check, verdict, *took);
            println!("{l}");
            print_log(check, log);
            summary.push_str(&format!("**{}**\n\n```\n{}\n```\n\n", l.trim(), log.trim_end()));
            match verdict {
                Verdict::Passed => {}
                Verdict::Interrupted => out.interrupted = true,
                _ => out.failed.push(l.trim().trim_start_matches("FAILED").trim().to_string()),
            }
            printed += 1;
        }
        if printed < checks.len() {
            pause.sleep();
        }
    }
    if github::on_github() {
        github::append_summary(&summary)?;
    }
    Ok(out)
}

/// A running check's verdict from this poll's Jobs and pods, None while it runs
/// within its deadline (the Job's own plus [`GRACE`]).
fn judge(check: &Check, jobs: &[Value], pods: &[Value], took: Duration) -> Option<Verdict> {
    let job = jobs.iter().find(|j| j["metadata"]["name"] == check.name.as_str()).unwrap_or(&Value::Null);
    match job_state(job) {
        JobState::Passed => return Some(Verdict::Passed),
        JobState::Failed(why) => return Some(Verdict::Failed(why)),
        JobState::Running => {}
    }
    let own = pods.iter().filter(|p| p["metadata"]["labels"]["job-name"] == check.name.as_str());
    if let Some(why) = own.filter_map(stuck).next() {
        return Some(Verdict::Failed(why));
    }
    (took >= check.deadline + GRACE).then_some(Verdict::TimedOut)
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

/// Create a check's Job (a leftover of an interrupted run deleted first, or
/// create would fail); it is deleted when the guard drops.
fn start<'a>(s: &'a Session, check: &Check) -> Result<Created<'a>> {
    let ns = s.namespace.clone();
    s.run(
        &["delete", "job", &check.name, "-n", &ns, "--ignore-not-found", "--cascade=foreground", "--wait=true"],
        None,
    )?;
    let job = match crate::telemetry::traceparent() {
        Some(tp) => traced(&check.job, &tp),
        None => check.job.clone(),
    };
    s.create(&job)?;
    Ok(Created { s, name: check.name.clone() })
}

/// A Job that carries the run's trace context: `TRACEPARENT` in every
/// container's environment (the checks and the load send it as the
/// `traceparent` header, so the services log their requests inside the run's
/// trace) and the `xtask.dev/traceparent` annotation on its pods.
pub fn traced(job: &Value, traceparent: &str) -> Value {
    let mut job = job.clone();
    let template = &mut job["spec"]["template"];
    template["metadata"]["annotations"][crate::telemetry::TRACE_ANNOTATION] = Value::from(traceparent);
    for key in ["initContainers", "containers"] {
        let Some(containers) = template["spec"][key].as_array_mut() else { continue };
        for c in containers {
            let mut env: Vec<Value> = c["env"].as_array().cloned().unwrap_or_default();
            env.retain(|e| e["name"] != crate::telemetry::TRACEPARENT);
            env.push(serde_json::json!({"name": crate::telemetry::TRACEPARENT, "value": traceparent}));
            c["env"] = Value::Array(env);
        }
    }
    job
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
