//! `cargo xtask deploy ENV`: the environment's guard judges the ref
//! (`release::guards`; on GitHub also that the environment requires
//! reviewers, `github::environment`) → render and validate → the images' origins
//! (`release::provenance`: outside development this commit's builds, in
//! production exactly the release's digests) → their signatures, signed
//! provenance and SBOM (`supply::verify`; development may opt out) → take the environment's lock →
//! refuse, before anything changes, a prune that would delete a claim not
//! named by `--allow-data-loss` (`release::teardown`) and a rollout that stops
//! its pods first whose new pods would not fit (`kube::fit`) →
//! record the release pending → server-side apply → verify and smoke checks
//! (`manifests::checks` splits them off the render: never applied) → through
//! the canary (`release::canary`) or not → record the outcome and prune what
//! the environment no longer has (`release::deploy`; a failed verify puts the
//! last verified release back, says so and exits 1) → release the lock.
//! Releases live in the cluster (`release::history`). The storage token
//! Secret is made sure of before the lock (`release::token`).

use crate::canary;
use crate::cli::DeployArgs;
use crate::clock;
use crate::component::Workspace;
use crate::error::UsageError;
use crate::exec;
use crate::github;
use crate::kube::lock::{self, Lock};
use crate::kube::wait;
use crate::kube::want::wanted;
use crate::kube::{self, fit, smoke};
use crate::manifests::validate as manifests_validate;
use crate::manifests::{checks, render};
use crate::release;
use crate::release::deploy::{self, connect, Attempt};
use crate::release::guards::Guard;
use crate::release::history;
use crate::release::records::{self, Outcome, Release};
use crate::release::{guards, provenance, teardown, token};
use crate::supply;
use crate::telemetry;
use anyhow::Result;
use std::time::Instant;
use xshell::Shell;

