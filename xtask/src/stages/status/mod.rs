//! `cargo xtask status ENV`: what runs in an environment now (its workloads,
//! their readiness and images) and its release history, like `helm history`.

use crate::cli::StatusArgs;
use crate::component::Workspace;
use crate::kube;
use crate::kube::deploy;
use crate::kube::steps;
use crate::kube::{release, rollout};
use crate::manifests::render;
use anyhow::Result;
use serde_json::{json, Value};
use xshell::Shell;

/// One line per workload: name, kind, ready/desired, images.
fn workload(item: &Value) -> Value {
    let kind = item["kind"].as_str().unwrap_or("?");
    let images = rollout::pod_spec(item).map(rollout::images_of).unwrap_or_default();
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
    })
}

pub fn run(ws: &Workspace, args: &StatusArgs) -> Result<i32> {
    let env = render::environment(&ws.root, &args.env)?;
    let (_, objects) = render::render(&ws.root, &Shell::new()?, &kube::kubectl()?, &env)?;
    let s = deploy::connect(&args.cluster, &env, &objects)?;
    let workloads: Vec<Value> = s.get("deployments,cronjobs", None)?.iter().map(workload).collect();
    let history = steps::history(&s, &env)?;
    let current = release::current(&history).map(|r| r.revision);
    if args.json {
        let doc = json!({
            "environment": env,
            "namespace": s.namespace,
            "server": s.server,
            "current_revision": current,
            "workloads": workloads,
            "history": history,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(0);
    }
    println!("{env}: namespace {} on {}", s.namespace, s.server);
    match current {
        Some(rev) => println!("running revision {rev}"),
        None => println!("no verified release yet"),
    }
    for w in &workloads {
        println!(
            "  {:<11}{:<18}{:<29}{}",
            w["kind"].as_str().unwrap_or(""),
            w["name"].as_str().unwrap_or(""),
            w["ready"].as_str().unwrap_or(""),
            w["images"].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")
        );
    }
    println!();
    print!("{}", release::history_table(&history));
    Ok(0)
}
