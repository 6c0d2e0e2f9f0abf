//! `cargo xtask node up|down|status`: the local cluster's real worker node
//! (`services::node`), on its own: `cargo xtask services up|down kube` runs
//! it with the control plane.

use crate::cli::NodeCommand;
use crate::github::on_github;
use crate::services::kube::via;
use crate::services::node::root::{self, Via};
use crate::services::node::{self, Config};
use crate::services::{euid, Ctx, Dirs};
use anyhow::Result;
use std::path::Path;
use xshell::Shell;

pub fn run(root: &Path, action: &NodeCommand) -> Result<i32> {
    let (sh, dirs) = (Shell::new()?, Dirs::here());
    let ctx = Ctx { sh: &sh, root, dirs: &dirs, github: on_github(), euid: euid(), recorded: None };
    match action {
        NodeCommand::Up(a) => {
            let cfg = Config::from_env(a.bin.clone())?;
            match via(&ctx, "the real node (containers, mounts, iptables)")? {
                Via::Here => node::up(&ctx, &cfg)?,
                Via::Sudo => root::again(&ctx, &cfg, "up")?,
            }
            Ok(0)
        }
        NodeCommand::Down(a) => {
            let cfg = Config::from_env(a.bin.clone())?;
            match via(&ctx, "stopping the real node")? {
                Via::Here => node::down(&ctx, &cfg)?,
                Via::Sudo => root::again(&ctx, &cfg, "down")?,
            }
            ctx.say("node", &format!("node {} stopped; nothing of it is left running", cfg.name));
            Ok(0)
        }
        NodeCommand::Status(a) => {
            let cfg = Config::from_env(a.bin.clone())?;
            let s = node::status(&ctx, &cfg);
            for (name, pid) in &s.processes {
                match pid {
                    Some(pid) => println!("{name:<11} running (pid {pid})"),
                    None => println!("{name:<11} not running (log: {})", cfg.log_of(name).display()),
                }
            }
            let up = s.processes.iter().all(|(_, pid)| pid.is_some());
            match &s.node {
                Some(n) => println!("node        {}", n.line(&cfg.log_of("kubelet"))),
                None => println!(
                    "node        {} is not registered (or the cluster does not answer): cargo xtask services up",
                    cfg.name
                ),
            }
            Ok(if up && s.node.as_ref().is_some_and(|n| n.ready) { 0 } else { 1 })
        }
    }
}
