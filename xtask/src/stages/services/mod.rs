//! `cargo xtask services up|down|status|key [NAME...]`: what the pipeline
//! and its tests need running on this machine (`services`), brought up in
//! order with what each needs, recorded for every later command in every
//! checkout (the machine record, `services::location`; on GitHub also in
//! `$GITHUB_ENV`).

use crate::cli::ServicesCommand;
use crate::error::UsageError;
use crate::github::{self, on_github};
use crate::kube::sweep::{self, Which};
use crate::services::location::{self, Located, Why};
use crate::services::state::{self, Record, State};
use crate::services::{self, kube, Ctx, Dirs};
mod wipe;

use anyhow::{Context, Result};
use std::path::Path;
use std::time::Instant;
use xshell::Shell;

pub fn run(root: &Path, action: &ServicesCommand) -> Result<i32> {
    let sh = Shell::new()?;
    let dirs = Dirs::here();
    let base = Base { root, sh: &sh, dirs: &dirs, github: on_github(), euid: services::euid() };
    match action {
        ServicesCommand::Up { names } => up(&base, names),
        ServicesCommand::Down { names, purge, caches } => down(&base, names, *purge, *caches),
        ServicesCommand::Status { names, json } => status(&base, names, *json),
        ServicesCommand::Key { name } => key(&base, name),
        // main runs it before looking for a root.
        ServicesCommand::Provisioner(a) => services::kube::provisioner::run(a),
    }
}

struct Base<'a> {
    root: &'a Path,
    sh: &'a Shell,
    dirs: &'a Dirs,
    github: bool,
    euid: u32,
}

impl<'a> Base<'a> {
    fn cx(&'a self, recorded: Option<&'a Record>) -> Ctx<'a> {
        Ctx { sh: self.sh, root: self.root, dirs: self.dirs, github: self.github, euid: self.euid, recorded }
    }
}

/// The services named (all when none), with what they need when `closed`.
fn chosen(asked: &[String], closed: bool) -> Result<Vec<&'static str>> {
    let known = services::names();
    let needs =
        |n: &str| if closed { services::get(n).map(|s| s.needs().to_vec()).unwrap_or_default() } else { Vec::new() };
    services::select(asked, &known, &needs).map_err(UsageError::new)
}

/// The record `up` and `down` write, what it holds, and a checkout's record
/// from before machine records that this run moves into it (root only).
fn writable(b: &Base) -> (Located, State, Option<std::path::PathBuf>) {
    let target = location::for_writing(b.root, b.euid, &location::env_var);
    let legacy = match location::here(b.root).0 {
        Some(Located { path, why: Why::Legacy(_) }) if target.why == Why::Machine => Some(path),
        _ => None,
    };
    let state = state::load_at(&target.path).or_else(|| legacy.as_deref().and_then(state::load_at));
    (target, state.unwrap_or_default(), legacy)
}

/// Save, and once saved remove the checkout's old record it replaces.
fn save(b: &Base, target: &Located, now: &State, legacy: &mut Option<std::path::PathBuf>) -> Result<()> {
    state::save_at(target, now)?;
    if let Some(old) = legacy.take() {
        std::fs::remove_file(&old).with_context(|| format!("cannot remove {}", old.display()))?;
        let shown = old.strip_prefix(b.root).unwrap_or(&old).display().to_string();
        println!(
            "moved this checkout's record {shown} to {}: every checkout on this machine reads it",
            target.path.display()
        );
    }
    Ok(())
}

