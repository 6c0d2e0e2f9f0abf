//! `cargo xtask preview up`: never for a fork's pull request (one line);
//! the affected images built with `--build`; the images chosen (this
//! commit's builds, else main's last verified release of development);
//! room made (the oldest idle preview removed, or one line naming `preview
//! list` and `preview down`); the kustomization generated; `deploy pr-<N>`
//! as a child (verify, smoke checks, release record); what a reviewer can
//! reach printed, and on GitHub put in the step summary and the pull
//! request's one comment. A failed deploy leaves the environment for
//! debugging until the next push or the close.

use super::{forget, github_pull_request, pr_of};
use crate::cli::PreviewUpArgs;
use crate::component::Workspace;
use crate::error::UsageError;
use crate::fsutil::{own_program, write_atomic};
use crate::github;
use crate::kube::cluster::Session;
use crate::kube::wait::parse_duration;
use crate::kube::{self, Object};
use crate::manifests::pins::{over_committed, read_report, REPORT};
use crate::manifests::preview::{self, BASE_ENV};
use crate::manifests::render;
use crate::release::deploy::namespace_of;
use crate::release::guards;
use crate::release::history;
use crate::release::preview as previews;
use crate::release::records;
use anyhow::Result;
use std::path::Path;
use xshell::{cmd, Shell};

pub fn run(ws: &Workspace, args: &PreviewUpArgs) -> Result<i32> {
    let root = &ws.root;
    let gh = github_pull_request()?;
    if let Some((n, true)) = gh {
        let line = format!("preview pr-{n}: not deployed: the pull request comes from a fork, whose code must not reach the cluster's credentials");
        println!("{line}");
        github::append_summary(&format!("{line}\n"))?;
        return Ok(0);
    }
    let pr = pr_of(root, args.preview.pr, gh)?;
    let env = preview::env_name(pr);
    let timeout = parse_duration(&args.preview.timeout).map_err(UsageError::new)?;
    let max = guards::read_previews(root)?;
    let exe = own_program()?;
    if args.build {
        println!("preview {env}: build and push the affected components' images");
        let code = child(&exe, root, &["image", "build", "--push", "--affected"])?;
        if code != 0 {
            return Ok(code);
        }
    }
    let (sh, kubectl) = (Shell::new()?, kube::kubectl()?);
    let mut s = previews::connect(&args.preview.cluster, pr)?;
    let main = main_release(root, &sh, &kubectl, &mut s);
    let report = std::fs::read_to_string(root.join(REPORT)).ok().and_then(|t| read_report(&t).ok()).unwrap_or_default();
    let chosen =
        preview::choose(&render::own_images(ws)?, &report, &head(root), main.as_ref().map(|(r, i)| (*r, i.as_slice())));
    for c in &chosen {
        let image = c.pin.as_ref().map(|p| {
            let at = p.digest.as_deref().map(|d| format!("@{d}")).unwrap_or_default();
            format!("{}:{}{at}", p.new_name.as_deref().unwrap_or(&p.name), p.new_tag)
        });
        println!("  {:<8} {} ({})", c.component, image.as_deref().unwrap_or("-"), c.origin);
    }
    let running = previews::list(&mut s)?;
    s.namespace = preview::namespace(pr);
    for other in previews::make_room(&running, max, pr).map_err(UsageError::new)? {
        println!("preview {env}: removing preview pr-{other} to make room (the oldest idle; previews = {max})");
        previews::down(&s, other, timeout)?;
        forget(root, other);
    }
    let committed = render::read(root, &render::overlay_file(BASE_ENV))?;
    let pins: Vec<_> = chosen.iter().filter_map(|c| c.pin.clone()).collect();
    for (name, text) in preview::files(pr, &over_committed(&committed, &pins))? {
        write_atomic(&root.join(preview::dir(pr)).join(name), text.as_bytes())?;
    }
    println!("preview {env}: deploy into namespace {}", s.namespace);
    let mut deploy = vec!["deploy".to_string(), env.clone()];
    if let Some(k) = &args.preview.cluster.kubeconfig {
        deploy.extend(["--kubeconfig".into(), k.display().to_string()]);
    }
    if let Some(c) = &args.preview.cluster.context {
        deploy.extend(["--context".into(), c.clone()]);
    }
    let code = child(&exe, root, &deploy.iter().map(String::as_str).collect::<Vec<_>>())?;
    let (_, objects) = render::render(root, &sh, &kubectl, &env)?;
    let text = reach(&env, &objects, code);
    print!("{text}");
    if gh.is_some_and(|(n, _)| n == pr) {
        github::append_summary(&text)?;
        if let Err(e) = github::comment::upsert(pr, &text, &|k| std::env::var(k).ok().filter(|v| !v.is_empty())) {
            eprintln!("warning: {e}");
        }
    }
    Ok(code)
}

/// This binary with `args`, output as it comes; its exit code.
fn child(exe: &Path, root: &Path, args: &[&str]) -> Result<i32> {
    let sh = Shell::new()?;
    let mut c: std::process::Command = cmd!(sh, "{exe} --root {root} {args...}").into();
    Ok(c.status()?.code().unwrap_or(1))
}

fn head(root: &Path) -> String {
    let Ok(sh) = Shell::new() else { return String::new() };
    sh.change_dir(root);
    cmd!(sh, "git rev-parse HEAD").quiet().ignore_stderr().read().unwrap_or_default()
}

/// Main's last verified release of development: its revision and images;
/// None (said) when it cannot be read or none is verified.
fn main_release(root: &Path, sh: &Shell, kubectl: &Path, s: &mut Session) -> Option<(u64, Vec<(String, String)>)> {
    let found = render::render(root, sh, kubectl, BASE_ENV).and_then(|(_, objects)| {
        s.namespace = namespace_of(&objects).unwrap_or_default();
        history::releases(s, BASE_ENV)
    });
    match found {
        Ok(history) => match records::current(&history) {
            Some(r) => {
                Some((r.revision, r.images.iter().map(|i| (i.component.clone(), i.reference.clone())).collect()))
            }
            None => {
                println!("note: {BASE_ENV} has no verified release on the cluster: images not built here run as its overlay names them");
                None
            }
        },
        Err(e) => {
            println!(
                "note: cannot read {BASE_ENV}'s releases ({e:#}): images not built here run as its overlay names them"
            );
            None
        }
    }
}

/// What a reviewer can reach: the namespace, each Service and its
/// `kubectl port-forward` line; how the deploy ended (markdown, also readable as text).
pub fn reach(env: &str, objects: &[Object], code: i32) -> String {
    let ns = namespace_of(objects).unwrap_or_default();
    let mut out = match code {
        0 => format!("**Preview `{env}`** is up in namespace `{ns}`: verified and smoke-checked.\n\n"),
        2 => format!("**Preview `{env}` was not deployed**: the job's log says why (nothing was applied to `{ns}`).\n\n"),
        _ => format!("**Preview `{env}` failed** in namespace `{ns}` (the job's log has the container logs); it stays for debugging until the next push or the pull request's close.\n\n"),
    };
    for o in objects.iter().filter(|o| o.kind == "Service") {
        let port = o.value["spec"]["ports"][0]["port"].as_u64().unwrap_or(80);
        out += &format!("- Service `{}`: `kubectl port-forward -n {ns} service/{} 8080:{port}`\n", o.name, o.name);
    }
    out
}
