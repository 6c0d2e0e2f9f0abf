//! The deploy as the cluster sees it, shared by `deploy`, `rollback`,
//! `verify` and `status`: the session for a render's namespace, how a deploy
//! ends (recorded, pruned, or rolled back), and re-applying an earlier
//! release; what a deploy plans, the namespace first, the trace context on
//! what it applied. The records are `history`'s (read, written) and
//! `records`'s (what they say), pruning `teardown`'s, the lock `kube::lock`'s.

use crate::cli::ClusterArgs;
use crate::clock;
use crate::error::UsageError;
use crate::github::on_github;
use crate::images::registry;
use crate::kube::cluster::Session;
use crate::kube::wait::{self, Ending};
use crate::kube::want::wanted;
use crate::kube::{credentials, diagnose, Object};
use crate::kube::{lease, lock};
use crate::manifests::render;
use crate::manifests::yaml;
use crate::release::history;
use crate::release::records::{self, Outcome, Release};
use crate::release::running;
use crate::release::teardown;
use anyhow::{Context, Result};
use std::path::Path;
use std::time::{Duration, Instant};

/// The namespace a render deploys into (its objects' namespace).
pub fn namespace_of(objects: &[Object]) -> Option<String> {
    objects
        .iter()
        .find_map(|o| o.namespace.clone())
        .or_else(|| objects.iter().find(|o| o.kind == "Namespace").map(|o| o.name.clone()))
}

/// A session with the cluster for the namespace this render deploys into.
pub fn connect(args: &ClusterArgs, env: &str, objects: &[Object]) -> Result<Session> {
    let ns = namespace_of(objects).ok_or_else(|| {
        UsageError::new(format!("{} sets no namespace: give the overlay a `namespace:`", render::overlay_file(env)))
    })?;
    let kubeconfig = credentials::resolve(args.kubeconfig.as_deref(), on_github())?;
    let s = Session::open(kubeconfig, args.context.as_deref(), &ns)?;
    // Which cluster and registry, and why: on stderr, as stdout may be JSON.
    eprintln!("{}", s.described);
    eprintln!("{}", registry::line(None, &|k| std::env::var(k).ok()));
    Ok(s)
}

/// The Namespace object first, so the lock and the release can live in it.
pub fn ensure_namespace(s: &Session, objects: &[Object]) -> Result<()> {
    if let Some(ns) = objects.iter().find(|o| o.kind == "Namespace") {
        s.apply(None, Some(&ns.value.to_string()), false).context("cannot create the environment's namespace")?;
    }
    Ok(())
}

/// Write the run's trace context as `xtask.dev/traceparent` on what was
/// applied (`file`), or with no file on the namespace's pods: a pod leads to
/// its release and pipeline run. kubectl annotate's own field manager, so the
/// next apply neither owns nor removes it and a dry run's diff stays clean.
/// Telemetry never fails a deploy: a refusal is a warning.
pub fn annotate_trace(s: &Session, file: Option<&Path>) {
    let Some(tp) = crate::telemetry::traceparent() else { return };
    let value = format!("{}={tp}", crate::telemetry::TRACE_ANNOTATION);
    let ns = s.namespace.clone();
    let target = match file {
        Some(f) => vec!["-f".to_string(), f.display().to_string()],
        None => vec!["pods".into(), "--all".into(), "-n".into(), ns],
    };
    let mut args = vec!["annotate", "--overwrite"];
    args.extend(target.iter().map(String::as_str));
    args.push(&value);
    if let Err(e) = s.run(&args, None) {
        eprintln!("warning: cannot annotate with the trace context ({e:#}); the deploy is unaffected");
    }
}

/// What a deploy would run after the dry run, as commands.
pub fn planned_commands(s: &Session, file: &Path) -> Vec<String> {
    let k = s.kubectl.display();
    let ns = &s.namespace;
    vec![
        format!("{k} create -f - -n {ns}   # lease {} (the environment's lock)", lease::NAME),
        format!("{k} apply --server-side --force-conflicts --field-manager=xtask -f -   # release record, pending"),
        format!("{k} apply --server-side --force-conflicts --field-manager=xtask -f {}", file.display()),
        format!("{k} get deployments,replicasets,cronjobs,pods,events -n {ns} -o json   # until rolled out, failed or the deadline"),
        format!("{k} apply --server-side --force-conflicts --field-manager=xtask -f -   # release record, outcome"),
        format!("{k} delete KIND NAME -n {ns}   # objects of this environment the render no longer has"),
    ]
}

