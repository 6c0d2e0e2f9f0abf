//! `cargo xtask logs ENV [COMPONENT] [--since D] [--follow] [--json] [--trace ID]`:
//! the environment's pods' logs as one stream. Each pod's containers are read
//! with `kubectl logs --timestamps` and merged in time order (`kube::logs`);
//! JSON lines show as fields. `--trace` keeps the lines logged inside one
//! trace and first names the pods its deploy annotated. `--follow` streams every container at once, each
//! line printed as it comes (in arrival order), until Ctrl-C.

use crate::cli::LogsArgs;
use crate::component::Workspace;
use crate::error::UsageError;
use crate::exec;
use crate::kube;
use crate::kube::cluster::Session;
use crate::kube::logs::{self, Line};
use crate::manifests::render;
use crate::release::deploy::connect;
use anyhow::{Context, Result};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use xshell::Shell;

pub fn run(ws: &Workspace, args: &LogsArgs) -> Result<i32> {
    let env = render::environment(&ws.root, &args.env)?;
    if let Some(c) = &args.component {
        if !ws.components.iter().any(|k| &k.name == c) {
            let known: Vec<&str> = ws.components.iter().map(|k| k.name.as_str()).collect();
            return Err(UsageError::new(format!("unknown component `{c}`: pick one of {}", known.join(", "))));
        }
    }
    if let Some(since) = &args.since {
        kube::wait::parse_duration(since).map_err(UsageError::new)?;
    }
    let trace = args.trace.as_deref().map(logs::trace_id).transpose().map_err(UsageError::new)?;
    exec::install_interrupt_handler()?;
    let (_, objects) = render::render(&ws.root, &Shell::new()?, &kube::kubectl()?, &env)?;
    let s = connect(&args.cluster, &env, &objects)?;
    let selector = args.component.as_ref().map(|c| format!("app.kubernetes.io/name={c}"));
    let pods = s.get("pods", selector.as_deref())?;
    let streams = containers(&pods);
    if streams.is_empty() {
        let what = args.component.as_ref().map(|c| format!(" of {c}")).unwrap_or_default();
        eprintln!("{env}: no pods{what} in namespace {}", s.namespace);
        return Ok(0);
    }
    if let Some(t) = &trace {
        let deployed = logs::annotated(&pods, t);
        let list = if deployed.is_empty() { "none".to_string() } else { deployed.join(", ") };
        eprintln!("trace {t}: pods its deploy annotated: {list}");
    }
    let keep = |l: &Line| trace.as_deref().is_none_or(|t| logs::in_trace(l, t));
    if args.follow {
        return follow(&s, &streams, args, &keep);
    }
    let mut outputs = Vec::new();
    for (pod, container) in &streams {
        let a = log_args(&s.namespace, pod, container, args, false);
        let text = s.run(&a.iter().map(String::as_str).collect::<Vec<_>>(), None).unwrap_or_else(|e| {
            eprintln!("warning: no log of {pod}/{container}: {e:#}");
            String::new()
        });
        outputs.push((pod.clone(), container.clone(), text));
    }
    for l in logs::merge(&outputs).iter().filter(|l| keep(l)) {
        print(l, args.json);
    }
    Ok(0)
}

/// (pod, container) of every pod, init containers first.
fn containers(pods: &[Value]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in pods {
        let pod = p["metadata"]["name"].as_str().unwrap_or_default();
        for key in ["initContainers", "containers"] {
            for c in p["spec"][key].as_array().into_iter().flatten() {
                out.push((pod.to_string(), c["name"].as_str().unwrap_or_default().to_string()));
            }
        }
    }
    out
}

fn log_args(ns: &str, pod: &str, container: &str, args: &LogsArgs, follow: bool) -> Vec<String> {
    let mut a: Vec<String> =
        ["logs", pod, "-n", ns, "-c", container, "--timestamps"].iter().map(|s| s.to_string()).collect();
    if let Some(since) = &args.since {
        a.push(format!("--since={since}"));
    }
    if follow {
        a.push("--follow".into());
    }
    a
}

fn print(l: &Line, json: bool) {
    if json {
        println!("{}", logs::as_json(l));
    } else {
        println!("{}", logs::human(l));
    }
}

/// Every container streamed at once, lines printed as they arrive, until Ctrl-C.
fn follow(s: &Session, streams: &[(String, String)], args: &LogsArgs, keep: &dyn Fn(&Line) -> bool) -> Result<i32> {
    let (tx, rx) = mpsc::channel::<Line>();
    let mut children = Vec::new();
    for (pod, container) in streams {
        let a = log_args(&s.namespace, pod, container, args, true);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        let mut c = s.command(&refs)?;
        c.stdout(Stdio::piped()).stderr(Stdio::null()).stdin(Stdio::null());
        let mut child = c.spawn().context("cannot run kubectl logs --follow")?;
        let out = child.stdout.take().expect("piped stdout");
        let (tx, pod, container) = (tx.clone(), pod.clone(), container.clone());
        std::thread::spawn(move || {
            for raw in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(l) = logs::parse(&raw, &pod, &container) {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            }
        });
        children.push(child);
    }
    drop(tx);
    let code = loop {
        if exec::interrupted() {
            break 130;
        }
        match rx.recv_timeout(std::time::Duration::from_millis(200)) {
            Ok(l) if keep(&l) => print(&l, args.json),
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break 0,
        }
    };
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    Ok(code)
}
