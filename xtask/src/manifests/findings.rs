//! The manifests checks' findings: what kubernetes-validate, the server-side
//! dry run and our rules say about an environment's objects, each pointed at
//! the file a reader edits to fix it (the component's manifest, the overlay's
//! `images:` entry), else at the rendered file's line.

use crate::findings::{Finding, Severity};
use crate::kube::Object;
use crate::manifests::render::{self, Deployed, BASE};
use crate::manifests::rules::{self, ImageRef, Violation};
use crate::manifests::yaml;
use anyhow::Result;
use serde::Deserialize;

/// One YAML document of a source file, with the object it holds.
struct Doc {
    file: String,
    start: u32,
    kind: String,
    name: String,
    text: String,
}

/// The files an environment is made of, to point findings at.
pub struct Sources {
    docs: Vec<Doc>,
    overlay: String,
    overlay_text: String,
    rendered: String,
    /// Our images a template leaves unpinned: `manifests update` pins them
    /// before a deploy (which checks them pinned), so the image rules pass them.
    later: Vec<String>,
}

impl Sources {
    /// `files` (path, text): the components' manifests first, then `deploy/`;
    /// the first document of an object is where it is defined.
    pub fn new(files: &[(String, String)], env: &str) -> Sources {
        let mut docs = Vec::new();
        for (file, text) in files {
            for (start, doc) in yaml::documents(text) {
                let Ok(o) = yaml::objects(&doc) else { continue };
                for o in o {
                    docs.push(Doc { file: file.clone(), start, kind: o.kind, name: o.name, text: doc.clone() });
                }
            }
        }
        // An image is pinned in this workspace's pins when they exist, else in the committed overlay.
        let pinned = render::pinned_file(env);
        let overlay = if files.iter().any(|f| f.0 == pinned) { pinned } else { render::overlay_file(env) };
        let overlay_text = files.iter().find(|f| f.0 == overlay).map(|f| f.1.clone()).unwrap_or_default();
        Sources { docs, overlay, overlay_text, rendered: render::rendered_file(env), later: Vec::new() }
    }

    /// Check a template: the committed overlay, before `manifests update`
    /// pinned `images` (by name) in this workspace.
    pub fn pinned_later(self, images: Vec<String>) -> Sources {
        Sources { later: images, ..self }
    }

    /// Where to fix `kind/name` (its `container`, its `image`): the overlay's
    /// `images:` entry for an image it pins, the container's line in the
    /// object's source, the object's `kind:` line, else the rendered file.
    fn locate(
        &self,
        o: Option<&Object>,
        kind: &str,
        name: &str,
        container: Option<&str>,
        image: Option<&str>,
    ) -> (String, Option<u32>) {
        if let Some(image) = image {
            let wanted = ImageRef::parse(image).name;
            let lines: Vec<&str> = self.overlay_text.lines().collect();
            let hit = lines.iter().position(|l| {
                let l = l.trim_start().trim_start_matches("- ");
                ["name:", "newName:"].iter().any(|k| {
                    l.strip_prefix(k)
                        .is_some_and(|v| v.split(" #").next().unwrap_or("").trim().trim_matches(['"', '\'']) == wanted)
                })
            });
            if let Some(i) = hit {
                let entry = (0..=i).rev().find(|&j| lines[j].trim_start().starts_with("- ")).unwrap_or(i);
                return (self.overlay.clone(), Some(entry as u32 + 1));
            }
        }
        let doc = self.docs.iter().find(|d| d.kind.eq_ignore_ascii_case(kind) && d.name == name);
        if let Some(d) = doc {
            let lines: Vec<&str> = d.text.lines().collect();
            let in_containers = |i: usize| {
                lines[..i]
                    .iter()
                    .any(|l| l.trim_start().starts_with("containers:") || l.trim_start().starts_with("initContainers:"))
            };
            let at = container
                .and_then(|c| {
                    lines.iter().enumerate().position(|(i, l)| {
                        let l = l.trim_start().trim_start_matches("- ");
                        in_containers(i)
                            && l.strip_prefix("name:").is_some_and(|v| v.trim().trim_matches(['"', '\'']) == c)
                    })
                })
                .or_else(|| lines.iter().position(|l| l.starts_with("kind:")));
            return (d.file.clone(), at.map(|i| d.start + i as u32));
        }
        (self.rendered.clone(), o.map(|o| o.line))
    }
}