/// One deploy under way: the release being recorded and what it applies.
pub struct Attempt<'a> {
    pub s: &'a Session,
    pub env: &'a str,
    /// The releases before this one (the rollback target comes from them).
    pub history: &'a [Release],
    pub rel: Release,
    /// The rendered manifests, kept in the release record.
    pub text: &'a str,
    pub objects: &'a [Object],
    pub timeout: Duration,
    /// What `--allow-data-loss` lets prune delete (claims, objects marked keep).
    pub allow_data_loss: &'a [String],
}

impl Attempt<'_> {
    /// Record how the deploy ended; after a failed verify, roll back.
    pub fn finish(mut self, ending: Ending) -> Result<i32> {
        let Attempt { s, env, history, text, objects, timeout, allow_data_loss, .. } = self;
        let rel = &mut self.rel;
        match ending {
            Ending::Interrupted => {
                eprintln!("interrupted during verify; the lock is released");
                eprintln!("{env}: {}", running::unverified(env, history, rel.revision));
                Ok(130)
            }
            Ending::Ready => {
                rel.outcome = Outcome::Succeeded;
                history::record(s, rel, text)?;
                teardown::prune(s, env, objects, allow_data_loss)?;
                println!("deployed {env} revision {}: every component is available", rel.revision);
                Ok(0)
            }
            failed => {
                let lines = wait::describe(&failed);
                let pending = diagnose::scheduling(s, &failed);
                for l in lines.iter().chain(&pending).chain(&diagnose::container_logs(s, &failed)) {
                    eprintln!("{l}");
                }
                rel.outcome = Outcome::Failed;
                rel.description = lines.first().cloned().unwrap_or_else(|| "verify failed".into());
                history::record(s, rel, text)?;
                match records::current(history) {
                    None => {
                        eprintln!("deploy {env} failed; no earlier verified release to roll back to");
                        Ok(1)
                    }
                    Some(previous) => {
                        eprintln!("deploy {env} failed: rolling back to revision {}", previous.revision);
                        let code = roll_back_to(s, env, previous, rel.revision + 1, timeout)?;
                        if code == 0 {
                            eprintln!("rolled back {env} to revision {}: it is running again", previous.revision);
                        }
                        Ok(if code == 0 { 1 } else { code })
                    }
                }
            }
        }
    }
}

/// Re-apply an earlier release's manifests as a new revision, verify, record.
fn roll_back_to(s: &Session, env: &str, target: &Release, revision: u64, timeout: Duration) -> Result<i32> {
    roll_back(s, env, target, revision, timeout, false)
}

/// [`roll_back_to`], recording whether `--force` let it past a refusal. The
/// new revision runs the target's original deploy (`source_revision`) and
/// reads `succeeded` once verified.
pub fn roll_back(
    s: &Session,
    env: &str,
    target: &Release,
    revision: u64,
    timeout: Duration,
    forced: bool,
) -> Result<i32> {
    let secret = s
        .get_one("secret", &records::secret_name(target.revision))?
        .ok_or_else(|| anyhow::anyhow!("release {} vanished from the cluster", target.revision))?;
    let text = records::manifests_of(&secret)?;
    let objects = yaml::objects(&text)
        .map_err(|e| anyhow::anyhow!("release {} holds manifests that do not parse: {}", target.revision, e.message))?;
    let mut rel = Release {
        revision,
        outcome: Outcome::Pending,
        deployed_by: lock::who(),
        deployed_at: clock::now_rfc3339(),
        description: match target.source() {
            src if src == target.revision => format!("rollback to revision {src}"),
            src => format!("rollback to revision {} (revision {src}'s manifests)", target.revision),
        },
        source_revision: Some(target.source()),
        undone_by: None,
        forced,
        canary: None,
        traceparent: crate::telemetry::traceparent(),
        ..target.clone()
    };
    history::record(s, &rel, &text)?;
    s.apply(None, Some(&text), false)?;
    let ending = wait::wait(s, &wanted(&objects), Instant::now() + timeout)?;
    match ending {
        Ending::Ready => {
            rel.outcome = Outcome::Succeeded;
            history::record(s, &rel, &text)?;
            teardown::prune(s, env, &objects, &[])?;
            Ok(0)
        }
        Ending::Interrupted => {
            eprintln!(
                "interrupted: revision {revision} (revision {}'s manifests) is applied, not verified (recorded as pending): finish the rollback with `cargo xtask rollback {env} --to {}`",
                target.revision, target.revision
            );
            Ok(130)
        }
        failed => {
            let pending = diagnose::scheduling(s, &failed);
            for l in wait::describe(&failed).into_iter().chain(pending).chain(diagnose::container_logs(s, &failed)) {
                eprintln!("{l}");
            }
            rel.outcome = Outcome::Failed;
            rel.description = format!("rollback to revision {} failed", target.revision);
            history::record(s, &rel, &text)?;
            eprintln!("the rollback to revision {} did not verify either: look at the pods above", target.revision);
            Ok(1)
        }
    }
}
