//! A release through the canary (`crate::canary` runs the steps): recorded
//! as it goes, promoted into an ordinary deploy's ending, or aborted with the
//! previous release put back; a paused canary promoted or aborted by hand;
//! what `status` says of the newest canary.

use crate::canary::run::{Canarying, End, Record};
use crate::canary::strategy::{self, Canary};
use crate::canary::{cluster, remove, Part};
use crate::kube::cluster::Session;
use crate::kube::lock;
use crate::kube::smoke::{self, Check};
use crate::kube::wait::{self, Ending};
use crate::kube::want::wanted;
use crate::kube::Object;
use crate::manifests::yaml;
use crate::release::deploy::Attempt;
use crate::release::history;
use crate::release::records::{self, Outcome, Release};
use crate::release::teardown;
use anyhow::Result;
use std::path::Path;
use std::time::{Duration, Instant};

// A canary record's states, as `status` and `canary status` show them (the
// canary's diagram in the docs names only these: `cargo xtask docs diagrams`).
const ANALYSING: &str = "analysing";
const PAUSED: &str = "paused";
const PROMOTED: &str = "promoted";
const ABORTED: &str = "aborted";
const NOT_STARTED: &str = "not started: the rest of the release did not roll out";
const SUPERSEDED: &str = "superseded";
const PROMOTED_BY_HAND: &str = "promoted by hand";
const ABORTED_BY_HAND: &str = "aborted by hand";
pub const STATES: [&str; 8] =
    [ANALYSING, PAUSED, PROMOTED, ABORTED, NOT_STARTED, SUPERSEDED, PROMOTED_BY_HAND, ABORTED_BY_HAND];

/// Put the rest of the release back to what `current` applied (the canary
/// components' stable Deployments were never changed): after an abort the
/// environment runs the previous release, all of it.
pub fn restore(s: &Session, env: &str, current: &Release, timeout: Duration) -> Result<()> {
    let secret = s
        .get_one("secret", &records::secret_name(current.revision))?
        .ok_or_else(|| anyhow::anyhow!("release {} vanished from the cluster", current.revision))?;
    let text = records::manifests_of(&secret)?;
    let objects = yaml::objects(&text)
        .map_err(|e| anyhow::anyhow!("release {} does not parse: {}", current.revision, e.message))?;
    s.apply(None, Some(&text), false)?;
    match wait::wait(s, &wanted(&objects), Instant::now() + timeout)? {
        Ending::Ready => {}
        other => eprintln!(
            "warning: revision {} did not settle again: {}",
            current.revision,
            wait::describe(&other).join("; ")
        ),
    }
    teardown::prune(s, env, &objects, &[])
}

/// A release through the canary, under the lock, recorded as it goes:
/// `succeeded` once promoted and verified, `aborted` (exit 1, 130 on Ctrl-C)
/// with the previous release serving, or `pending` with the canary paused.
pub struct Deploy<'a> {
    pub s: &'a Session,
    pub env: &'a str,
    pub c: &'a Canary,
    pub parts: Vec<Part>,
    pub objects: &'a [Object],
    pub file: &'a Path,
    pub text: &'a str,
    pub history: &'a [Release],
    pub checks: &'a [Check],
    pub load_image: String,
    pub timeout: Duration,
    /// What `--allow-data-loss` lets the prune after promotion delete.
    pub allow_data_loss: &'a [String],
}

