//! `cargo xtask verify ENV`: is what the overlay renders what the cluster
//! runs, rolled out and ready? It changes nothing, so when the cluster runs
//! something else (other images, replicas or labels) it names the difference
//! and the release that runs, and stops. When the render is the release an
//! interrupted deploy left pending, verify finishes that deploy: under the
//! lock, the outcome recorded, pruned like the deploy would have. The polling
//! and its verdict live in `kube::wait`. Once rolled out, the render's smoke
//! checks run (`kube::smoke`; `--no-smoke` skips them): a failed one fails verify.

use crate::cli::VerifyArgs;
use crate::component::Workspace;
use crate::error::UsageError;
use crate::exec;
use crate::kube;
use crate::kube::cluster::Session;
use crate::kube::lock::{self, Lock};
use crate::kube::smoke::Check;
use crate::kube::wait::{describe, observe, wait, Ending};
use crate::kube::want::wanted;
use crate::kube::{diagnose, rollout, smoke, Object};
use crate::manifests::checks;
use crate::manifests::render;
use crate::release::deploy::connect;
use crate::release::history;
use crate::release::records::{Outcome, Release};
use crate::release::running::{self, Recorded};
use crate::release::teardown;
use anyhow::Result;
use std::time::{Duration, Instant};
use xshell::Shell;

pub fn run(ws: &Workspace, args: &VerifyArgs) -> Result<i32> {
    let env = render::environment(&ws.root, &args.env)?;
    let timeout = kube::wait::parse_duration(&args.timeout).map_err(UsageError::new)?;
    exec::install_interrupt_handler()?;
    let (rendered, _) = render::render(&ws.root, &Shell::new()?, &kube::kubectl()?, &env)?;
    // The release is the render without its smoke checks (`manifests::checks`).
    let checks::Split { text, objects, checks } = checks::split(&rendered)
        .map_err(|e| anyhow::anyhow!("kustomize printed YAML that does not parse: {}", e.message))?;
    let checks = if args.no_smoke { Vec::new() } else { checks };
    let s = connect(&args.cluster, &env, &objects)?;
    println!("verify {env}: namespace {} on {}, deadline {}s", s.namespace, s.server, timeout.as_secs());
    let history = history::recorded(&s, &env)?;
    let observed = observe(&s)?;
    let differ = rollout::mismatches(&observed, &wanted(&objects));
    if !differ.is_empty() {
        eprintln!("{env} does not run what its overlay renders:");
        for d in &differ {
            eprintln!("  {d}");
        }
        let runs = match running::running(&history, &observed) {
            Some(r) => format!("it runs revision {}", describe_release(&r.release)),
            None if history.is_empty() => format!("{env} was never deployed"),
            None => "it runs none of the recorded releases (changed by hand?)".into(),
        };
        eprintln!("{runs}; verify changes nothing: deploy the overlay (cargo xtask deploy {env})");
        return Ok(1);
    }
    let deadline = Instant::now() + timeout;
    match running::unfinished(&history).filter(|r| r.manifests == text) {
        Some(left) => finish(&s, &env, left, &history, (&objects, &checks), timeout),
        None => {
            let ending = smoke::after(&s, wait(&s, &wanted(&objects), deadline)?, &checks)?;
            if let Ending::Interrupted = ending {
                eprintln!("interrupted: nothing was changed; run `cargo xtask verify {env}` again");
            }
            let which = match running::of_render(&history, &text) {
                Some(r) => format!(": revision {}", describe_release(&r.release)),
                None => format!(" (no deploy recorded this render: cargo xtask deploy {env} records it)"),
            };
            Ok(report(&s, &env, &ending, &which))
        }
    }
}

/// `3 (succeeded, commit 1a2b3c4d5e6f)`.
fn describe_release(r: &Release) -> String {
    format!("{} ({}, commit {})", r.revision, r.outcome.label(), &r.commit[..r.commit.len().min(12)])
}

/// Print how the wait ended; its exit code.
fn report(s: &Session, env: &str, ending: &Ending, which: &str) -> i32 {
    let pending = diagnose::scheduling(s, ending);
    for l in describe(ending).into_iter().chain(pending).chain(diagnose::container_logs(s, ending)) {
        eprintln!("{l}");
    }
    match ending {
        Ending::Ready => {
            println!("{env} is rolled out{which}");
            0
        }
        Ending::Interrupted => 130,
        Ending::Failed(_) | Ending::TimedOut(_) | Ending::ChecksFailed(_) => 1,
    }
}

/// Finish the deploy an interrupt left: verify under the lock and record the
/// outcome (no rollback: verify says how to undo it).
fn finish(
    s: &Session,
    env: &str,
    left: &Recorded,
    history: &[Recorded],
    (objects, checks): (&[Object], &[Check]),
    timeout: Duration,
) -> Result<i32> {
    let releases: Vec<Release> = history.iter().map(|r| r.release.clone()).collect();
    let mut rel = left.release.clone();
    let lock = Lock::take(s, &lock::holder())?;
    lock.hold(|| {
        println!(
            "verify {env}: revision {} was applied and never verified: verifying it to finish its deploy",
            rel.revision
        );
        let ending = smoke::after(s, wait(s, &wanted(objects), Instant::now() + timeout)?, checks)?;
        let code = report(s, env, &ending, &format!(": revision {}", rel.revision));
        match ending {
            Ending::Ready => {
                // A rollback's own revision stands once verified, as a deploy's does (`release::records`).
                rel.outcome = Outcome::Succeeded;
                history::record(s, &rel, &left.manifests)?;
                teardown::prune(s, env, objects, &[])?;
                println!("revision {} is recorded as {}", rel.revision, rel.outcome.label());
            }
            Ending::Interrupted => {
                eprintln!("interrupted; the lock is released");
                eprintln!("{env}: {}", running::unverified(env, &releases, rel.revision));
            }
            failed => {
                rel.outcome = Outcome::Failed;
                rel.description = describe(&failed).first().cloned().unwrap_or_else(|| "verify failed".into());
                history::record(s, &rel, &left.manifests)?;
                eprintln!(
                    "revision {} did not verify and is recorded as failed; it still runs: {}",
                    rel.revision,
                    running::undo(env, &releases, rel.revision)
                );
            }
        }
        Ok(code)
    })
}
