//! `cargo xtask image sbom COMPONENT [--ref REF]`: the SBOM attached to a
//! component's pushed image, verified like deploy verifies it, summed up:
//! packages by type (from their package URLs: deb, pypi, …) and the five
//! largest (the packages owning the most files).

use crate::component::Workspace;
use crate::error::UsageError;
use crate::supply::session::{Session, Tools};
use crate::supply::statement::SPDX;
use crate::supply::verify;
use crate::supply::Verifier;
use anyhow::Result;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use xshell::Shell;

/// The packages of an SPDX document (the image itself, its root, is not one).
pub fn package_count(spdx_text: &str) -> usize {
    serde_json::from_str::<Value>(spdx_text).map(|d| packages(&d).len()).unwrap_or(0)
}

fn packages(doc: &Value) -> Vec<&Value> {
    // The document describes the image itself: not one of its packages.
    let described: Vec<&str> = doc["relationships"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["relationshipType"] == "DESCRIBES")
        .filter_map(|r| r["relatedSpdxElement"].as_str())
        .collect();
    let ours = |p: &&Value| purl(p).is_some() && !described.contains(&p["SPDXID"].as_str().unwrap_or_default());
    doc["packages"].as_array().map(|a| a.iter().filter(ours).collect()).unwrap_or_default()
}

fn purl(p: &Value) -> Option<&str> {
    p["externalRefs"].as_array()?.iter().find(|r| r["referenceType"] == "purl")?["referenceLocator"].as_str()
}

/// The summary lines of an SPDX document.
pub fn summary(doc: &Value) -> Vec<String> {
    let pkgs = packages(doc);
    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    for p in &pkgs {
        let kind = purl(p).and_then(|u| u.strip_prefix("pkg:")).and_then(|u| u.split('/').next()).unwrap_or("other");
        *by_type.entry(kind.to_string()).or_default() += 1;
    }
    // Files per package: its CONTAINS relationships.
    let mut files: BTreeMap<&str, usize> = BTreeMap::new();
    for r in doc["relationships"].as_array().into_iter().flatten() {
        if r["relationshipType"] == "CONTAINS" {
            if let Some(id) = r["spdxElementId"].as_str() {
                *files.entry(id).or_default() += 1;
            }
        }
    }
    let mut sized: Vec<(usize, String)> = pkgs
        .iter()
        .map(|p| {
            let n = files.get(p["SPDXID"].as_str().unwrap_or_default()).copied().unwrap_or(0);
            let kind = purl(p).and_then(|u| u.strip_prefix("pkg:")).and_then(|u| u.split('/').next()).unwrap_or("?");
            (n, format!("{} {} ({kind})", p["name"].as_str().unwrap_or("?"), p["versionInfo"].as_str().unwrap_or("?")))
        })
        .collect();
    sized.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let creators: Vec<&str> =
        doc["creationInfo"]["creators"].as_array().into_iter().flatten().filter_map(|c| c.as_str()).collect();
    let kinds: Vec<String> = by_type.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let mut out = vec![if kinds.is_empty() {
        "0 packages".to_string()
    } else {
        format!("{} packages: {}", pkgs.len(), kinds.join(", "))
    }];
    out.push("largest (files owned):".into());
    out.extend(sized.iter().take(5).map(|(n, name)| format!("  {n:>6}  {name}")));
    out.push(format!("made by {}", creators.join(", ")));
    out
}

/// The verified SBOM of `component`'s last push (or `reference`), summed up.
pub fn show(ws: &Workspace, component: &str, reference: Option<&str>) -> Result<i32> {
    let reference = match reference {
        Some(r) => r.to_string(),
        None => last_push(&ws.root, component)?,
    };
    let env = |k: &str| std::env::var(k).ok();
    let verifier = Verifier::decide(&env, crate::github::on_github())
        .ok_or_else(|| UsageError::new(crate::supply::NO_VERIFIER))?;
    let s = Session::new(Tools::find()?, &verify::logins(&[reference.as_str()], &env))?;
    let sh = Shell::new()?;
    sh.change_dir(&ws.root);
    let found = verify::attestations_of(&sh, &s, &verifier, &reference, "spdxjson")
        .map_err(|why| anyhow::anyhow!("{component}: {reference}: {why}"))?;
    let doc = found.iter().rev().find(|a| a.predicate_type == SPDX).map(|a| a.predicate.clone()).ok_or_else(|| {
        anyhow::anyhow!("{reference} has no SBOM attached: push it again with `cargo xtask image push {component}`")
    })?;
    println!("SBOM of {component}: {reference} (signature verified)");
    for line in summary(&doc) {
        println!("{line}");
    }
    Ok(0)
}

/// `repository@digest` of the component's last push in the images report.
fn last_push(root: &Path, component: &str) -> Result<String> {
    let report = crate::images::report::read(root).map_err(|why| {
        UsageError::new(format!("cannot read {} ({why}): push the images first", crate::images::report::PATH))
    })?;
    let image = report.components.get(component).ok_or_else(|| {
        UsageError::new(format!(
            "the images report has no image of `{component}`: push it (cargo xtask image build {component} --push), or pass --ref"
        ))
    })?;
    let p = image.pushed.last().ok_or_else(|| {
        UsageError::new(format!(
            "{component}'s image was built but never pushed: push it (cargo xtask image push {component})"
        ))
    })?;
    Ok(format!("{}@{}", p.repository, p.digest))
}

#[cfg(test)]
#[path = "sbom_tests.rs"]
mod tests;
