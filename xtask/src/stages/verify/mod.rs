//! `cargo xtask verify ENV`: is what the overlay renders rolled out and
//! ready? The polling and its verdict live in `kube::wait`.

use crate::cli::VerifyArgs;
use crate::component::Workspace;
use crate::error::UsageError;
use crate::exec;
use crate::kube;
use crate::kube::deploy::connect;
use crate::kube::wait::{describe, wanted, parse_duration, wait, Ending};
use crate::manifests::render;
use anyhow::Result;
use std::time::Instant;
use xshell::Shell;

/// `cargo xtask verify ENV`: is what the overlay renders running and ready?
pub fn run(ws: &Workspace, args: &VerifyArgs) -> Result<i32> {
    let env = render::environment(&ws.root, &args.env)?;
    let timeout = parse_duration(&args.timeout).map_err(UsageError::new)?;
    exec::install_interrupt_handler()?;
    let (_, objects) = render::render(&ws.root, &Shell::new()?, &kube::kubectl()?, &env)?;
    let s = connect(&args.cluster, &env, &objects)?;
    println!("verify {env}: namespace {} on {}, deadline {}s", s.namespace, s.server, timeout.as_secs());
    let ending = wait(&s, &wanted(&objects), Instant::now() + timeout)?;
    for l in describe(&ending) {
        eprintln!("{l}");
    }
    Ok(match ending {
        Ending::Ready => {
            println!("{env} is rolled out");
            0
        }
        Ending::Interrupted => 130,
        Ending::Failed(_) | Ending::TimedOut(_) => 1,
    })
}
