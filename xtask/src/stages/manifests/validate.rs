//! `cargo xtask manifests validate [ENV...]`: every environment through strict
//! schemas, our rules and, with a cluster, a server-side dry run; the plan and
//! its preparation are `manifests::validate`, findings read as quality's are.

use crate::checks;
use crate::cli::ValidateArgs;
use crate::component::Workspace;
use crate::error::UsageError;
use crate::github::on_github;
use crate::kube::{self, Cluster};
use crate::manifests::render;
use crate::manifests::validate::{plan, Prep};
use crate::plan::Task;
use crate::printer::Printer;
use crate::python::Envs;
use crate::report::Row;
use crate::runner::{self, Stage};
use anyhow::Result;
use xshell::Shell;

/// `cargo xtask manifests validate`.
pub fn run(ws: &Workspace, args: &ValidateArgs) -> Result<i32> {
    let root = &ws.root;
    let envs = if args.envs.is_empty() {
        render::environments(root)?
    } else {
        args.envs.iter().map(|e| render::environment(root, e)).collect::<Result<_>>()?
    };
    let kubectl = kube::kubectl()?;
    let cluster = Cluster::configured(args.kubeconfig.as_deref())?;
    let sh = Shell::new()?;
    let out = Printer::new(on_github(), args.exec.json);
    match &cluster {
        Some(c) if !args.exec.dry_run => {
            let version = c.check(&sh, &kubectl)?;
            out.line(&format!(
                "server-side dry run against {} (Kubernetes {version})",
                c.server(&sh, &kubectl).unwrap_or_default()
            ));
        }
        None => out.line("no cluster configured (--kubeconfig or KUBECONFIG): the objects are validated offline only"),
        _ => {}
    }
    let xtask = crate::fsutil::own_program()?;
    let validation = plan(ws, &envs, &xtask, &kubectl, cluster, &args.kubernetes_version);
    if !args.exec.dry_run {
        // Rendered up front: an overlay kustomize cannot render is bad input (exit 2), not a failed task.
        for env in &envs {
            let (text, objects) = render::render(root, &sh, &kubectl, env)?;
            // The rollout strategy must fit what the overlay renders (a canary's components).
            crate::canary::plan(root, env, &objects).map_err(UsageError::new)?;
            render::write_rendered(root, env, &text)?;
            validation.rendered.lock().unwrap_or_else(|p| p.into_inner()).insert(env.clone());
        }
    }
    let venvs = Envs::new(root, validation.envs.clone());
    let prep = Prep { inner: Some(&venvs), validation: Some(&validation) };
    let review = |t: &Task, code: Option<i32>, output: &str| checks::review(root, t, code, output);
    let describe = |row: Row| {
        let findings = checks::parse(root, &row.finished.task, &row.finished.output()).map(|r| r.unwrap_or_default());
        Row { findings, ..row }
    };
    let stage = Stage {
        name: "manifests validate",
        review: Some(&review),
        describe: &describe,
        epilogue: &checks::print_findings,
    };
    runner::run(root, &stage, &validation.tasks, Some(&prep), &args.exec, false)
}
