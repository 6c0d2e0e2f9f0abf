//! `cargo xtask status` without ENV: every environment in one table (the
//! release that runs, its health, its images), one session with the cluster
//! moved from namespace to namespace. An environment that cannot be read is
//! a row saying why, and the exit code is 1. The previews follow (age, idle
//! time, commit, state).

use super::{running_json, Look};
use crate::cli::StatusArgs;
use crate::clock;
use crate::component::Workspace;
use crate::kube;
use crate::kube::cluster::Session;
use crate::kube::health;
use crate::manifests::preview;
use crate::manifests::render;
use crate::release::deploy;
use crate::release::preview as previews;
use crate::release::records::{self, Outcome};
use anyhow::Result;
use serde_json::{json, Value};
use xshell::Shell;

pub fn run(ws: &Workspace, args: &StatusArgs) -> Result<i32> {
    let (sh, kubectl) = (Shell::new()?, kube::kubectl()?);
    let mut renders = Vec::new();
    for env in render::environments(&ws.root)? {
        let objects = render::render(&ws.root, &sh, &kubectl, &env).map(|(_, o)| o);
        renders.push((env, objects));
    }
    let Some(first) = renders.iter().find_map(|(env, r)| r.as_ref().ok().map(|o| (env, o))) else {
        anyhow::bail!(
            "no environment under deploy/overlays renders: fix the overlays (cargo xtask manifests render ENV)"
        );
    };
    let mut s = deploy::connect(&args.cluster, first.0, first.1)?;
    let mut rows = Vec::new();
    for (env, objects) in &renders {
        let row = match objects.as_ref().map_err(|e| anyhow::anyhow!("{e:#}")).and_then(|o| {
            deploy::namespace_of(o).ok_or_else(|| anyhow::anyhow!("{} sets no namespace", render::overlay_file(env)))
        }) {
            Ok(ns) => look(&mut s, env, &ns),
            Err(e) => json!({"environment": env, "error": format!("{e:#}")}),
        };
        rows.push(row);
    }
    let failed = rows.iter().any(|r| r.get("error").is_some());
    // The pull requests' previews, after the environments (`cargo xtask preview list`'s table).
    let previews = previews::list(&mut s)?;
    if args.json {
        let previews: Vec<Value> = previews
            .iter()
            .map(|p| json!({"environment": preview::env_name(p.pr), "namespace": p.namespace, "created": clock::rfc3339(p.created as i64), "active": clock::rfc3339(p.active as i64), "commit": p.commit, "state": p.state}))
            .collect();
        let all = json!({"server": s.server, "environments": rows, "previews": previews});
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else {
        println!("environments on {}", s.server);
        print!("{}", table(&rows));
        if !previews.is_empty() {
            println!("\npreviews");
            print!("{}", previews::table(&previews, clock::now()));
        }
    }
    Ok(i32::from(failed))
}

/// One environment's row; a failure to read it becomes the row's `error`.
fn look(s: &mut Session, env: &str, namespace: &str) -> Value {
    s.namespace = namespace.to_string();
    let look = match Look::take(s, env) {
        Ok(l) => l,
        Err(e) => return json!({"environment": env, "namespace": namespace, "error": format!("{e:#}")}),
    };
    let releases = look.releases();
    json!({
        "environment": env,
        "namespace": namespace,
        "deployed": !look.never_deployed(),
        "running": running_json(look.running()),
        "current_revision": records::current(&releases).map(|r| r.revision),
        "undeployed_by": records::undeployed(&releases).map(|r| r.revision),
        "health": if look.never_deployed() { Value::Null } else { health::summary(&look.health).into() },
        "images": look.images(),
    })
}

/// The rows as a table with columns as wide as their widest cell.
fn table(rows: &[Value]) -> String {
    let mut cells = vec![["ENVIRONMENT", "NAMESPACE", "RELEASE", "HEALTH", "IMAGES"].map(String::from)];
    for r in rows {
        let text = |k: &str| r[k].as_str().unwrap_or("-").to_string();
        let release = match (&r["error"], &r["running"], r["deployed"].as_bool()) {
            (Value::String(_), _, _) => "cannot read".into(),
            (_, _, Some(false)) => "never deployed".into(),
            (_, Value::Null, _) if r["undeployed_by"].is_u64() => format!("undeployed ({})", r["undeployed_by"]),
            (_, Value::Null, _) => "none recorded runs".into(),
            (_, run, _) => {
                let outcome = run["outcome"].as_str().unwrap_or("?");
                let note = if outcome == Outcome::Pending.label() { ": applied, not verified" } else { "" };
                format!("{} ({outcome}{note})", run["revision"])
            }
        };
        let images: Vec<&str> = r["images"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let images = if images.is_empty() { "-".to_string() } else { images.join(", ") };
        let health = r["error"].as_str().map_or_else(|| text("health"), String::from);
        cells.push([text("environment"), text("namespace"), release, health, images]);
    }
    let widths: Vec<usize> = (0..5).map(|i| cells.iter().map(|c| c[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for c in &cells {
        let line: Vec<String> = (0..5).map(|i| format!("{:<w$}", c[i], w = widths[i])).collect();
        out += line.join("  ").trim_end();
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_environment_in_one_table() {
        let rows = [
            json!({"environment": "development", "namespace": "mlops-development", "deployed": true,
                   "running": {"revision": 3, "outcome": "rolled-back"}, "health": "ready (4 workloads)",
                   "images": ["cdc:1a2b3c4d5e6f", "storage:1a2b3c4d5e6f"]}),
            json!({"environment": "production", "namespace": "mlops-production", "deployed": true,
                   "running": {"revision": 7, "outcome": "pending"},
                   "health": "storage failing: CrashLoopBackOff, 1 pod(s) not ready (CrashLoopBackOff)",
                   "images": ["storage:2.0.0"]}),
            json!({"environment": "staging", "namespace": "mlops-staging", "deployed": false, "running": null,
                   "health": null, "images": []}),
            json!({"environment": "qa", "error": "kustomize cannot render deploy/overlays/qa"}),
        ];
        let want = [
            "ENVIRONMENT  NAMESPACE          RELEASE                             HEALTH                                                                    IMAGES",
            "development  mlops-development  3 (rolled-back)                     ready (4 workloads)                                                       cdc:1a2b3c4d5e6f, storage:1a2b3c4d5e6f",
            "production   mlops-production   7 (pending: applied, not verified)  storage failing: CrashLoopBackOff, 1 pod(s) not ready (CrashLoopBackOff)  storage:2.0.0",
            "staging      mlops-staging      never deployed                      -                                                                         -",
            "qa           -                  cannot read                         kustomize cannot render deploy/overlays/qa                                -",
        ];
        assert_eq!(table(&rows), want.map(|l| format!("{l}\n")).concat());
    }
}
