//! `cargo xtask deploy ENV` and `cargo xtask rollback ENV`: take the
//! environment's lock → render and validate → server-side apply → verify →
//! record the release → prune what the environment no longer has → release
//! the lock. A failed verify puts the last verified release back, verifies
//! it, says so and exits 1. Releases live in the cluster (`release.rs`).

use crate::cli::{ClusterArgs, DeployArgs, RollbackArgs};
use crate::cluster::Session;
use crate::component::Workspace;
use crate::error::UsageError;
use crate::kube::{self, Object};
use crate::release::{self, Outcome, Release};
use crate::stages::deploy_steps::{self as steps, Lock};
use crate::stages::manifests_render as render;
use crate::stages::verify::{self, Ending};
use crate::{credentials, exec, guards, stages};
use anyhow::Result;
use std::time::Instant;
use xshell::Shell;

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
    let kubeconfig = credentials::resolve(args.kubeconfig.as_deref(), stages::on_github())?;
    Session::open(kubeconfig, args.context.as_deref(), &ns)
}

/// `cargo xtask deploy ENV`.
pub fn run(ws: &Workspace, args: &DeployArgs) -> Result<i32> {
    let root = &ws.root;
    let env = render::environment(root, &args.env)?;
    let timeout = verify::parse_duration(&args.timeout).map_err(UsageError::new)?;
    let built = steps::images_report(root)?;
    let facts = steps::facts(root, &built, args.confirm)?;
    guards::check(&env, &facts).map_err(UsageError::new)?;
    exec::install_interrupt_handler()?;

    println!("deploy {env}: render and validate");
    let (text, objects) = render::render(root, &Shell::new()?, &kube::kubectl()?, &env)?;
    steps::validate(ws, &env, &objects)?;
    let file = render::write_rendered(root, &env, &text)?;
    let mut s = connect(&args.cluster, &env, &objects)?;
    println!("deploy {env}: namespace {} on {}", s.namespace, s.server);

    if args.dry_run {
        s.echo = true;
        if s.get_one("namespace", &s.namespace.clone())?.is_none() {
            println!("namespace {} does not exist yet: every object of the render is new", s.namespace);
        } else {
            s.apply(Some(&file), None, true)?;
            let diff = s.diff(&file)?;
            println!("{}", if diff.trim().is_empty() { "no changes against the cluster".to_string() } else { diff });
        }
        for line in steps::planned_commands(&s, &file) {
            println!("would run: {line}");
        }
        return Ok(0);
    }

    // The lock and the releases live in the namespace, so it comes first.
    steps::ensure_namespace(&s, &objects)?;
    let lock = Lock::take(&s, &steps::holder())?;
    let code = lock.hold(|| {
        // The server's own validation (schemas, admission) before anything is recorded.
        s.apply(Some(&file), None, true)?;
        let history = steps::history(&s, &env)?;
        let mut rel = Release {
            revision: release::next_revision(&history),
            environment: env.clone(),
            commit: built.first().map(|b| b.revision.clone()).unwrap_or_else(|| facts.commit.clone()),
            version: built.first().and_then(|b| b.version.clone()),
            images: steps::images_of(&objects),
            deployed_by: steps::who(),
            deployed_at: steps::now_rfc3339(),
            outcome: Outcome::Pending,
            description: String::new(),
            source_revision: None,
        };
        // Recorded before anything changes: an interrupted deploy stays "pending", never "succeeded".
        steps::record(&s, &rel, &text)?;
        println!("deploy {env}: apply revision {} ({} objects)", rel.revision, objects.len());
        s.apply(Some(&file), None, false)?;
        println!("deploy {env}: verify (deadline {}s)", timeout.as_secs());
        let ending = verify::wait(&s, &verify::expected(&objects), Instant::now() + timeout)?;
        finish(&s, &env, &history, &mut rel, &text, &objects, ending, timeout)
    })?;
    steps::prune_history(&s, &env)?;
    Ok(code)
}