fn up(b: &Base, asked: &[String]) -> Result<i32> {
    let wanted = chosen(asked, true)?;
    let (target, before, mut legacy) = writable(b);
    println!("services: {}", target.describe(b.root));
    // Records of other services that no longer run are dropped, not carried along.
    let mut now = State {
        services: before
            .services
            .iter()
            .filter(|(_, r)| r.gone().is_none())
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect(),
        ..State::default()
    };
    let t0 = Instant::now();
    let mut took = Vec::new();
    let builds: Vec<&'static str> =
        wanted.iter().copied().filter(|n| services::get(n).is_some_and(|s| s.has_build())).collect();
    let (root, dirs, github, euid) = (b.root, b.dirs, b.github, b.euid);
    std::thread::scope(|scope| -> Result<()> {
        // The builds, one after another, beside the services: each service
        // with a build waits for its own before it comes up.
        let (tx, rx) = std::sync::mpsc::channel::<(&str, Result<()>, f64)>();
        scope.spawn(move || {
            let Ok(sh) = Shell::new() else { return };
            let cx = services::Ctx { sh: &sh, root, dirs, github, euid, recorded: None };
            for name in builds {
                let t = Instant::now();
                let done = services::get(name).expect("selected services exist").build(&cx);
                let failed = done.is_err();
                if tx.send((name, done, t.elapsed().as_secs_f64())).is_err() || failed {
                    return;
                }
            }
        });
        let mut built: std::collections::BTreeMap<&str, (Result<()>, f64)> = Default::default();
        let run = (|| -> Result<()> {
            for name in wanted {
                let service = services::get(name).expect("selected services exist");
                if service.has_build() {
                    while !built.contains_key(name) {
                        let Ok((n, done, s)) = rx.recv() else { break };
                        built.insert(n, (done, s));
                    }
                    // None: the builds stopped at an earlier one's failure; up says its own.
                    if let Some((done, s)) = built.remove(name) {
                        done?;
                        if s >= 1.0 {
                            println!("[{name}] built beside the services in {s:.1}s");
                            took.push((format!("{name}'s build"), s));
                        }
                    }
                }
                let recorded = before.services.get(name);
                if let Some(p) = recorded.and_then(Record::gone) {
                    println!("[{name}] the record names {} pid {}, which is gone: checking it afresh", p.name, p.pid);
                }
                let t = Instant::now();
                now.services.remove(name);
                let record = service.up(&b.cx(recorded))?;
                let line = format!("{name:<12} up  {} ({:.1}s)", record.summary, t.elapsed().as_secs_f64());
                println!("{line}");
                took.push((name.to_string(), t.elapsed().as_secs_f64()));
                if name == "kube" {
                    sweep_fixtures(b.sh, &record);
                }
                now.services.insert(name.to_string(), record);
                // Saved after each service: a failure further on keeps what is up on record.
                save(b, &target, &now, &mut legacy)?;
            }
            Ok(())
        })();
        if run.is_err() {
            services::go_build::stop_all();
        }
        run
    })?;
    let (live, _) = state::live(&now);
    github::set_env(&state::missing_vars(&live, &|_| false))?;
    let total = t0.elapsed().as_secs_f64();
    let shown = target.path.strip_prefix(b.root).unwrap_or(&target.path).display().to_string();
    println!("services up in {total:.1}s, recorded in {shown}");
    if let Some(line) = shares(&took, total) {
        println!("{line}");
    }
    Ok(0)
}

/// Each service's share of a `services up` that took long enough for it to
/// matter (a cold one: builds), largest first: where a cold machine's minutes go.
fn shares(took: &[(String, f64)], total: f64) -> Option<String> {
    if total < 60.0 {
        return None;
    }
    let mut by = took.to_vec();
    by.sort_by(|a, b| b.1.total_cmp(&a.1));
    let parts: Vec<String> = by
        .iter()
        .filter(|(_, s)| *s >= 1.0)
        .map(|(n, s)| format!("{n} {:.0}s ({:.0}%)", s, 100.0 * s / total))
        .collect();
    Some(format!("  where the time went: {}", parts.join(", ")))
}

/// Fixture namespaces that tests leaked (older than any test runs) would hold
/// the node's CPU for every deploy after: removed once the cluster is up, and said.
fn sweep_fixtures(sh: &Shell, kube: &Record) {
    let (Some(kubectl), Some(kubeconfig)) = (kube.env.get("XTASK_KUBECTL"), kube.env.get("XTASK_TEST_KUBECONFIG"))
    else {
        return;
    };
    let which = Which::OlderThan { now: crate::clock::now(), age_s: sweep::STALE_AFTER_S };
    let done = sweep::sweep(sh, Path::new(kubectl), Path::new(kubeconfig), which);
    if let Some(line) = sweep::line(which, &done) {
        println!("[kube] {line}");
    }
}