fn finding(
    tool: &'static str,
    (file, line): (String, Option<u32>),
    code: &str,
    message: String,
    severity: Severity,
) -> Finding {
    Finding { tool, file, line, column: None, code: code.into(), message, severity }
}

/// Our rules over the rendered objects, and the composition: a component's
/// manifests that `deploy/base` does not list.
pub fn rules(
    sources: &Sources,
    env: &str,
    objects: &[Object],
    undeployed: &[Deployed],
    base_text: &str,
) -> Vec<Finding> {
    let mut found = Vec::new();
    for d in undeployed {
        let line = base_text.lines().position(|l| l.starts_with("resources:")).map(|i| i as u32 + 1);
        let message = format!(
            "{} is not listed in {BASE}, so no environment deploys {}: `cargo xtask manifests update {env}` adds it",
            d.resource.trim_start_matches("../../"),
            d.component
        );
        found.push(finding("xtask", (BASE.into(), line), "deployed", message, Severity::Medium));
    }
    for v in rules::check(env, objects) {
        let Violation { kind, name, container, image, rule, message } = v;
        let placeholder = image.as_deref().is_some_and(|i| sources.later.contains(&ImageRef::parse(i).name));
        if placeholder && matches!(rule, "image-digest" | "image-latest") {
            continue;
        }
        let o = objects.iter().find(|o| o.kind == kind && o.name == name);
        let at = sources.locate(o, &kind, &name, container.as_deref(), image.as_deref());
        found.push(finding("xtask", at, rule, message, Severity::Medium));
    }
    found
}

/// Our rules' findings as the `manifests rules --json` command prints them.
#[derive(Deserialize)]
struct Printed {
    file: String,
    line: Option<u32>,
    code: String,
    message: String,
}

pub fn read_rules(output: &str) -> Result<Vec<Finding>> {
    // The task's log holds its stderr too: the JSON starts at its first line opening a list.
    let at = output.lines().take_while(|l| !l.starts_with('[')).map(|l| l.len() + 1).sum::<usize>();
    let printed: Vec<Printed> = serde_json::from_str(output.get(at..).unwrap_or("").trim())?;
    Ok(printed.into_iter().map(|p| finding("xtask", (p.file, p.line), &p.code, p.message, Severity::Medium)).collect())
}

/// The object a tool names by kind (any case, or a resource's plural) and name.
fn object<'a>(objects: &'a [Object], kind: &str, name: &str) -> Option<&'a Object> {
    // A resource may carry its API group: `deployments.apps`.
    let kind = kind.split('.').next().unwrap_or(kind).to_ascii_lowercase();
    objects.iter().find(|o| {
        let k = o.kind.to_ascii_lowercase();
        o.name == name && (k == kind || format!("{k}s") == kind)
    })
}

/// The container a JSON path like `spec.template.spec.containers.0.image` points into.
fn container_at(o: &Object, path: &str) -> Option<String> {
    let pod = rules::pod_spec(o)?;
    for field in ["initContainers", "containers"] {
        for (at, _) in path.match_indices(field) {
            let rest = &path[at + field.len()..];
            let Some(rest) = rest.strip_prefix('.').or_else(|| rest.strip_prefix('[')) else { continue };
            if at > 0 && !path[..at].ends_with('.') {
                continue;
            }
            let index: String = rest.chars().take_while(char::is_ascii_digit).collect();
            return pod[field][index.parse::<usize>().ok()?]["name"].as_str().map(String::from);
        }
    }
    None
}