/// Record how the deploy ended; after a failed verify, roll back.
#[allow(clippy::too_many_arguments)]
fn finish(
    s: &Session,
    env: &str,
    history: &[Release],
    rel: &mut Release,
    text: &str,
    objects: &[Object],
    ending: Ending,
    timeout: std::time::Duration,
) -> Result<i32> {
    match ending {
        Ending::Interrupted => {
            eprintln!("interrupted: revision {} stays recorded as pending; the lock is released", rel.revision);
            Ok(130)
        }
        Ending::Ready => {
            rel.outcome = Outcome::Succeeded;
            steps::record(s, rel, text)?;
            steps::prune(s, env, objects)?;
            println!("deployed {env} revision {}: every component is available", rel.revision);
            Ok(0)
        }
        failed => {
            let lines = verify::describe(&failed);
            for l in &lines {
                eprintln!("{l}");
            }
            rel.outcome = Outcome::Failed;
            rel.description = lines.first().cloned().unwrap_or_else(|| "verify failed".into());
            steps::record(s, rel, text)?;
            match release::current(history) {
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

/// Re-apply an earlier release's manifests as a new revision, verify, record.
fn roll_back_to(s: &Session, env: &str, target: &Release, revision: u64, timeout: std::time::Duration) -> Result<i32> {
    let secret = s
        .get_one("secret", &release::secret_name(target.revision))?
        .ok_or_else(|| anyhow::anyhow!("release {} vanished from the cluster", target.revision))?;
    let text = release::manifests_of(&secret)?;
    let objects = kube::objects(&text)
        .map_err(|e| anyhow::anyhow!("release {} holds manifests that do not parse: {}", target.revision, e.message))?;
    let mut rel = Release {
        revision,
        outcome: Outcome::Pending,
        deployed_by: steps::who(),
        deployed_at: steps::now_rfc3339(),
        description: format!("rollback to revision {}", target.revision),
        source_revision: Some(target.revision),
        ..target.clone()
    };
    steps::record(s, &rel, &text)?;
    s.apply(None, Some(&text), false)?;
    let ending = verify::wait(s, &verify::expected(&objects), Instant::now() + timeout)?;
    match ending {
        Ending::Ready => {
            rel.outcome = Outcome::RolledBack;
            steps::record(s, &rel, &text)?;
            steps::prune(s, env, &objects)?;
            Ok(0)
        }
        Ending::Interrupted => Ok(130),
        failed => {
            for l in verify::describe(&failed) {
                eprintln!("{l}");
            }
            rel.outcome = Outcome::Failed;
            rel.description = format!("rollback to revision {} failed", target.revision);
            steps::record(s, &rel, &text)?;
            eprintln!("the rollback to revision {} did not verify either: look at the pods above", target.revision);
            Ok(1)
        }
    }
}

/// `cargo xtask rollback ENV [--to REVISION]`.
pub fn rollback(ws: &Workspace, args: &RollbackArgs) -> Result<i32> {
    let env = render::environment(&ws.root, &args.env)?;
    let timeout = verify::parse_duration(&args.timeout).map_err(UsageError::new)?;
    exec::install_interrupt_handler()?;
    let (_, objects) = render::render(&ws.root, &Shell::new()?, &kube::kubectl()?, &env)?;
    let s = connect(&args.cluster, &env, &objects)?;
    let lock = Lock::take(&s, &steps::holder())?;
    let code = lock.hold(|| {
        let history = steps::history(&s, &env)?;
        let target = release::rollback_target(&history, args.to).map_err(UsageError::new)?;
        println!(
            "rollback {env}: to revision {} (commit {})",
            target.revision,
            &target.commit[..target.commit.len().min(12)]
        );
        let code = roll_back_to(&s, &env, target, release::next_revision(&history), timeout)?;
        if code == 0 {
            println!("rolled back {env} to revision {}", target.revision);
        }
        Ok(code)
    })?;
    steps::prune_history(&s, &env)?;
    Ok(code)
}