impl Deploy<'_> {
    pub fn run(self, mut rel: Release, current: &Release) -> Result<i32> {
        let Deploy { s, env, c, parts, objects, file, text, history, checks, load_image, timeout, allow_data_loss } =
            self;
        // A canary left paused is replaced by this one: its release never ran as a whole.
        if let Ok(old) = paused(history) {
            if let Some(secret) = s.get_one("secret", &records::secret_name(old.revision))? {
                let mut old = old.clone();
                old.outcome = Outcome::Aborted;
                old.description = format!("paused canary superseded by revision {}", rel.revision);
                if let Some(c) = old.canary.as_mut() {
                    c.state = SUPERSEDED.into();
                }
                history::record(s, &old, &records::manifests_of(&secret)?)?;
                println!("deploy {env}: revision {}'s paused canary is superseded (recorded aborted)", old.revision);
            }
        }
        let run = Canarying { s, env, c, parts, objects, file, load_image, timeout };
        let mut record = Record { steps: run.steps(), state: ANALYSING.into(), verdicts: Vec::new() };
        rel.canary = Some(record.clone());
        history::record(s, &rel, text)?;
        let end = run.run(&mut record);
        let abort = |rel: &mut Release, record: &mut Record, why: String| -> Result<()> {
            record.state = ABORTED.into();
            rel.outcome = Outcome::Aborted;
            rel.description = why;
            rel.canary = Some(record.clone());
            restore(s, env, current, timeout)?;
            history::record(s, rel, text)
        };
        let end = match end {
            Ok(end) => end,
            Err(e) => {
                abort(&mut rel, &mut record, format!("canary stopped by an error: {e:#}"))?;
                return Err(
                    e.context(format!("the canary is removed; {env} serves revision {} again", current.revision))
                );
            }
        };
        match end {
            End::Promoted(ending) => {
                record.state = PROMOTED.into();
                rel.canary = Some(record);
                let ending = smoke::after(s, ending, checks)?;
                Attempt { s, env, history, rel, text, objects, timeout, allow_data_loss }.finish(ending)
            }
            End::RolloutFailed(ending) => {
                record.state = NOT_STARTED.into();
                rel.canary = Some(record);
                Attempt { s, env, history, rel, text, objects, timeout, allow_data_loss }.finish(ending)
            }
            End::Aborted(why) => {
                abort(&mut rel, &mut record, format!("canary aborted: {why}"))?;
                eprintln!(
                    "deploy {env}: canary aborted ({why}); revision {} is recorded aborted and {env} keeps serving revision {}",
                    rel.revision, current.revision
                );
                Ok(1)
            }
            End::Stopped(why) => {
                abort(&mut rel, &mut record, format!("canary stopped: {why}"))?;
                let lock = if lock::lost() { "the lock stays with the other deploy" } else { "the lock is released" };
                eprintln!(
                    "deploy {env}: {why}: the canary is removed, {env} serves revision {} as before, revision {} is recorded aborted; {lock}",
                    current.revision, rel.revision
                );
                Ok(if crate::exec::interrupted() { 130 } else { 1 })
            }
            End::Paused => {
                record.state = PAUSED.into();
                rel.canary = Some(record);
                rel.description = "canary paused: too little traffic reached it to judge".into();
                history::record(s, &rel, text)?;
                eprintln!(
                    "deploy {env}: canary paused (a verdict without enough traffic is never a promotion): the canary keeps running beside revision {}; decide with `cargo xtask canary {env} promote` or `cargo xtask canary {env} abort`",
                    current.revision
                );
                Ok(1)
            }
        }
    }
}

/// What `status` says of the newest release that went through a canary: its
/// state, steps and verdict tables, and the canary pods running now with the
/// real split.
pub fn status_lines(s: &Session, history: &[Release]) -> Result<Vec<String>> {
    let Some(r) = history.iter().filter(|r| r.canary.is_some()).max_by_key(|r| r.revision) else {
        return Ok(Vec::new());
    };
    let c = r.canary.as_ref().expect("filtered");
    let mut out = vec![format!("canary of revision {}: {} ({})", r.revision, c.state, r.outcome.label())];
    out.extend(c.steps.iter().map(|l| format!("  {l}")));
    for v in &c.verdicts {
        out.extend(v.lines().filter(|l| !l.starts_with("|---")).map(|l| format!("  {l}")));
    }
    let live = s.get("deployments", Some(&format!("{}=canary", cluster::TRACK)))?;
    for d in &live {
        let name = d["metadata"]["name"].as_str().unwrap_or_default();
        let component = d["spec"]["template"]["metadata"]["labels"][cluster::NAME_LABEL].as_str().unwrap_or_default();
        let pods = ready_of(s, component)?;
        let canary = pods.iter().filter(|p| p.canary).count() as u32;
        out.push(format!(
            "  running: {name}, {}",
            strategy::split_words(canary, pods.len() as u32).replace(" expected", " (ready pods)")
        ));
    }
    Ok(out)
}

