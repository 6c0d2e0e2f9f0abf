//! `cargo xtask status [ENV]`: what runs in an environment now and its
//! release history, like `helm history`: which recorded release the cluster
//! runs (a pending one included: an interrupted deploy's), each workload's
//! rollout and every pod that is not ready with why. Without ENV, every
//! environment in one table (`all`). The decisions are `release::running` and
//! `kube::health`.

mod all;

use crate::cli::StatusArgs;
use crate::component::Workspace;
use crate::kube;
use crate::kube::cluster::Session;
use crate::kube::health::{self, Trouble};
use crate::kube::rollout::{Observed, State};
use crate::kube::wait::observe;
use crate::kube::want;
use crate::manifests::render;
use crate::release;
use crate::release::deploy;
use crate::release::history;
use crate::release::records::{self, Outcome, Release};
use crate::release::running::{self, Recorded};
use anyhow::Result;
use serde_json::{json, Value};
use xshell::Shell;

/// One look at an environment's namespace.
struct Look {
    observed: Observed,
    history: Vec<Recorded>,
    /// Component, rollout, pods not ready: per workload, in `rows`' order.
    health: Vec<(String, State, Vec<Trouble>)>,
    rows: Vec<Value>,
}

impl Look {
    fn take(s: &Session, env: &str) -> Result<Look> {
        let observed = observe(s)?;
        let history = history::recorded(s, env)?;
        let mut health = Vec::new();
        let mut rows = Vec::new();
        let live = observed.deployments.iter().map(|d| ("Deployment", d));
        for (kind, item) in live.chain(observed.cronjobs.iter().map(|c| ("CronJob", c))) {
            let component = item["metadata"]["labels"]["app.kubernetes.io/name"]
                .as_str()
                .or(item["metadata"]["name"].as_str())
                .unwrap_or("?")
                .to_string();
            let state = health::rollout_of(kind, item, &observed);
            let troubles = if kind == "Deployment" { health::troubles(item, &observed.pods) } else { Vec::new() };
            rows.push(workload(kind, item, &state, &troubles));
            health.push((component, state, troubles));
        }
        Ok(Look { observed, history, health, rows })
    }

    fn releases(&self) -> Vec<Release> {
        self.history.iter().map(|r| r.release.clone()).collect()
    }

    fn running(&self) -> Option<&Release> {
        running::running(&self.history, &self.observed).map(|r| &r.release)
    }

    /// Every workload rolled out and every pod ready.
    fn healthy(&self) -> bool {
        !self.health.is_empty()
            && self.health.iter().all(|(_, state, troubles)| *state == State::Ready && troubles.is_empty())
    }

    fn never_deployed(&self) -> bool {
        self.history.is_empty() && self.rows.is_empty()
    }

