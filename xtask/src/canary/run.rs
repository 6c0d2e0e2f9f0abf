//! One canary on the cluster, from the rollout of the rest of the release to
//! promote, abort or pause. Whatever ends it early (an error, Ctrl-C, a lost
//! lock) removes the canary: the stable pods, never touched before the
//! promotion, keep serving.

use crate::canary::judge::{self, Analysis, Call, Decision};
use crate::canary::strategy::{self, Canary};
use crate::canary::{cluster, Part};
use crate::github;
use crate::kube::cluster::Session;
use crate::kube::lock;
use crate::kube::wait::{self, Ending};
use crate::kube::want::wanted;
use crate::kube::Object;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

pub struct Canarying<'a> {
    pub s: &'a Session,
    pub env: &'a str,
    pub c: &'a Canary,
    /// The canary components, each with its Service.
    pub parts: Vec<Part>,
    /// The whole render (without its smoke checks) and its file.
    pub objects: &'a [Object],
    pub file: &'a Path,
    pub load_image: String,
    pub timeout: Duration,
}

/// A canary as its release records it: its steps, where it stands, the verdict tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub steps: Vec<String>,
    /// analysing, paused, promoted or aborted.
    pub state: String,
    /// The analyses' verdict tables (markdown), oldest first.
    pub verdicts: Vec<String>,
}

#[derive(Debug)]
pub enum End {
    /// The analyses passed and the stable Deployments took the new template: how that rollout ended.
    Promoted(Ending),
    /// Judged worse, or the canary did not come up: the canary is gone.
    Aborted(String),
    /// Analyses without enough traffic: the canary stays for a person's decision.
    Paused,
    /// Ctrl-C or a lost lock: the canary is gone.
    Stopped(String),
    /// The rest of the release did not roll out (no canary was started).
    RolloutFailed(Ending),
}

fn stop_reason() -> Option<String> {
    if crate::exec::interrupted() {
        Some("interrupted (Ctrl-C)".into())
    } else if lock::lost() {
        Some("the environment's lock was taken by another deploy".into())
    } else {
        None
    }
}

/// Sleep until `until`, or return why the canary must stop.
fn pause_until(until: Instant) -> Option<String> {
    while Instant::now() < until {
        if let Some(why) = stop_reason() {
            return Some(why);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    stop_reason()
}

fn object(value: Value) -> Object {
    Object {
        kind: value["kind"].as_str().unwrap_or_default().to_string(),
        name: value["metadata"]["name"].as_str().unwrap_or_default().to_string(),
        namespace: value["metadata"]["namespace"].as_str().map(String::from),
        line: 0,
        value,
    }
}

/// Removes the canary (and the load Job) when dropped, unless told it stays.
struct Guard<'a> {
    s: &'a Session,
    keep: bool,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        match super::remove(self.s) {
            Ok(gone) if !gone.is_empty() => println!("  removed  canary {}", gone.join(", ")),
            Ok(_) => {}
            Err(e) => eprintln!("warning: cannot remove the canary ({e:#}): `cargo xtask canary ENV abort` removes it"),
        }
    }
}

/// A verdict table as text, aligned.
fn text_table(component: &str, n: usize, a: &Analysis) -> String {
    let head = ["metric", "stable", "canary", "p-value / ratio", "result"];
    let rows: Vec<[String; 5]> = std::iter::once(head.map(String::from))
        .chain(a.rows.iter().map(|r| {
            [r.metric.clone(), r.stable.clone(), r.canary.clone(), r.test.clone(), r.call.label().to_string()]
        }))
        .collect();
    let width: Vec<usize> = (0..5).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = format!("  {component}, analysis {n}: {}\n", a.call.label());
    for r in &rows {
        let cells: Vec<String> = r.iter().zip(&width).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(&format!("    {}\n", cells.join("  ").trim_end()));
    }
    out
}

