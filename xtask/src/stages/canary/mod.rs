//! `cargo xtask canary ENV status|promote|abort`: a canary held by an
//! inconclusive verdict (too little traffic reached it) waits for a person.
//! `status` shows the newest canary (steps, verdicts, the pods now);
//! `promote` and `abort` take the environment's lock and finish it
//! (`release::canary::promote_paused`, `abort_paused`), recording the release
//! `succeeded` or `aborted`.

use crate::cli::{CanaryAction, CanaryArgs};
use crate::component::Workspace;
use crate::error::UsageError;
use crate::exec;
use crate::kube;
use crate::kube::lock::{self, Lock};
use crate::kube::wait;
use crate::manifests::render;
use crate::release::canary;
use crate::release::deploy::connect;
use crate::release::history;
use anyhow::Result;
use xshell::Shell;

pub fn run(ws: &Workspace, args: &CanaryArgs) -> Result<i32> {
    let env = render::environment(&ws.root, &args.env)?;
    let timeout = wait::parse_duration(&args.timeout).map_err(UsageError::new)?;
    let (_, objects) = render::render(&ws.root, &Shell::new()?, &kube::kubectl()?, &env)?;
    let s = connect(&args.cluster, &env, &objects)?;
    if args.action == CanaryAction::Status {
        let history = history::releases(&s, &env)?;
        let lines = canary::status_lines(&s, &history)?;
        if lines.is_empty() {
            println!("{env}: no release went through a canary yet");
        }
        lines.iter().for_each(|l| println!("{l}"));
        return Ok(0);
    }
    exec::install_interrupt_handler()?;
    let lock = Lock::take(&s, &lock::holder())?;
    lock.hold(|| {
        let history = history::releases(&s, &env)?;
        let paused = canary::paused(&history).map_err(UsageError::new)?.clone();
        match args.action {
            CanaryAction::Promote => canary::promote_paused(&s, &env, &history, paused, timeout),
            _ => canary::abort_paused(&s, &env, &history, paused, timeout),
        }
    })
}
