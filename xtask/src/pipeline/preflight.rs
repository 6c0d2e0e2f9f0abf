//! What a planned run would refuse, decided before any stage starts (pure),
//! so a doomed run fails in its first second instead of after the tests, the
//! checks and the images: the release tag must exist and be the checked-out
//! commit (every stage builds HEAD), the environment's guard must take the
//! ref (`release::guards`), and off GitHub a `release`-guarded deploy needs
//! `--confirm` (on GitHub the job bound to the environment approves it).

use crate::images::tags::parse_version;
use crate::pipeline::trigger::Pipeline;
use crate::release::guards::{self, Guard};

/// What git says about the ref being planned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkout {
    /// The checked-out commit (none outside a git work tree).
    pub head: Option<String>,
    /// The commit the plan's tag names, none when no such tag exists here.
    pub tag_commit: Option<String>,
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// `Ok` when the run can get through its deploy as far as the plan can tell;
/// otherwise one line naming the fix. `deploys`: the deploy stage is among
/// those that will run here.
pub fn check(
    p: &Pipeline,
    guard: Guard,
    checkout: &Checkout,
    confirmed: bool,
    on_github: bool,
    deploys: bool,
) -> Result<(), String> {
    let Some(env) = p.environment.as_deref() else { return Ok(()) };
    let tag = p.reference.strip_prefix("refs/tags/");
    if let Some(t) = tag {
        match (&checkout.tag_commit, &checkout.head) {
            (None, _) => {
                return Err(format!(
                    "tag `{t}` does not exist here: tag the release (git tag {t} && git push origin {t}) or fetch it (git fetch --tags)"
                ))
            }
            (Some(at), Some(head)) if at != head => {
                return Err(format!(
                    "tag `{t}` is commit {}, but the checkout is {}: every stage builds the checkout, so check the tag out first (git checkout {t})",
                    short(at),
                    short(head)
                ))
            }
            _ => {}
        }
    }
    let release = tag.and_then(parse_version).map(|(x, y, z)| format!("{x}.{y}.{z}"));
    let branch = p.reference.strip_prefix("refs/heads/");
    guards::check_ref(env, guard, branch, release.as_deref())?;
    if deploys && !on_github && guards::approved(env, guard, confirmed, None).is_err() {
        return Err(format!(
            "deploying to {env} needs --confirm: add it to this command (cargo xtask ci … --confirm); on GitHub the job bound to the `{env}` environment approves it"
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "preflight_tests.rs"]
mod tests;