/// The step summary's section: the steps, then every verdict table.
pub fn summary(env: &str, record: &Record) -> String {
    let steps: String = record.steps.iter().map(|l| format!("- `{l}`\n")).collect();
    format!("### canary {env}\n\n{steps}\n{}\n", record.verdicts.join("\n"))
}

impl Canarying<'_> {
    pub fn steps(&self) -> Vec<String> {
        let targets = super::targets(&self.parts);
        strategy::steps(self.c, &targets)
    }

    /// Run the canary to its end; `record` is filled as it goes.
    pub fn run(&self, record: &mut Record) -> Result<End> {
        let s = self.s;
        let stable_names: Vec<String> = self
            .parts
            .iter()
            .map(|p| p.deployment["metadata"]["name"].as_str().unwrap_or_default().to_string())
            .collect();
        // 1. Everything but the canary components' Deployments rolls as usual.
        let others: Vec<Object> = self
            .objects
            .iter()
            .filter(|o| !(o.kind == "Deployment" && stable_names.contains(&o.name)))
            .cloned()
            .collect();
        println!("deploy {}: canary step 1: apply the release except {}", self.env, stable_names.join(", "));
        let list =
            json!({"apiVersion": "v1", "kind": "List", "items": others.iter().map(|o| &o.value).collect::<Vec<_>>()});
        s.apply(None, Some(&list.to_string()), false)?;
        let ending = wait::wait(s, &wanted(&others), Instant::now() + self.timeout)?;
        match ending {
            Ending::Ready => {}
            Ending::Interrupted => return Ok(End::Stopped("interrupted (Ctrl-C)".into())),
            failed => return Ok(End::RolloutFailed(failed)),
        }

        // 2. The canary Deployments beside the stable ones; removed on any early end.
        let mut guard = Guard { s, keep: false };
        let canaries: Vec<Object> =
            self.parts.iter().map(|p| object(cluster::canary_deployment(&p.deployment, self.c.replicas))).collect();
        println!(
            "deploy {}: canary step 2: start {}",
            self.env,
            canaries.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", ")
        );
        let list =
            json!({"apiVersion": "v1", "kind": "List", "items": canaries.iter().map(|o| &o.value).collect::<Vec<_>>()});
        s.apply(None, Some(&list.to_string()), false)?;
        match wait::wait(s, &wanted(&canaries), Instant::now() + self.timeout)? {
            Ending::Ready => {}
            Ending::Interrupted => return Ok(End::Stopped("interrupted (Ctrl-C)".into())),
            failed => {
                let why = wait::describe(&failed).first().cloned().unwrap_or_else(|| "it did not become ready".into());
                return Ok(End::Aborted(format!("the canary did not come up: {why}")));
            }
        }
        for p in &self.parts {
            let pods = cluster::pods(s, p.service.as_ref().expect("checked: a canary part has a Service"))?;
            let canary = pods.iter().filter(|p| p.canary).count() as u32;
            println!(
                "  split    {}: {} ready (the requested {} canary of {})",
                p.component,
                strategy::split_words(canary, pods.len() as u32).replace(" expected", ""),
                self.c.replicas,
                pods.len()
            );
        }

        // 3. Load through each Service; an analysis per interval.
        let interval = self.c.interval();
        let seconds = interval.as_secs() * u64::from(self.c.analyses) + 5;
        let ns = s.namespace.clone();
        for p in &self.parts {
            let job = format!("{}-{}", cluster::LOAD_JOB, p.component);
            s.run(&["delete", "job", &job, "-n", &ns, "--ignore-not-found", "--wait=true"], None)?;
            let url = cluster::service_url(p.service.as_ref().expect("checked"));
            let tp = crate::telemetry::traceparent();
            let mut spec =
                cluster::load_job(&self.load_image, &url, &p.component, self.c.load_rate, seconds, tp.as_deref());
            spec["metadata"]["name"] = json!(job);
            spec["metadata"]["namespace"] = json!(ns);
            s.create(&spec)?;
        }
        println!(
            "deploy {}: canary step 3: {} analyses of {} under {} req/s (load Job {}-COMPONENT, image {})",
            self.env,
            self.c.analyses,
            self.c.interval,
            self.c.load_rate,
            cluster::LOAD_JOB,
            self.load_image
        );
        let analysed = self.analyse(record, interval);
        for p in &self.parts {
            let job = format!("{}-{}", cluster::LOAD_JOB, p.component);
            // What the load saw from its side (its last lines), or why it did not run.
            let said = s.run(&["logs", &format!("job/{job}"), "-n", &ns, "--tail=3"], None);
            let said = said.unwrap_or_else(|e| format!("(no log: {e:#})"));
            for line in said.lines().filter(|l| !l.trim().is_empty()) {
                println!("  load     {}: {line}", p.component);
            }
            let _ = s.run(
                &["delete", "job", &job, "-n", &ns, "--ignore-not-found", "--cascade=background", "--wait=false"],
                None,
            );
        }
        let decision = match analysed? {
            Ok(d) => d,
            Err(why) => return Ok(End::Stopped(why)),
        };
        if github::on_github() {
            github::append_summary(&summary(self.env, record))?;
        }
        match decision {
            Decision::Abort => {
                let failed = record.verdicts.iter().filter(|v| v.contains("| FAIL |")).count();
                Ok(End::Aborted(format!(
                    "{failed} verdict table(s) with a failed metric (failure threshold {})",
                    self.c.failure_threshold
                )))
            }
            Decision::Pause => {
                guard.keep = true;
                Ok(End::Paused)
            }
            Decision::Continue | Decision::Promote => {
                // 4. Promote: the canary goes first (its room is the rolling
                // update's surge on a small node), then the stable Deployments
                // take the new template, rolling as usual (never all pods at once).
                println!("deploy {}: canary step 4: promote", self.env);
                drop(guard);
                s.apply(Some(self.file), None, false)?;
                let ending = wait::wait(s, &wanted(self.objects), Instant::now() + self.timeout)?;
                Ok(End::Promoted(ending))
            }
        }
    }

    /// The analyses: Ok(decision), or Err(why it stopped early).
    fn analyse(&self, record: &mut Record, interval: Duration) -> Result<Result<Decision, String>> {
        let s = self.s;
        let services: Vec<&Value> = self.parts.iter().map(|p| p.service.as_ref().expect("checked")).collect();
        let mut before = Vec::new();
        for svc in &services {
            let pods = cluster::pods(s, svc)?;
            before.push(cluster::scrape_all(s, &pods));
        }
        let mut done: Vec<Analysis> = Vec::new();
        let mut next = Instant::now() + interval;
        loop {
            if let Some(why) = pause_until(next) {
                return Ok(Err(why));
            }
            next += interval;
            let n = done.len() + 1;
            let mut worst: Option<Analysis> = None;
            for (i, (p, svc)) in self.parts.iter().zip(&services).enumerate() {
                let pods = cluster::pods(s, svc)?;
                let after = cluster::scrape_all(s, &pods);
                let (stable, canary) = cluster::tracks(&pods, &before[i], &after);
                before[i] = after;
                let a = judge::judge(&stable, &canary, self.c);
                print!("{}", text_table(&p.component, n, &a));
                record.verdicts.push(judge::table(&p.component, n, &a));
                let rank = |c: Call| match c {
                    Call::Fail => 2,
                    Call::NoData => 1,
                    Call::Pass => 0,
                };
                if worst.as_ref().is_none_or(|w| rank(a.call) > rank(w.call)) {
                    worst = Some(a);
                }
            }
            done.push(worst.expect("a canary has at least one component"));
            match judge::decide(&done, self.c) {
                Decision::Continue => {}
                d => return Ok(Ok(d)),
            }
        }
    }
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
