//! The last step of every deploy, rollback and `verify`: poll the
//! environment's namespace until every expected workload is rolled
//! out, one fails, or the one overall deadline passes. The decision is
//! `rollout::verdict`; this module only reads the objects and reports.

use crate::kube::cluster::Session;
use crate::kube::rollout::{self, Observed, State, Workload};
use crate::kube::want::Want;
use anyhow::Result;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// How a wait ended.
#[derive(Debug)]
pub enum Ending {
    Ready,
    /// These workloads failed (fast, before the deadline).
    Failed(Vec<Workload>),
    /// The deadline passed; these were still waiting.
    TimedOut(Vec<Workload>),
    /// Rolled out, but these smoke checks failed (a line each, naming it).
    ChecksFailed(Vec<String>),
    Interrupted,
}

/// `300`, `90s`, `5m`, `1h` → a duration; anything else is bad input.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits.parse().map_err(|_| format!("`{text}` is not a duration: write it like 90s, 5m or 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("`{text}` is not a duration: write it like 90s, 5m or 1h")),
    };
    if secs == 0 {
        return Err("the timeout must be at least 1s".into());
    }
    Ok(Duration::from_secs(secs))
}

/// One look at the namespace: one kubectl call (the wait looks again after `poll::Backoff::cluster`).
pub fn observe(s: &Session) -> Result<Observed> {
    let mut o = Observed::default();
    for item in s.get("deployments,replicasets,cronjobs,pods,events", None)? {
        match item["kind"].as_str() {
            Some("Deployment") => o.deployments.push(item),
            Some("ReplicaSet") => o.replicasets.push(item),
            Some("CronJob") => o.cronjobs.push(item),
            Some("Pod") => o.pods.push(item),
            Some("Event") => o.events.push(item),
            _ => {}
        }
    }
    Ok(o)
}

/// Poll until ready, failed or `deadline`; a line per workload as it becomes ready.
pub fn wait(s: &Session, expected: &BTreeMap<(String, String), Want>, deadline: Instant) -> Result<Ending> {
    let mut announced = BTreeSet::new();
    let mut pause = crate::kube::poll::Backoff::cluster();
    loop {
        if crate::exec::interrupted() {
            return Ok(Ending::Interrupted);
        }
        let now = rollout::verdict(&observe(s)?, expected);
        for w in now.iter().filter(|w| w.state == State::Ready) {
            if announced.insert((w.kind, w.name.clone())) {
                println!("  ready    {} ({} {})", w.component, w.kind, w.name);
            }
        }
        let failed: Vec<Workload> = now.iter().filter(|w| matches!(w.state, State::Failed(_))).cloned().collect();
        if !failed.is_empty() {
            return Ok(Ending::Failed(failed));
        }
        if now.iter().all(|w| w.state == State::Ready) {
            return Ok(Ending::Ready);
        }
        if Instant::now() >= deadline {
            return Ok(Ending::TimedOut(now.into_iter().filter(|w| w.state != State::Ready).collect()));
        }
        pause.sleep();
    }
}

/// The failure or the wait, as the lines a release manager reads.
pub fn describe(ending: &Ending) -> Vec<String> {
    let mut lines = Vec::new();
    match ending {
        Ending::Failed(ws) => {
            for w in ws {
                if let State::Failed(f) = &w.state {
                    lines.push(format!("{}: {f}", w.component));
                    lines.extend(f.events.iter().map(|e| format!("    event {e}")));
                }
            }
        }
        Ending::TimedOut(ws) => {
            for w in ws {
                if let State::Waiting(why) = &w.state {
                    lines.push(format!("{}: not rolled out before the deadline: {why}", w.component));
                }
            }
        }
        Ending::ChecksFailed(failed) => {
            lines.extend(failed.iter().map(|f| format!("smoke check {f}")));
        }
        Ending::Ready | Ending::Interrupted => {}
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("300"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("5 minutes").unwrap_err().contains("like 90s, 5m or 1h"));
        assert!(parse_duration("").is_err());
    }
}
