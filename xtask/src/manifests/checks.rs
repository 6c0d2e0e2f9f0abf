//! Smoke checks: Jobs a component ships beside its manifests, annotated
//! `xtask.dev/verify-check: "true"` (in the spirit of Helm's test hooks). A
//! release does not apply them; `verify` runs them after the rollout with the
//! render's images (`kube::smoke`). This module splits a render into what is
//! applied and the checks (pure).

use crate::kube::smoke::Check;
use crate::kube::Object;
use crate::manifests::yaml;
use std::time::Duration;

const ANNOTATION: &str = "xtask.dev/verify-check";
/// A check without `activeDeadlineSeconds` gets this much.
const DEFAULT_DEADLINE: Duration = Duration::from_secs(120);

/// A render split: the text and objects a release applies, and the checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub text: String,
    pub objects: Vec<Object>,
    pub checks: Vec<Check>,
}

/// Whether an object is a verify check (a Job with the annotation `"true"`).
fn is_check(o: &Object) -> bool {
    o.kind == "Job" && o.value["metadata"]["annotations"][ANNOTATION].as_str() == Some("true")
}

/// Split a rendered multi-document text; the applied text keeps every other
/// document as it was rendered (so it is the release's record, byte for byte
/// the render when there are no checks).
pub fn split(text: &str) -> Result<Split, yaml::Error> {
    let objects = yaml::objects(text)?;
    let checks: Vec<Check> = objects.iter().filter(|o| is_check(o)).map(check_of).collect();
    if checks.is_empty() {
        return Ok(Split { text: text.to_string(), objects, checks });
    }
    let mut kept = Vec::new();
    for (_, doc) in yaml::documents(text) {
        let drop = yaml::objects(&doc).map(|os| os.len() == 1 && is_check(&os[0])).unwrap_or(false);
        if !drop && !doc.trim().is_empty() {
            kept.push(doc);
        }
    }
    let text = kept.join("---\n");
    let objects = objects.into_iter().filter(|o| !is_check(o)).collect();
    Ok(Split { text, objects, checks })
}

fn check_of(o: &Object) -> Check {
    let component = o.value["metadata"]["labels"]["app.kubernetes.io/name"].as_str().unwrap_or(&o.name).to_string();
    let deadline = o.value["spec"]["activeDeadlineSeconds"].as_u64().map_or(DEFAULT_DEADLINE, Duration::from_secs);
    Check { name: o.name.clone(), component, job: o.value.clone(), deadline }
}

#[cfg(test)]
#[path = "checks_tests.rs"]
mod tests;
