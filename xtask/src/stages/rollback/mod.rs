//! `cargo xtask rollback ENV [--to REVISION]`: under the environment's lock,
//! re-apply an earlier verified release as a new revision and verify it.

use crate::cli::RollbackArgs;
use crate::component::Workspace;
use crate::error::UsageError;
use crate::exec;
use crate::kube;
use crate::kube::deploy::{connect, roll_back_to};
use crate::kube::release;
use crate::kube::steps::{self, Lock};
use crate::kube::wait as verify;
use crate::manifests::render;
use anyhow::Result;
use xshell::Shell;

/// `cargo xtask rollback ENV [--to REVISION]`.
pub fn run(ws: &Workspace, args: &RollbackArgs) -> Result<i32> {
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
