//! `cargo xtask undeploy ENV`: under the environment's lock, delete what its
//! releases applied (`release::teardown` says what and in which order), free the
//! volumes of its claims, and record an `undeployed` revision. What is marked
//! `mlops.dev/resource-policy: keep` (the data claim) stays unless
//! `--allow-data-loss NAME` names it. The namespace
//! and the release history stay (`rollback --to N` puts a release back);
//! a `release`-guarded environment needs `--confirm`.

use crate::cli::UndeployArgs;
use crate::clock;
use crate::component::Workspace;
use crate::error::UsageError;
use crate::exec;
use crate::kube;
use crate::kube::cluster::Session;
use crate::kube::lock::{self, Lock};
use crate::kube::wait;
use crate::manifests::render;
use crate::manifests::yaml;
use crate::release::deploy::connect;
use crate::release::guards;
use crate::release::history;
use crate::release::provenance;
use crate::release::records::{self, Outcome, Release};
use crate::release::teardown::{self, Claim, Fate};
use anyhow::Result;
use std::time::{Duration, Instant};
use xshell::Shell;

/// The kinds to look in: what prune looks at, and every kind the newest release applied.
fn kinds(s: &Session, history: &[Release]) -> Result<String> {
    let mut kinds: Vec<String> = teardown::PRUNABLE.split(',').map(String::from).collect();
    let newest = history.iter().filter(|r| r.outcome != Outcome::Undeployed).max_by_key(|r| r.revision);
    if let Some(secret) = newest.map(|r| s.get_one("secret", &records::secret_name(r.revision))).transpose()?.flatten()
    {
        let objects = yaml::objects(&records::manifests_of(&secret)?).unwrap_or_default();
        for o in objects.iter().filter(|o| o.kind != "Namespace" && o.namespace.is_some()) {
            if !kinds.iter().any(|k| k.eq_ignore_ascii_case(&o.kind)) {
                kinds.push(o.kind.clone());
            }
        }
    }
    Ok(kinds.join(","))
}

/// Poll until `done` or the deadline; false when the deadline passed or Ctrl-C came.
fn wait_for(deadline: Instant, mut done: impl FnMut() -> Result<bool>) -> Result<bool> {
    let mut pause = crate::kube::poll::Backoff::new(Duration::from_millis(300), Duration::from_secs(2));
    loop {
        if done()? {
            return Ok(true);
        }
        if exec::interrupted() || Instant::now() >= deadline {
            return Ok(false);
        }
        pause.sleep();
    }
}

/// Hand each claim's volume back (or say who deals with it); the volumes left behind.
fn free_volumes(s: &Session, claims: &[Claim], deadline: Instant) -> Result<Vec<String>> {
    let mut left = Vec::new();
    for c in claims {
        let Some(volume) = &c.volume else { continue };
        let pv = s.get_one("persistentvolume", volume)?;
        match teardown::fate(pv.as_ref(), c) {
            Fate::HandBack => {
                let patch = teardown::hand_back(c);
                if let Err(e) = s.run(&["patch", "persistentvolume", volume, "--type=json", "-p", &patch], None) {
                    eprintln!("cannot hand volume {volume} back: {e:#}");
                    left.push(volume.clone());
                    continue;
                }
                let available = wait_for(deadline, || {
                    let pv = s.get_one("persistentvolume", volume)?;
                    Ok(pv.is_some_and(|p| p["status"]["phase"] == "Available"))
                })?;
                if available {
                    println!("  volume   {volume}: Available again, its data kept (reclaim policy Retain)");
                } else {
                    left.push(volume.clone());
                }
            }
            Fate::Cluster(policy) => println!("  volume   {volume}: the cluster reclaims it (reclaim policy {policy})"),
            Fate::Leave(why) => println!("  volume   {volume}: left as it is ({why})"),
            Fate::Gone => println!("  volume   {volume}: deleted by the cluster already (with its claim)"),
        }
    }
    Ok(left)
}