/// kubernetes-validate's output: an `ERROR … did not validate for resource
/// kind/name against version V: PATH: MESSAGE` line per invalid object, a
/// `WARN` line per object it has no schema for.
pub fn kubernetes_validate(output: &str, sources: &Sources, objects: &[Object]) -> Vec<Finding> {
    let mut found = Vec::new();
    for line in output.lines() {
        if let Some((_, rest)) =
            line.strip_prefix("ERROR ").and_then(|l| l.split_once(" did not validate for resource "))
        {
            let Some((id, rest)) = rest.split_once(" against version ") else { continue };
            let (kind, name) = id.split_once('/').unwrap_or((id, ""));
            let detail = rest.split_once(": ").map_or(rest, |r| r.1);
            let o = object(objects, kind, name);
            let container = o.and_then(|o| container_at(o, detail));
            let shown = o.map_or_else(|| id.to_string(), Object::id);
            let at = sources.locate(o, kind, name, container.as_deref(), None);
            found.push(finding("kubernetes-validate", at, "schema", format!("{shown}: {detail}"), Severity::High));
        } else if let Some(rest) = line.strip_prefix("WARN ") {
            let message = rest.split_once(' ').map_or(rest, |r| r.1).to_string();
            let kind = message.split_once("kind ").and_then(|(_, k)| k.split_whitespace().next()).unwrap_or("");
            let o = objects.iter().find(|o| o.kind == kind);
            let at = (sources.rendered.clone(), o.map(|o| o.line));
            found.push(finding("kubernetes-validate", at, "no-schema", message, Severity::Low));
        }
    }
    found
}

/// `kubectl apply --dry-run=server` errors, each naming its object one way or another:
/// - `Error from server (Invalid): Service "web" is invalid: spec.clusterIP: …`
/// - `The Service "web" is invalid: spec.clusterIPs[0]: Invalid value: …`
/// - `Error from server: failed to create typed patch object (ns/web; /v1, Kind=Service): .bogus: field not declared in schema`
pub fn dry_run(output: &str, sources: &Sources, objects: &[Object]) -> Vec<Finding> {
    let mut found = Vec::new();
    for line in output.lines() {
        let (code, message) = if let Some(rest) = line.strip_prefix("Error from server") {
            match rest.strip_prefix(" (").and_then(|r| r.split_once("): ")) {
                Some((reason, m)) => (reason.to_string(), m),
                None => ("dry-run".to_string(), rest.trim_start_matches(": ")),
            }
        } else if let Some(m) = line.strip_prefix("The ").filter(|m| m.contains(" is invalid: ")) {
            ("Invalid".to_string(), m)
        } else if let Some(m) = line.strip_prefix("error: ") {
            ("dry-run".to_string(), m)
        } else {
            continue;
        };
        let o = named_in(message, objects);
        let (kind, name) = o.map_or(("", ""), |o| (o.kind.as_str(), o.name.as_str()));
        let container =
            o.and_then(|o| message.split_whitespace().find_map(|w| container_at(o, w.trim_end_matches(':'))));
        let at = sources.locate(o, kind, name, container.as_deref(), None);
        found.push(finding("kubectl", at, &code, message.to_string(), Severity::High));
    }
    found
}

/// The object a kubectl message names: `Kind "name"` (or `kinds.group "name"`),
/// or `(namespace/name; group/version, Kind=Kind)`.
fn named_in<'a>(message: &str, objects: &'a [Object]) -> Option<&'a Object> {
    let quoted = objects.iter().find(|o| {
        let quoted = format!("\"{}\"", o.name);
        message.match_indices(&quoted).any(|(at, _)| {
            let before = message[..at].trim_end().rsplit([' ', '(', ':']).next().unwrap_or("");
            object(std::slice::from_ref(o), before, &o.name).is_some()
        })
    });
    quoted.or_else(|| {
        let at = message.find(", Kind=")?;
        let kind: String = message[at + 7..].chars().take_while(char::is_ascii_alphanumeric).collect();
        let open = message[..at].rfind('(')?;
        let id = message[open + 1..at].split(';').next()?;
        object(objects, &kind, id.rsplit('/').next()?)
    })
}

#[cfg(test)]
#[path = "findings_tests.rs"]
mod tests;
