//! Deploy's part, before anything is applied: for every image of ours the
//! render runs, resolved to its digest, cosign checks the signature, the
//! signed provenance's source repository and commit (production: the
//! release's commit; elsewhere an ancestor of the deployed commit), and that
//! a signed SBOM is attached. Every image is checked; each failure is one
//! line (which image and digest, what failed, the fix); one failure refuses
//! the deploy. `verdict` is pure, the rest runs cosign.

use crate::error::UsageError;
use crate::images::registry::{targets, Target};
use crate::manifests::rules::ImageRef;
use crate::release::guards::Guard;
use crate::release::provenance::{Applied, Origin};
use crate::services::Dirs;
use crate::supply::session::{Session, Tools};
use crate::supply::statement::{self, Attestation, SLSA_V1, SPDX};
use crate::supply::verify_cache::VerifyCache;
use crate::supply::{Verifier, NO_VERIFIER};
use anyhow::Result;
use std::path::Path;
use std::time::Instant;
use xshell::{cmd, Shell};

/// Which provenance commits an environment takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accept {
    /// Exactly this commit (production: the release tag's).
    Exactly(String),
    /// This commit or an ancestor of it (staging, development).
    AncestorOf(String),
}

impl Accept {
    pub fn for_guard(guard: Guard, head: &str) -> Accept {
        match guard {
            Guard::Release => Accept::Exactly(head.to_string()),
            _ => Accept::AncestorOf(head.to_string()),
        }
    }
}

/// One image's verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub component: String,
    /// `name@sha256:…`, what was checked.
    pub reference: String,
    /// Ok(the provenance's commit) or Err(what failed and the fix).
    pub result: Result<String, String>,
    /// cosign's checks were this machine's earlier ones: the same digest with the same attachments.
    pub as_before: bool,
}

impl Outcome {
    pub fn line(&self) -> String {
        match &self.result {
            Ok(commit) => format!(
                "{}: verified: signature, provenance (commit {}), sbom ({})",
                self.component,
                &commit[..commit.len().min(12)],
                self.reference
            ),
            Err(why) => format!("{}: {}: {why}", self.component, self.reference),
        }
    }
}

/// A short reason from cosign's own words.
pub fn classify(why: &str, kind: &str) -> String {
    let w = why.to_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| w.contains(n));
    if has(&["connection refused", "no such host", "i/o timeout", "dial tcp", "connection reset"]) {
        format!("registry unreachable ({why}): start it (cargo xtask services up registry) or check the image's host")
    } else if has(&["unauthorized", "authentication required", "denied"]) {
        "the registry refused the login: check XTASK_REGISTRY_USERNAME and its password".into()
    } else if has(&["failed to verify signature", "do not match threshold", "invalid signature", "verification failed"])
    {
        format!("{kind} does not verify with this key: sign with the key deploy trusts, or point XTASK_SIGNING_PUBLIC_KEY/COSIGN_PUBLIC_KEY at the signer's public key")
    } else if has(&["no signatures found", "no matching signatures"]) && kind == "signature" {
        "not signed: push it through the image stage (cargo xtask image push), which signs it".into()
    } else if has(&["no matching attestations", "none of the attestations matched", "no signatures found"]) {
        format!("no signed {kind} attached: push it again through the image stage (cargo xtask image push)")
    } else if has(&["manifest unknown", "name unknown", "not found"]) {
        format!("not in the registry ({why}): push it, or pin an image that exists")
    } else {
        format!("{kind} cannot be verified ({why}): push and sign it again (cargo xtask image push)")
    }
}

/// Verified attestations of `reference` of cosign's `kind`; Err: one reason.
pub fn attestations_of(
    sh: &Shell,
    s: &Session,
    v: &Verifier,
    reference: &str,
    kind: &str,
) -> Result<Vec<Attestation>, String> {
    let mut args = vec!["verify-attestation".to_string(), "--type".into(), kind.into()];
    args.extend(s.verify_flags(v));
    args.push(reference.into());
    let what = if kind == "spdxjson" { "SBOM" } else { "provenance" };
    let out = s.cmd(sh, &s.tools.cosign, &args).output().map_err(|e| format!("cannot run cosign: {e}"))?;
    if !out.status.success() {
        return Err(classify(&s.why(&out), what));
    }
    statement::attestations(&String::from_utf8_lossy(&out.stdout))
        .map_err(|e| format!("corrupt {what} attestation ({e}): push and sign it again (cargo xtask image push)"))
}