/// `cargo xtask undeploy ENV`.
pub fn run(ws: &Workspace, args: &UndeployArgs) -> Result<i32> {
    let root = &ws.root;
    let env = render::environment(root, &args.env)?;
    let guard = guards::read(root, &env)?;
    let timeout = wait::parse_duration(&args.timeout).map_err(UsageError::new)?;
    let bound = crate::github::on_github().then(|| std::env::var("XTASK_GITHUB_ENVIRONMENT").ok()).flatten();
    guards::approved(&env, guard, args.confirm, bound.as_deref()).map_err(|_| {
        UsageError::new(format!("undeploying {env} needs --confirm (or a GitHub job bound to the `{env}` environment)"))
    })?;
    exec::install_interrupt_handler()?;
    let (_, objects) = render::render(root, &Shell::new()?, &kube::kubectl()?, &env)?;
    let s = connect(&args.cluster, &env, &objects)?;
    if s.get_one("namespace", &s.namespace.clone())?.is_none() {
        println!("nothing to undeploy: namespace {} does not exist on {}", s.namespace, s.server);
        return Ok(0);
    }
    let lock = Lock::take(&s, &lock::holder())?;
    let code = lock.hold(|| {
        let history = history::releases(&s, &env)?;
        let found = s.get(&kinds(&s, &history)?, Some(&teardown::applied_selector(&env)))?;
        let (items, kept) = teardown::undeploy_split(found, &args.allow_data_loss);
        for k in &kept {
            let (kind, name) = (k["kind"].as_str().unwrap_or_default(), k["metadata"]["name"].as_str().unwrap_or_default());
            println!(
                "  keep     {kind}/{name} ({}: {}; `--allow-data-loss {name}` deletes it)",
                teardown::KEEP.0,
                teardown::KEEP.1
            );
        }
        let order = teardown::order(&items);
        if order.is_empty() {
            println!("nothing of {env} runs in namespace {}: nothing to undeploy", s.namespace);
            return Ok(0);
        }
        println!("undeploy {env}: {} objects in namespace {} on {}", order.len(), s.namespace, s.server);
        for (kind, name) in &order {
            println!("  delete   {kind}/{name}");
            s.delete(kind, name)?;
        }
        let claims = teardown::claims(&items);
        let deadline = Instant::now() + timeout;
        let gone = wait_for(deadline, || {
            let mut gone = true;
            for c in &claims {
                gone &= s.get_one("persistentvolumeclaim", &c.name)?.is_none();
            }
            Ok(gone)
        })?;
        if exec::interrupted() {
            eprintln!("interrupted: the objects above are being deleted; run undeploy again to finish");
            return Ok(130);
        }
        if !gone {
            let names: Vec<&str> = claims.iter().map(|c| c.name.as_str()).collect();
            eprintln!(
                "the claims {} are still there after {}s (a pod still uses them?): look at `kubectl get pvc,pods -n {}`, then run undeploy again",
                names.join(", "),
                timeout.as_secs(),
                s.namespace
            );
            return Ok(1);
        }
        let left = free_volumes(&s, &claims, deadline)?;
        let revision = records::next_revision(&history);
        let record = Release {
            revision,
            environment: env.clone(),
            commit: provenance::facts(root, &[], false)?.commit,
            version: None,
            images: Vec::new(),
            deployed_by: lock::who(),
            deployed_at: clock::now_rfc3339(),
            outcome: Outcome::Undeployed,
            description: format!(
                "undeployed: {} object(s) deleted, {} claim(s) freed, {} kept",
                order.len(),
                claims.len(),
                kept.len()
            ),
            source_revision: None,
            undone_by: None,
            uncommitted: Vec::new(),
            forced: false,
            canary: None,
            traceparent: crate::telemetry::traceparent(),
        };
        history::record(&s, &record, "")?;
        println!(
            "undeployed {env} (revision {revision}): the namespace {} and its release history are kept (`cargo xtask rollback {env} --to N` puts a release back)",
            s.namespace
        );
        if !left.is_empty() {
            eprintln!(
                "volumes {} are still Released: hand them back with `kubectl patch pv NAME --type=json -p '[{{\"op\":\"remove\",\"path\":\"/spec/claimRef\"}}]'` or delete them",
                left.join(", ")
            );
            return Ok(1);
        }
        Ok(0)
    })?;
    history::prune(&s, &env)?;
    Ok(code)
}