/// `cargo xtask deploy ENV`.
pub fn run(ws: &Workspace, args: &DeployArgs) -> Result<i32> {
    let root = &ws.root;
    let env = render::environment(root, &args.env)?;
    let guard = guards::read(root, &env)?;
    let timeout = wait::parse_duration(&args.timeout).map_err(UsageError::new)?;
    let built = provenance::images_report(root)?;
    let facts = provenance::facts(root, &built, args.confirm)?;
    guards::check(&env, guard, &facts).map_err(UsageError::new)?;
    // Fail closed on GitHub: the job's environment must itself require reviewers.
    if github::on_github() && guards::read_reviewers(root, &env, guard)? {
        guards::bound(&env, &facts).map_err(UsageError::new)?;
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        github::environment::require_reviewers(&env, &var).map_err(UsageError::new)?;
        println!("deploy {env}: the GitHub environment {env} requires reviewers");
    }
    // A malformed strategy file is bad input before anything else runs.
    canary::strategy::read(root, &env).map_err(UsageError::new)?;
    exec::install_interrupt_handler()?;

    println!("deploy {env}: render and validate");
    let (rendered, all) =
        telemetry::step("render", &env, || render::render(root, &Shell::new()?, &kube::kubectl()?, &env))?;
    // The smoke checks are not part of the release: verify runs them.
    let checks::Split { text, objects, checks } =
        checks::split(&rendered).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let checks = if args.no_smoke { Vec::new() } else { checks };
    // The strategy against the render before the findings: a canary that cannot run is the first thing to fix.
    let canary = canary::plan(root, &env, &objects).map_err(UsageError::new)?;
    manifests_validate::for_deploy(ws, &env, &all)?;
    // The images the render runs, each with the commit the report says it was built from.
    let applied = provenance::applied(&provenance::images_of(&objects), &built, &provenance::our_image_names(ws)?);
    let let_through = provenance::judge(&env, guard, &facts.commit, &applied, args.force).map_err(UsageError::new)?;
    let forced = guard != Guard::Any && !let_through.is_empty();
    for p in &let_through {
        eprintln!("{}: {p}", if forced { "warning (--force)" } else { "note" });
    }
    // Signature, provenance and SBOM of every image of ours, before anything is applied.
    if guards::read_verify_images(root, &env, guard)? {
        telemetry::step("verify-images", &env, || {
            supply::verify::before_apply(root, &env, guard, &facts.commit, &applied)
        })?;
    } else {
        println!("deploy {env}: images not verified (verify-images = false in {}/{env}/xtask.toml)", render::OVERLAYS);
    }
    let uncommitted = provenance::uncommitted(root, &env);
    if !uncommitted.is_empty() {
        eprintln!("note: the render differs from the commit in {}: the release records it", uncommitted.join(", "));
    }
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
        for line in deploy::planned_commands(&s, &file) {
            println!("would run: {line}");
        }
        let pruning = teardown::plan_prune(&s, &env, &objects, &args.allow_data_loss)?;
        if !pruning.held.is_empty() {
            println!("would refuse: {}", teardown::refusal(&env, &pruning.held));
        }
        for short in fit::read(&s, &objects)? {
            println!("would refuse: {short}");
        }
        if let Some((c, parts)) = &canary {
            println!("rollout strategy: canary ({}); once a release runs, the steps:", canary::strategy::file_of(&env));
            for line in canary::strategy::steps(c, &canary::targets(parts)) {
                println!("  {line}");
            }
        }
        return Ok(0);
    }

    // The lock and the releases live in the namespace, so it comes first.
    deploy::ensure_namespace(&s, &objects)?;
    token::ensure(&s)?;
    let lock = Lock::take(&s, &lock::holder())?;
    let code = lock.hold(|| {
        // The server's own validation (schemas, admission) before anything is recorded.
        s.apply(Some(&file), None, true)?;
        // What the end would prune, and whether the new pods fit: refused before anything changes.
        let pruning = teardown::plan_prune(&s, &env, &objects, &args.allow_data_loss)?;
        if !pruning.held.is_empty() {
            return Err(UsageError::new(teardown::refusal(&env, &pruning.held)));
        }
        // An identity that may not list nodes and pods cluster-wide deploys unchecked, said so.
        let short = fit::read(&s, &objects).unwrap_or_else(|e| {
            eprintln!("warning: cannot check that the new pods fit ({e:#}): give the deployer `list` on nodes and pods in every namespace; deploying without the check");
            Vec::new()
        });
        if !short.is_empty() {
            eprintln!(
                "deploy {env} refused before anything changed: {}; free room on the nodes (`kubectl describe nodes`) or lower the requests, then deploy again",
                short.join("; ")
            );
            return Ok(1);
        }
        let history = history::releases(&s, &env)?;
        let rel = Release {
            revision: records::next_revision(&history),
            environment: env.clone(),
            commit: facts.commit.clone(),
            version: guards::release_at_head(&facts),
            images: applied.iter().map(|a| a.image.clone()).collect(),
            deployed_by: lock::who(),
            deployed_at: clock::now_rfc3339(),
            outcome: Outcome::Pending,
            description: String::new(),
            source_revision: None,
            undone_by: None,
            uncommitted: uncommitted.clone(),
            forced,
            canary: None,
            traceparent: telemetry::traceparent(),
        };
        // Recorded before anything changes: an interrupted deploy stays "pending", never "succeeded".
        history::record(&s, &rel, &text)?;
        if exec::interrupted() {
            eprintln!(
                "interrupted before the apply: {env} is unchanged (revision {} stays recorded as pending, never applied); the lock is released",
                rel.revision
            );
            return Ok(130);
        }
        if let Some((c, parts)) = &canary {
            match records::current(&history) {
                Some(current) => {
                    println!("deploy {env}: revision {} through a canary beside revision {}", rel.revision, current.revision);
                    let load_image = canary::load_image(&all, &parts.iter().collect::<Vec<_>>())
                        .ok_or_else(|| anyhow::anyhow!("no image to run the canary's load Job from"))?;
                    let d = release::canary::Deploy {
                        s: &s,
                        env: &env,
                        c,
                        parts: parts.clone(),
                        objects: &objects,
                        file: &file,
                        text: &text,
                        history: &history,
                        checks: &checks,
                        load_image,
                        timeout,
                        allow_data_loss: &args.allow_data_loss,
                    };
                    return d.run(rel, current);
                }
                None => println!("deploy {env}: no release runs yet, so no canary: this first one rolls out as usual"),
            }
        }
        println!("deploy {env}: apply revision {} ({} objects)", rel.revision, objects.len());
        telemetry::step("apply", &env, || {
            s.apply(Some(&file), None, false)?;
            deploy::annotate_trace(&s, Some(&file));
            Ok(())
        })?;
        println!("deploy {env}: verify (deadline {}s)", timeout.as_secs());
        let ending = telemetry::step("verify", &env, || {
            wait::wait(&s, &wanted(&objects), Instant::now() + timeout)
                .and_then(|e| ready_or_err(e, "the rollout did not become ready"))
        });
        let ending = match ending {
            Ok(e) => telemetry::step("smoke", &env, || {
                smoke::after(&s, e, &checks).and_then(|e| ready_or_err(e, "a smoke check did not pass"))
            }),
            not_ready => not_ready,
        };
        let ending = match ending {
            Ok(e) => e,
            Err(e) => match e.downcast::<NotReady>() {
                Ok(NotReady(ending, _)) => ending,
                Err(e) => return Err(e),
            },
        };
        if matches!(ending, wait::Ending::Ready) {
            deploy::annotate_trace(&s, None);
        }
        let attempt = Attempt {
            s: &s,
            env: &env,
            history: &history,
            rel,
            text: &text,
            objects: &objects,
            timeout,
            allow_data_loss: &args.allow_data_loss,
        };
        telemetry::step("record", &env, || attempt.finish(ending))
    })?;
    history::prune(&s, &env)?;
    Ok(code)
}

/// A rollout or smoke check that ended other than ready: the step's failure
/// in the trace, the ending handed on to `Attempt::finish`.
#[derive(Debug)]
struct NotReady(wait::Ending, &'static str);

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.1)
    }
}
impl std::error::Error for NotReady {}

fn ready_or_err(e: wait::Ending, why: &'static str) -> Result<wait::Ending> {
    match e {
        wait::Ending::Ready => Ok(e),
        other => Err(NotReady(other, why).into()),
    }
}
