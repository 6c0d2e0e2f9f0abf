//! `cargo xtask rollback ENV [--to REVISION] [--force]`: under the
//! environment's lock, re-apply an earlier verified release as a new revision,
//! verify it, and mark the releases it undid `rolled-back` (`release::records`
//! says which: pressing it again goes further back).

use crate::cli::RollbackArgs;
use crate::component::Workspace;
use crate::error::UsageError;
use crate::exec;
use crate::kube;
use crate::kube::lock::{self, Lock};
use crate::kube::wait;
use crate::manifests::render;
use crate::release::deploy::{connect, roll_back};
use crate::release::history;
use crate::release::records;
use anyhow::Result;
use xshell::Shell;

/// `cargo xtask rollback ENV [--to REVISION]`.
pub fn run(ws: &Workspace, args: &RollbackArgs) -> Result<i32> {
    let env = render::environment(&ws.root, &args.env)?;
    let timeout = wait::parse_duration(&args.timeout).map_err(UsageError::new)?;
    exec::install_interrupt_handler()?;
    let (_, objects) = render::render(&ws.root, &Shell::new()?, &kube::kubectl()?, &env)?;
    let s = connect(&args.cluster, &env, &objects)?;
    let lock = Lock::take(&s, &lock::holder())?;
    let code = lock.hold(|| {
        let history = history::releases(&s, &env)?;
        let target = records::rollback_target(&history, args.to, args.force).map_err(UsageError::new)?;
        let undone = records::undone(&history, target);
        let revision = records::next_revision(&history);
        println!(
            "rollback {env}: to revision {} (commit {}) as revision {revision}",
            target.revision,
            &target.commit[..target.commit.len().min(12)]
        );
        // Recorded when --force was what let it through.
        let forced = args.force && records::rollback_target(&history, args.to, false).is_err();
        let code = roll_back(&s, &env, target, revision, timeout, forced)?;
        if code == 0 {
            history::mark_undone(&s, &history, &undone, revision)?;
            let undone: Vec<String> = undone.iter().map(u64::to_string).collect();
            let what = if undone.is_empty() { String::new() } else { format!(" (undid {})", undone.join(", ")) };
            println!("rolled back {env} to revision {}{what}", target.revision);
        }
        Ok(code)
    })?;
    history::prune(&s, &env)?;
    Ok(code)
}
