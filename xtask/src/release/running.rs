//! Which recorded release the cluster runs, and what to say about one that
//! was applied but never verified (pure). A release's record is written
//! *pending* before its apply, so "the newest record" is not "what runs": what
//! runs is the newest release whose recorded manifests the live workloads
//! match (images, replicas, labels; `want`), whatever its outcome.

use crate::kube::rollout::{self, Observed};
use crate::kube::want;
use crate::manifests::yaml;
use crate::release::records::{self, Outcome, Release};

/// A release record with the manifests it applied.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub release: Release,
    pub manifests: String,
}

/// The newest release whose workloads the cluster runs as recorded. An
/// aborted canary release never ran as a whole (its stable Deployments never
/// took its template), so it is never what runs.
pub fn running<'a>(recorded: &'a [Recorded], observed: &Observed) -> Option<&'a Recorded> {
    let mut newest_first: Vec<&Recorded> = recorded.iter().filter(|r| r.release.outcome != Outcome::Aborted).collect();
    newest_first.sort_by_key(|r| std::cmp::Reverse(r.release.revision));
    newest_first.into_iter().find(|r| {
        let Ok(objects) = yaml::objects(&r.manifests) else { return false };
        let wanted = want::wanted(&objects);
        !wanted.is_empty() && rollout::mismatches(observed, &wanted).is_empty()
    })
}

/// What runs, as `status` says it. A release recorded as failed is named by
/// the manifests it applied (a rollback's: the revision it put back) and by
/// whether its pods are healthy now (`health`, the workloads' summary):
/// a rollback that missed its deadline may run fine once room is found, and
/// the failed attempt's number alone would say the opposite.
pub fn runs_line(r: &Release, healthy: bool, health: &str) -> String {
    if r.outcome != Outcome::Failed {
        return format!("running revision {} ({})", r.revision, r.outcome.label());
    }
    let state = if healthy { format!("healthy now: {health}") } else { format!("not healthy: {health}") };
    let attempt = if r.source() != r.revision {
        format!("revision {}, the rollback that applied them, is recorded as failed", r.revision)
    } else {
        format!("revision {} is recorded as failed", r.revision)
    };
    format!("running revision {}'s manifests, {state} ({attempt}: it did not verify before its deadline)", r.source())
}

/// The newest record of exactly this render, if one was recorded.
pub fn of_render<'a>(recorded: &'a [Recorded], text: &str) -> Option<&'a Recorded> {
    recorded.iter().filter(|r| r.manifests == text).max_by_key(|r| r.release.revision)
}

/// The record an interrupted deploy left: the newest, still pending.
pub fn unfinished(recorded: &[Recorded]) -> Option<&Recorded> {
    recorded.iter().max_by_key(|r| r.release.revision).filter(|r| r.release.outcome == Outcome::Pending)
}

/// The newest verified release before `revision`: what undoing it goes back to.
fn undo_target(history: &[Release], revision: u64) -> Option<u64> {
    let before: Vec<Release> = history.iter().filter(|r| r.revision < revision).cloned().collect();
    records::current(&before).map(|r| r.revision)
}

/// How to undo an unverified revision: back to the newest verified release
/// before it, by number (`rollback` without `--to` counts from the verified ones).
pub fn undo(env: &str, history: &[Release], revision: u64) -> String {
    match undo_target(history, revision) {
        Some(to) => format!("undo it with `cargo xtask rollback {env} --to {to}`"),
        None => "no earlier verified release exists to go back to".into(),
    }
}

/// The state an interrupted deploy leaves and the commands that finish or undo it.
pub fn unverified(env: &str, history: &[Release], revision: u64) -> String {
    let finish = format!("finish it with `cargo xtask verify {env}`");
    let then = match undo_target(history, revision) {
        Some(_) => format!(", or {}", undo(env, history, revision)),
        None => format!("; {}", undo(env, history, revision)),
    };
    format!("revision {revision} is applied, not verified (recorded as pending): {finish}{then}")
}

#[cfg(test)]
#[path = "running_tests.rs"]
mod tests;