fn ready_of(s: &Session, component: &str) -> Result<Vec<cluster::Pod>> {
    Ok(cluster::ready_pods(&s.get("pods", Some(&format!("{}={component}", cluster::NAME_LABEL)))?))
}

/// The release whose canary is paused: the newest record, pending, its canary `paused`.
pub fn paused(history: &[Release]) -> Result<&Release, String> {
    let newest = history.iter().max_by_key(|r| r.revision);
    match newest {
        Some(r) if r.outcome == Outcome::Pending && r.canary.as_ref().is_some_and(|c| c.state == PAUSED) => Ok(r),
        Some(r) => Err(format!(
            "no canary is paused: the newest release, revision {}, is {}{}; `cargo xtask canary ENV status` shows the last canary",
            r.revision,
            r.outcome.label(),
            r.canary.as_ref().map(|c| format!(" (canary {})", c.state)).unwrap_or_default()
        )),
        None => Err("no canary is paused: nothing was ever deployed here".into()),
    }
}

/// Promote a paused canary: its release's manifests applied in full (the
/// stable Deployments take the new template), verified, the canary removed,
/// the release recorded `succeeded` (or rolled back as any failed deploy).
pub fn promote_paused(s: &Session, env: &str, history: &[Release], mut rel: Release, timeout: Duration) -> Result<i32> {
    let secret = s
        .get_one("secret", &records::secret_name(rel.revision))?
        .ok_or_else(|| anyhow::anyhow!("release {} vanished from the cluster", rel.revision))?;
    let text = records::manifests_of(&secret)?;
    let objects =
        yaml::objects(&text).map_err(|e| anyhow::anyhow!("release {} does not parse: {}", rel.revision, e.message))?;
    println!("canary {env}: promote revision {} by hand", rel.revision);
    // The canary goes first: its room is the rolling update's surge.
    for gone in remove(s)? {
        println!("  removed  canary {gone}");
    }
    s.apply(None, Some(&text), false)?;
    let ending = wait::wait(s, &wanted(&objects), Instant::now() + timeout)?;
    if let Some(c) = rel.canary.as_mut() {
        c.state = PROMOTED_BY_HAND.into();
    }
    rel.description = String::new();
    let earlier: Vec<Release> = history.iter().filter(|r| r.revision < rel.revision).cloned().collect();
    Attempt { s, env, history: &earlier, rel, text: &text, objects: &objects, timeout, allow_data_loss: &[] }
        .finish(ending)
}

/// Abort a paused canary: the canary removed, the previous release put back
/// in full, the release recorded `aborted`.
pub fn abort_paused(s: &Session, env: &str, history: &[Release], mut rel: Release, timeout: Duration) -> Result<i32> {
    let earlier: Vec<Release> = history.iter().filter(|r| r.revision < rel.revision).cloned().collect();
    for gone in remove(s)? {
        println!("  removed  canary {gone}");
    }
    if let Some(current) = records::current(&earlier) {
        restore(s, env, current, timeout)?;
    }
    let secret = s
        .get_one("secret", &records::secret_name(rel.revision))?
        .ok_or_else(|| anyhow::anyhow!("release {} vanished from the cluster", rel.revision))?;
    let text = records::manifests_of(&secret)?;
    if let Some(c) = rel.canary.as_mut() {
        c.state = ABORTED_BY_HAND.into();
    }
    rel.outcome = Outcome::Aborted;
    rel.description = "canary aborted by hand".into();
    history::record(s, &rel, &text)?;
    println!(
        "canary {env}: aborted revision {}; {env} serves revision {}",
        rel.revision,
        records::current(&earlier).map_or("none".into(), |c| c.revision.to_string())
    );
    Ok(0)
}