/// `name@sha256:…` of `reference` (a tag is resolved in the registry).
fn resolve(sh: &Shell, s: &Session, reference: &str) -> Result<String, String> {
    let r = ImageRef::parse(reference);
    if let Some(d) = &r.digest {
        return Ok(format!("{}@{d}", r.name));
    }
    let args = vec!["triangulate".to_string(), "--type".into(), "digest".into(), reference.into()];
    let out = s.cmd(sh, &s.tools.cosign, &args).output().map_err(|e| format!("cannot run cosign: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || !text.contains("@sha256:") {
        return Err(classify(&s.why(&out), "image"));
    }
    Ok(text)
}

/// The verdict on one image's verified provenances: the first that names
/// `repository` and an accepted commit, else why none does.
pub fn verdict(
    provenances: &[Attestation],
    digest: &str,
    repository: &str,
    accepted: &dyn Fn(&str) -> bool,
    accept: &Accept,
) -> Result<String, String> {
    let mut seen = Vec::new();
    for a in provenances.iter().filter(|a| a.predicate_type == SLSA_V1 && a.subjects.iter().any(|d| d == digest)) {
        let Some((repo, commit)) = statement::source_of(&a.predicate) else { continue };
        if repo == repository && accepted(&commit) {
            return Ok(commit);
        }
        seen.push(format!("{repo} at {}", &commit[..commit.len().min(12)]));
    }
    if seen.is_empty() {
        return Err("no signed provenance names its source: push it again through the image stage".into());
    }
    let wanted = match accept {
        Accept::Exactly(c) => format!("{repository} at the release's commit {}", &c[..c.len().min(12)]),
        Accept::AncestorOf(c) => format!("{repository} at an ancestor of {}", &c[..c.len().min(12)]),
    };
    Err(format!(
        "provenance names {}, not {wanted}: deploy the commit it was built from, or build and push this one",
        seen.join(", ")
    ))
}

/// The attachments `cosign tree` lists for `reference` (each pinned by its
/// digest); None when it cannot list them (the checks then say why).
fn attachments(sh: &Shell, s: &Session, reference: &str) -> Option<String> {
    let out = s.cmd(sh, &s.tools.cosign, &["tree".to_string(), reference.to_string()]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success() && text.contains("sha256:")).then(|| listed(&text))
}

/// `cosign tree`'s lines as a set: it lists the same attachments in another
/// order from one run to the next.
pub fn listed(tree: &str) -> String {
    let mut lines: Vec<&str> = tree.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines.sort_unstable();
    lines.join("\n")
}

/// What verifying shares: the session, the verifier, the source repository,
/// which commits are taken, the checkout's git, and the earlier verifications.
struct Checks<'a> {
    sh: &'a Shell,
    s: &'a Session,
    v: &'a Verifier,
    repository: &'a str,
    accept: &'a Accept,
    git: &'a Shell,
    earlier: Option<&'a VerifyCache>,
}

/// One image, all three checks (cosign's taken from an earlier run when the
/// image's attachments are the same), the provenance's verdict always run.
fn one(c: &Checks, image: (&str, &str)) -> Outcome {
    let (sh, s, v) = (c.sh, c.s, c.v);
    let component = image.0.to_string();
    let reference = match resolve(sh, s, image.1) {
        Ok(r) => r,
        Err(why) => return Outcome { component, reference: image.1.to_string(), result: Err(why), as_before: false },
    };
    let digest = reference.rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_default();
    let accepted = |commit: &str| match c.accept {
        Accept::Exactly(want) => commit == want,
        Accept::AncestorOf(head) => cmd!(c.git, "git merge-base --is-ancestor {commit} {head}")
            .quiet()
            .ignore_stderr()
            .ignore_stdout()
            .run()
            .is_ok(),
    };
    let key = c.earlier.and_then(|e| Some((e, e.key(&reference, &attachments(sh, s, &reference)?))));
    let earlier = || key.as_ref().and_then(|(e, k)| e.get(k));
    let mut kept = earlier();
    // Not verified before: hold the entry, unless a run that held it meanwhile kept it.
    let _held = match kept {
        Some(_) => None,
        None => {
            let held = key.as_ref().and_then(|(e, k)| e.hold(k, &reference));
            kept = earlier();
            held
        }
    };
    if let Some(provenances) = kept {
        let result = verdict(&provenances, &digest, c.repository, &accepted, c.accept);
        return Outcome { component, reference, result, as_before: true };
    }
    let result = (|| {
        let mut args = vec!["verify".to_string()];
        args.extend(s.verify_flags(v));
        args.push(reference.clone());
        let out = s.cmd(sh, &s.tools.cosign, &args).output().map_err(|e| format!("cannot run cosign: {e}"))?;
        if !out.status.success() {
            return Err(classify(&s.why(&out), "signature"));
        }
        let provenances = attestations_of(sh, s, v, &reference, "slsaprovenance1")?;
        let commit = verdict(&provenances, &digest, c.repository, &accepted, c.accept)?;
        let sboms = attestations_of(sh, s, v, &reference, "spdxjson")?;
        if !sboms.iter().any(|a| a.predicate_type == SPDX && a.subjects.contains(&digest)) {
            return Err(
                "no signed SBOM attached: push it again through the image stage (cargo xtask image push)".into()
            );
        }
        if let Some((e, k)) = &key {
            e.put(k, &provenances);
        }
        Ok(commit)
    })();
    Outcome { component, reference, result, as_before: false }
}

