//! The deploy's steps that talk to git, the images report and the cluster:
//! the facts the guards judge, validation, release records and
//! pruning. The decisions they feed are pure (`guards`, `lease`, `release`).

use crate::component::Workspace;
use crate::error::UsageError;
use crate::kube::cluster::Session;
use crate::kube::lease;
use crate::kube::Object;
use crate::manifests::pins::{self as update, Built, REPORT};
use crate::manifests::render::{self as render, BASE};
use crate::manifests::{findings as manifests_findings, validate as manifests_validate};
use crate::release::guards::Facts;
use crate::release::records::{self, Release};
use anyhow::{Context, Result};
use std::path::Path;
use xshell::{cmd, Shell};

/// Kinds a render may hold that prune and undeploy look at (with our labels only).
pub const PRUNABLE: &str = "deployments,services,cronjobs,configmaps,secrets,persistentvolumeclaims,serviceaccounts";

/// Write the run's trace context as `xtask.dev/traceparent` on what was
/// applied (`file`), or with no file on the namespace's pods: a pod leads to
/// its release and pipeline run. kubectl annotate's own field manager, so the
/// next apply neither owns nor removes it and a dry run's diff stays clean.
/// Telemetry never fails a deploy: a refusal is a warning.
pub fn annotate_trace(s: &Session, file: Option<&Path>) {
    let Some(tp) = crate::telemetry::traceparent() else { return };
    let value = format!("{}={tp}", crate::telemetry::TRACE_ANNOTATION);
    let ns = s.namespace.clone();
    let target = match file {
        Some(f) => vec!["-f".to_string(), f.display().to_string()],
        None => vec!["pods".into(), "--all".into(), "-n".into(), ns],
    };
    let mut args = vec!["annotate", "--overwrite"];
    args.extend(target.iter().map(String::as_str));
    args.push(&value);
    if let Err(e) = s.run(&args, None) {
        eprintln!("warning: cannot annotate with the trace context ({e:#}); the deploy is unaffected");
    }
}

/// The image stage's report, which says what was built and pushed.
pub fn images_report(root: &Path) -> Result<Vec<Built>> {
    let text = std::fs::read_to_string(root.join(REPORT)).map_err(|_| {
        UsageError::new(format!(
            "no images report ({REPORT}): build and push the images first (cargo xtask image build --push), then pin them (cargo xtask manifests update ENV)"
        ))
    })?;
    update::read_report(&text).map_err(|why| {
        UsageError::new(format!(
            "the images report {REPORT} is malformed ({why}): write it afresh (cargo xtask image build --push)"
        ))
    })
}

/// What the guards judge: the ref, the release at HEAD, the images' version, approvals.
pub fn facts(root: &Path, built: &[Built], confirmed: bool) -> Result<Facts> {
    let sh = Shell::new()?;
    sh.change_dir(root);
    let git = |args: &[&str]| cmd!(sh, "git {args...}").quiet().ignore_stderr().read().unwrap_or_default();
    let github_ref = std::env::var("GITHUB_REF").ok().filter(|r| !r.is_empty());
    let branch = match github_ref.as_deref().and_then(|r| r.strip_prefix("refs/heads/")) {
        Some(b) => Some(b.to_string()),
        None => Some(git(&["symbolic-ref", "--short", "-q", "HEAD"])).filter(|b| !b.is_empty()),
    };
    let release_tags: Vec<String> = git(&["tag", "--points-at", "HEAD"]).lines().map(String::from).collect();
    let commit = git(&["rev-parse", "HEAD"]);
    let github_environment =
        crate::github::on_github().then(|| std::env::var("XTASK_GITHUB_ENVIRONMENT").ok()).flatten();
    Ok(Facts {
        branch,
        release_tags,
        images_version: built.first().and_then(|b| b.version.clone()),
        confirmed,
        github_environment,
        commit,
    })
}

/// Our rules and the composition over the rendered objects; findings stop the deploy.
pub fn validate(ws: &Workspace, env: &str, objects: &[Object]) -> Result<()> {
    let undeployed = render::undeployed(&ws.root, &render::deployed(ws))?;
    let sources = manifests_validate::sources(ws, env)?;
    let base = render::read(&ws.root, BASE)?;
    let found = manifests_findings::rules(&sources, env, objects, &undeployed, &base);
    if found.is_empty() {
        return Ok(());
    }
    for f in &found {
        let at = f.line.map_or_else(|| f.file.clone(), |l| format!("{}:{l}", f.file));
        eprintln!("{at}: {} {}", f.code, f.message);
    }
    anyhow::bail!(
        "{env} does not pass validation ({} finding(s) above): fix the manifests, nothing was applied",
        found.len()
    )
}

/// The images a render runs: (component, reference), by workload.
pub fn images_of(objects: &[Object]) -> Vec<(String, String)> {
    let expected = crate::kube::wait::expected(objects);
    let mut out = Vec::new();
    for o in objects {
        let Some(images) = expected.get(&(o.kind.clone(), o.name.clone())) else { continue };
        let component = o.value["metadata"]["labels"]["app.kubernetes.io/name"].as_str().unwrap_or(&o.name);
        out.extend(images.iter().map(|i| (component.to_string(), i.clone())));
    }
    out
}

