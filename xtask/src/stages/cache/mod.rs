//! `cargo xtask cache why TASK` (which inputs changed since the task's last
//! recorded success) and `cargo xtask cache clean`.

use crate::cache::key::{self as cache_key, Session};
use crate::checks::{self as quality, Check};
use crate::cli::CacheCommand;
use crate::component::Workspace;
use crate::error::UsageError;
use crate::exec::{self, Prepare};
use crate::plan::Task;
use crate::python::{EnvSpec, Envs};
use crate::testing as test;
use anyhow::Result;

pub fn run(ws: &Workspace, action: CacheCommand) -> Result<i32> {
    match action {
        CacheCommand::Clean => {
            let store = crate::cache::Store::new(&ws.root);
            let removed = store.clean()?;
            println!("{}", if removed { "removed target/xtask/cache" } else { "target/xtask/cache is already empty" });
            Ok(0)
        }
        CacheCommand::Why { task } => {
            for line in why(ws, &task)? {
                println!("{line}");
            }
            Ok(0)
        }
    }
}

/// The task as a full run of its stage plans it, with what prepares it.
fn planned(ws: &Workspace, id: &str) -> Result<(Task, Envs)> {
    let all: Vec<_> = ws.components.iter().collect();
    let cargo = ws.root.join("Cargo.toml").is_file().then(|| which::which("cargo").ok()).flatten();
    let (tasks, envs) = if id.starts_with("test:") {
        let specs = all.iter().map(|c| EnvSpec::for_tests(ws, c)).collect();
        (test::plan(ws, &all, cargo.as_deref(), &[])?, specs)
    } else {
        let plan = quality::plan(ws, &all, &Check::ALL, false, cargo.as_deref());
        (plan.tasks, plan.envs)
    };
    let task = tasks.into_iter().find(|t| t.id == id).ok_or_else(|| {
        UsageError::new(format!(
            "no task `{id}`: name one as the summary table does, e.g. test:storage, lint:client or test:xtask:unit"
        ))
    })?;
    Ok((task, Envs::new(&ws.root, envs)))
}

/// Lines saying why the task would run, or that it would be replayed.
pub fn why(ws: &Workspace, id: &str) -> Result<Vec<String>> {
    let (task, envs) = planned(ws, id)?;
    if task.cache.is_none() {
        return Ok(vec![format!(
            "{id} is never cached: it changes things outside the repo or reads a database that changes by the day"
        )]);
    }
    let session = Session::open(&ws.root, std::slice::from_ref(&task), true)
        .map_err(|why| UsageError::new(format!("the task cache needs a git work tree ({why}): run it in a clone")))?;
    let tools = exec::fingerprints(&task, Some(&envs as &dyn Prepare)).unwrap_or_default();
    let now = session.lookup(&task, &tools).expect("the task is cached");
    if let Some(hit) = &now.hit {
        return Ok(vec![format!(
            "{id}: no input changed since its last success (passed in {:.1}s): the next run replays it",
            hit.meta.seconds
        )]);
    }
    let Some(last) = session.store.last(id) else {
        return Ok(vec![format!("{id} has no recorded success yet: it runs next time")]);
    };
    let Some(entry) = session.store.get(&last) else {
        return Ok(vec![format!(
            "{id}: its last success is no longer in the cache (evicted or removed): it runs next time"
        )]);
    };
    let mut lines = vec![format!("{id} runs next time: since its last success these inputs changed:")];
    lines.extend(cache_key::diff(&entry.meta.inputs, &now.inputs).into_iter().map(|l| format!("  {l}")));
    Ok(lines)
}