    /// The images the workloads run, in short, without repeats.
    fn images(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .rows
            .iter()
            .flat_map(|w| w["images"].as_array().cloned().unwrap_or_default())
            .filter_map(|i| i.as_str().map(health::short_image))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// One workload: name, kind, ready/desired, images, its rollout and the pods that are not ready.
fn workload(kind: &str, item: &Value, state: &State, troubles: &[Trouble]) -> Value {
    let images = want::pod_template(kind, item).map(|t| want::images_of(&t["spec"])).unwrap_or_default();
    let ready = match kind {
        "Deployment" => format!(
            "{}/{}",
            item["status"]["availableReplicas"].as_u64().unwrap_or(0),
            item["spec"]["replicas"].as_u64().unwrap_or(1)
        ),
        _ => item["status"]["lastSuccessfulTime"].as_str().map_or("no run yet".into(), |t| format!("last ok {t}")),
    };
    json!({
        "kind": kind,
        "name": item["metadata"]["name"],
        "component": item["metadata"]["labels"]["app.kubernetes.io/name"],
        "ready": ready,
        "images": images,
        "rollout": health::state_words(state),
        "not_ready": troubles,
    })
}

/// `2 (pending)` and the like, for what runs.
fn running_json(r: Option<&Release>) -> Value {
    r.map_or(Value::Null, |r| json!({"revision": r.revision, "outcome": r.outcome.label()}))
}

/// The running workloads' images (component, reference), without repeats.
fn running_images(look: &Look) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for w in &look.rows {
        let name = w["name"].as_str().unwrap_or_default().to_string();
        for i in w["images"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !out.iter().any(|(_, r)| r == i) {
                out.push((name.clone(), i.to_string()));
            }
        }
    }
    out
}

pub fn run(ws: &Workspace, args: &StatusArgs) -> Result<i32> {
    let Some(name) = &args.env else { return all::run(ws, args) };
    let env = render::environment(&ws.root, name)?;
    let (_, objects) = render::render(&ws.root, &Shell::new()?, &kube::kubectl()?, &env)?;
    let s = deploy::connect(&args.cluster, &env, &objects)?;
    let look = Look::take(&s, &env)?;
    let releases = look.releases();
    let current = records::current(&releases).map(|r| r.revision);
    let runs = look.running();
    // Each running image's signature, provenance and SBOM, judged against the running release's commit.
    let images = running_images(&look);
    let guard = crate::release::guards::read(&ws.root, &env)?;
    let commit = runs.map(|r| r.commit.clone()).unwrap_or_default();
    let verification = if crate::release::guards::read_verify_images(&ws.root, &env, guard)? {
        crate::supply::verify::running(&ws.root, guard, &commit, &images)
    } else {
        Err("verify-images = false in its overlay".to_string())
    };
    if args.json {
        let doc = json!({
            "environment": env,
            "namespace": s.namespace,
            "server": s.server,
            "deployed": !look.never_deployed(),
            "current_revision": current,
            "running": running_json(runs),
            // The revision whose manifests run (a rollback's target), and whether every pod is ready.
            "running_manifests_of": runs.map(Release::source),
            // The last deploy's trace id: `logs ENV --trace ID` reads the pods' lines in it.
            "last_trace_id": records::last_trace(&releases).map(|(_, trace)| trace),
            "healthy": look.healthy(),
            "health": health::summary(&look.health),
            "workloads": look.rows,
            "verification": match &verification {
                Ok(list) => json!(list.iter().map(|o| json!({
                    "component": o.component, "image": o.reference, "verified": o.result.is_ok(),
                    "detail": match &o.result { Ok(c) => format!("provenance commit {c}"), Err(why) => why.clone() },
                })).collect::<Vec<_>>()),
                Err(why) => json!({"error": why}),
            },
            "history": releases,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(0);
    }
    println!("{env}: namespace {} on {}", s.namespace, s.server);
    if look.never_deployed() {
        println!("{env} was never deployed: no release is recorded and nothing runs (cargo xtask deploy {env})");
        return Ok(0);
    }
    match runs {
        Some(r) if r.outcome == Outcome::Pending => {
            println!("running revision {} (pending)", r.revision);
            println!("  {}", running::unverified(&env, &releases, r.revision));
        }
        Some(r) => println!("{}", running::runs_line(r, look.healthy(), &health::summary(&look.health))),
        None if releases.is_empty() => println!("no release recorded: what runs was not deployed by the xtask"),
        None if records::undeployed(&releases).is_some() => println!(
            "nothing runs: revision {} undeployed {env} (`cargo xtask rollback {env} --to N` puts a release back)",
            records::undeployed(&releases).map_or(0, |r| r.revision)
        ),
        None => println!(
            "running none of the recorded releases (changed by hand?); the last verified is {}",
            current.map_or("none".into(), |c| format!("revision {c}"))
        ),
    }
    if let Some(line) = records::trace_line(&env, &releases) {
        println!("last deploy's {line}");
    }
    for (w, (_, state, troubles)) in look.rows.iter().zip(&look.health) {
        println!(
            "  {:<11}{:<18}{:<29}{}",
            w["kind"].as_str().unwrap_or(""),
            w["name"].as_str().unwrap_or(""),
            w["ready"].as_str().unwrap_or(""),
            w["images"].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
        );
        if *state != State::Ready {
            println!("      {}", health::state_words(state));
        }
        for t in troubles {
            println!("      {t}");
        }
    }
    match &verification {
        Ok(list) if list.is_empty() => {}
        Ok(list) => {
            println!("images:");
            list.iter().for_each(|o| println!("  {}", o.line()));
        }
        Err(why) => println!("images: not verified ({why})"),
    }
    println!();
    print!("{}", records::history_table(&releases));
    let canary = release::canary::status_lines(&s, &releases)?;
    if !canary.is_empty() {
        println!();
        canary.iter().for_each(|l| println!("{l}"));
    }
    Ok(0)
}