/// Deploy's check of `applied` (images of ours; someone else's are not
/// ours to sign) for an environment with `guard` deploying `head`: each
/// outcome's line printed, and bad input naming every failure when one fails.
pub fn before_apply(root: &Path, env: &str, guard: Guard, head: &str, applied: &[Applied]) -> Result<Vec<Outcome>> {
    let ours: Vec<&Applied> = applied.iter().filter(|a| a.origin != Origin::Foreign).collect();
    if ours.is_empty() {
        return Ok(Vec::new());
    }
    let envf = |k: &str| std::env::var(k).ok();
    let verifier = Verifier::decide(&envf, crate::github::on_github())
        .ok_or_else(|| UsageError::new(format!("deploy {env}: {NO_VERIFIER}")))?;
    let images: Vec<(&str, &str)> =
        ours.iter().map(|a| (a.image.component.as_str(), a.image.reference.as_str())).collect();
    let t0 = Instant::now();
    let outcomes = check_all(root, &verifier, guard, head, &images)?;
    let failed: Vec<String> = outcomes.iter().filter(|o| o.result.is_err()).map(Outcome::line).collect();
    for o in outcomes.iter().filter(|o| o.result.is_ok()) {
        println!("{}", o.line());
    }
    if !failed.is_empty() {
        return Err(UsageError::new(format!(
            "deploy {env}: {} of {} images failed verification, nothing applied:\n{}",
            failed.len(),
            outcomes.len(),
            failed.join("\n")
        )));
    }
    let before = outcomes.iter().filter(|o| o.as_before).count();
    let before = match before {
        0 => String::new(),
        n => format!(" ({n} as verified before: the same digest, signatures and attestations)"),
    };
    println!("deploy {env}: {} images verified in {:.1}s{before}", outcomes.len(), t0.elapsed().as_secs_f64());
    Ok(outcomes)
}

/// `status`'s view of the running `images` (component, reference), judged
/// against the running release's `commit` as deploy would: one outcome each,
/// or Err(why nothing can be checked). Never fails the status.
pub fn running(root: &Path, guard: Guard, commit: &str, images: &[(String, String)]) -> Result<Vec<Outcome>, String> {
    let envf = |k: &str| std::env::var(k).ok();
    let verifier = Verifier::decide(&envf, crate::github::on_github()).ok_or(NO_VERIFIER)?;
    let images: Vec<(&str, &str)> = images.iter().map(|(c, r)| (c.as_str(), r.as_str())).collect();
    check_all(root, &verifier, guard, commit, &images).map_err(|e| format!("{e:#}"))
}

/// Every image `(component, reference)` checked against `commit` by `guard`'s rule.
fn check_all(root: &Path, v: &Verifier, guard: Guard, commit: &str, images: &[(&str, &str)]) -> Result<Vec<Outcome>> {
    let envf = |k: &str| std::env::var(k).ok();
    let refs: Vec<&str> = images.iter().map(|(_, r)| *r).collect();
    let s = Session::new(Tools::find()?, &logins(&refs, &envf))?;
    let (sh, git) = (Shell::new()?, Shell::new()?);
    git.change_dir(root);
    let (repository, accept) = (source_repository(root), Accept::for_guard(guard, commit));
    let earlier = VerifyCache::new(&Dirs::here(), &s.tools.cosign, v, &envf);
    let c =
        Checks { sh: &sh, s: &s, v, repository: &repository, accept: &accept, git: &git, earlier: earlier.as_ref() };
    Ok(images.iter().map(|image| one(&c, *image)).collect())
}

/// The logins for reading `references`: the registries the environment
/// names (`images::registry::targets`), and the host of any other reference
/// with `XTASK_REGISTRY_USERNAME` and its password (the local registry's).
pub fn logins(references: &[&str], env: &dyn Fn(&str) -> Option<String>) -> Vec<Target> {
    let mut out = targets(None, env).unwrap_or_default();
    for r in references {
        let host = r.split('/').next().unwrap_or_default();
        if host.is_empty() || out.iter().any(|t| t.host == host) {
            continue;
        }
        if let Ok(t) = targets(Some(host), env) {
            out.extend(t.into_iter().filter(|t| t.credentials.is_some()));
        }
    }
    out
}

/// The repository provenance names: GitHub's, else the checkout's web
/// remote, else its git folder (shared by every worktree of it).
pub fn source_repository(root: &Path) -> String {
    if let Some(r) = std::env::var("GITHUB_REPOSITORY").ok().filter(|r| !r.is_empty()) {
        let server = std::env::var("GITHUB_SERVER_URL").ok().filter(|s| !s.is_empty());
        return format!("{}/{r}", server.as_deref().unwrap_or("https://github.com"));
    }
    let sh = match Shell::new() {
        Ok(sh) => sh,
        Err(_) => return format!("file://{}", root.display()),
    };
    sh.change_dir(root);
    let remote = cmd!(sh, "git remote get-url origin").quiet().ignore_stderr().read().ok();
    if let Some(url) = remote.map(|u| u.trim().to_string()).filter(|u| u.contains("://") && !u.contains('@')) {
        return url;
    }
    let common = cmd!(sh, "git rev-parse --path-format=absolute --git-common-dir").quiet().ignore_stderr().read();
    format!("file://{}", common.map(|c| c.trim().to_string()).unwrap_or_else(|_| root.display().to_string()))
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