fn down(b: &Base, asked: &[String], purge: bool, caches: bool) -> Result<i32> {
    if caches && !asked.is_empty() {
        return Err(UsageError::new(
            "--caches wipes what every service installed or cached: name no service (`cargo xtask services down --purge --caches`)",
        ));
    }
    let mut wanted = chosen(asked, false)?;
    wanted.reverse();
    let (target, mut now, mut legacy) = writable(b);
    println!("services: {}", target.describe(b.root));
    for name in wanted {
        let service = services::get(name).expect("selected services exist");
        // The images go while the engine still answers (the builder's container is gone by now).
        if caches && name == "docker" {
            wipe::images(b.sh);
        }
        let line = service.down(&b.cx(now.services.get(name)), purge)?;
        println!("{name:<12} {line}");
        if now.services.remove(name).is_some() {
            save(b, &target, &now, &mut legacy)?;
        }
    }
    if caches {
        wipe::folders(b.dirs)?;
        if target.path.is_file() {
            std::fs::remove_file(&target.path).with_context(|| format!("cannot remove {}", target.path.display()))?;
            println!("removed the record {}", target.path.display());
        }
    }
    Ok(0)
}

fn status(b: &Base, asked: &[String], json: bool) -> Result<i32> {
    let wanted = chosen(asked, false)?;
    // What every other command reads here, said on stderr (stdout may be JSON).
    let at = location::here(b.root).0;
    match &at {
        Some(at) => eprintln!("services: {}", at.describe(b.root)),
        None => eprintln!("services: no record here yet (`cargo xtask services up` writes one)"),
    }
    let recorded = at.and_then(|at| state::load_at(&at.path)).unwrap_or_default();
    let mut rows = Vec::new();
    let mut all_up = true;
    for name in wanted {
        let service = services::get(name).expect("selected services exist");
        let r = recorded.services.get(name);
        let (up, detail) = match service.status(&b.cx(r)) {
            Ok(line) => (true, line),
            Err(why) => (false, why),
        };
        all_up &= up;
        let record = match r {
            None => "not recorded".to_string(),
            Some(r) => match r.gone() {
                Some(p) => format!("recorded, stale: {} pid {} is gone", p.name, p.pid),
                None => "recorded".to_string(),
            },
        };
        rows.push((name, up, detail, record));
    }
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(|(n, up, d, r)| serde_json::json!({"name": n, "up": up, "detail": d, "record": r}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        for (name, up, detail, record) in &rows {
            println!("{name:<12} {:<4} {detail} ({record})", if *up { "up" } else { "down" });
        }
        if !all_up {
            println!("`cargo xtask services up` brings them up");
        }
    }
    Ok(if all_up { 0 } else { 1 })
}

/// `services key kube|otelcol|buildx|signing`: a build's cache key and folder, for actions/cache.
fn key(b: &Base, name: &str) -> Result<i32> {
    let (key, path) = match name {
        "kube" => {
            let plan = kube::build::plan(b.sh, b.root, &kube::cache(&b.cx(None)))?;
            (plan.key.clone(), plan.out())
        }
        "otelcol" => services::otelcol::cache_entry(&b.cx(None))?,
        "buildx" => services::buildx::cache_entry(&b.cx(None))?,
        "signing" => services::signing::cache_entry(&b.cx(None))?,
        _ => {
            return Err(UsageError::new(format!(
                "`{name}` has no build to cache: only `kube` (the control plane's binaries), `otelcol` (the collector), `buildx` (buildx and BuildKit) and `signing` (cosign and syft) have"
            )))
        }
    };
    let key = format!("xtask-{name}-{}-{}-{key}", std::env::consts::OS, std::env::consts::ARCH);
    let path = path.display().to_string();
    println!("key={key}\npath={path}");
    github::set_outputs(&[("key".into(), key), ("path".into(), path)])?;
    Ok(0)
}

#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;