/// The names our images have in the components' own manifests (before an
/// overlay pins them): an image so named is ours even when no report knows it.
pub fn our_image_names(ws: &Workspace) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for c in ws.components.iter().filter(|c| c.dockerfile.is_some()) {
        out.extend(render::component_image(&ws.root, c)?);
    }
    Ok(out)
}

/// The render's inputs (`deploy/`, the components' `k8s/`) that differ from
/// HEAD: what a deploy applies that git does not hold.
pub fn uncommitted(root: &Path, env: &str) -> Vec<String> {
    let sh = match Shell::new() {
        Ok(sh) => sh,
        Err(_) => return Vec::new(),
    };
    sh.change_dir(root);
    let specs = ["deploy", ":(glob)components/*/k8s/**"];
    let out = cmd!(sh, "git status --porcelain --untracked-files=all -- {specs...}").quiet().ignore_stderr().read();
    let mut files: Vec<String> =
        out.unwrap_or_default().lines().filter(|l| l.len() > 3).map(|l| l[3..].trim_matches('"').to_string()).collect();
    // This workspace's pins (`manifests update`) are outside git by design, and differ from it.
    if render::pinned(root, env) {
        files.push(render::pinned_file(env));
    }
    files
}

/// What a deploy would run after the dry run, as commands.
pub fn planned_commands(s: &Session, file: &Path) -> Vec<String> {
    let k = s.kubectl.display();
    let ns = &s.namespace;
    vec![
        format!("{k} create -f - -n {ns}   # lease {} (the environment's lock)", lease::NAME),
        format!("{k} apply --server-side --force-conflicts --field-manager=xtask -f -   # release record, pending"),
        format!("{k} apply --server-side --force-conflicts --field-manager=xtask -f {}", file.display()),
        format!("{k} get deployments,replicasets,cronjobs,pods,events -n {ns} -o json   # until rolled out, failed or the deadline"),
        format!("{k} apply --server-side --force-conflicts --field-manager=xtask -f -   # release record, outcome"),
        format!("{k} delete KIND NAME -n {ns}   # objects of this environment the render no longer has"),
    ]
}

/// The Namespace object first, so the lock and the release can live in it.
pub fn ensure_namespace(s: &Session, objects: &[Object]) -> Result<()> {
    if let Some(ns) = objects.iter().find(|o| o.kind == "Namespace") {
        s.apply(None, Some(&ns.value.to_string()), false).context("cannot create the environment's namespace")?;
    }
    Ok(())
}

/// Every release recorded for `env`, unreadable ones skipped with a warning.
pub fn history(s: &Session, env: &str) -> Result<Vec<Release>> {
    let selector = format!("{}=true,{}={env}", records::LABEL_RELEASE, records::LABEL_ENV);
    let mut out = Vec::new();
    for secret in s.get("secrets", Some(&selector))? {
        match records::from_secret(&secret) {
            Ok(r) => out.push(r),
            Err(e) => eprintln!("warning: {e:#}"),
        }
    }
    out.sort_by_key(|r| r.revision);
    Ok(out)
}

pub fn record(s: &Session, r: &Release, manifests: &str) -> Result<()> {
    let secret = records::to_secret(r, &s.namespace, manifests)?;
    s.apply(None, Some(&secret.to_string()), false).map(|_| ()).context("cannot record the release")
}

/// Rewrite the records of `revs` as undone by the rollback `by` (their manifests kept).
pub fn mark_undone(s: &Session, history: &[Release], revs: &[u64], by: u64) -> Result<()> {
    for r in history.iter().filter(|r| revs.contains(&r.revision)) {
        let Some(secret) = s.get_one("secret", &records::secret_name(r.revision))? else { continue };
        let text = records::manifests_of(&secret)?;
        record(s, &records::mark_undone(r, by), &text)?;
    }
    Ok(())
}

/// Keep the newest [`records::KEEP`] releases.
pub fn prune_history(s: &Session, env: &str) -> Result<()> {
    for rev in records::to_prune(&history(s, env)?) {
        s.delete("secret", &records::secret_name(rev))?;
    }
    Ok(())
}

/// The label selector of what this environment's releases applied (not the records).
pub fn applied_selector(env: &str) -> String {
    format!(
        "{}={},{}={env},!{}",
        records::MANAGED_BY.0,
        records::MANAGED_BY.1,
        records::LABEL_ENV,
        records::LABEL_RELEASE
    )
}

/// Delete this environment's objects that the render no longer has.
pub fn prune(s: &Session, env: &str, objects: &[Object]) -> Result<()> {
    for item in s.get(PRUNABLE, Some(&applied_selector(env)))? {
        let (kind, name) =
            (item["kind"].as_str().unwrap_or_default(), item["metadata"]["name"].as_str().unwrap_or_default());
        if !objects.iter().any(|o| o.kind == kind && o.name == name) {
            println!("  prune    {kind}/{name} (no longer rendered)");
            s.delete(kind, name)?;
        }
    }
    Ok(())
}
