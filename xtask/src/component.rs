//! Discovery: every folder under `components/` holding a `pyproject.toml` is a
//! Python component. Conventions first (tests in `tests/`, image from
//! `Dockerfile`, manifests in `k8s/`), exceptions in `[tool.xtask]`.

use crate::error::UsageError;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize)]
pub struct Component {
    /// The folder name under `components/`.
    pub name: String,
    pub language: &'static str,
    /// Path relative to the repo root.
    pub path: PathBuf,
    /// `[project].name` in its pyproject.
    pub project: String,
    /// Components it needs at run time (from its dependencies).
    pub depends_on: Vec<String>,
    /// Components its tests need besides those (from its test extra).
    pub test_depends_on: Vec<String>,
    pub tests: PathBuf,
    /// The optional-dependencies extra holding its test requirements, when it has one.
    pub test_extra: Option<String>,
    pub dockerfile: Option<PathBuf>,
    pub manifests: Option<PathBuf>,
    pub base_image: Option<String>,
}

/// The `[tool.xtask]` table: every key is an exception to a convention.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Overrides {
    tests: Option<PathBuf>,
    dockerfile: Option<PathBuf>,
    manifests: Option<PathBuf>,
    base_image: Option<String>,
    test_extra: Option<String>,
    #[serde(default)]
    depends: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct PyProject {
    project: Option<Project>,
    #[serde(default)]
    tool: Tool,
}

#[derive(Debug, Deserialize)]
struct Project {
    name: String,
    #[serde(default)]
    dependencies: Vec<String>,
    #[serde(default, rename = "optional-dependencies")]
    optional: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
struct Tool {
    xtask: Option<Overrides>,
}

/// A parsed pyproject before dependency names are mapped onto components.
struct Raw {
    name: String,
    project: String,
    deps: Vec<String>,
    test_extra: Option<String>,
    test_deps: Vec<String>,
    overrides: Overrides,
}

pub struct Workspace {
    pub root: PathBuf,
    /// Sorted by name.
    pub components: Vec<Component>,
    /// Folders under `components/` without a pyproject.toml.
    pub skipped: Vec<String>,
}

impl Workspace {
    pub fn discover(root: &Path) -> Result<Workspace> {
        let dir = root.join("components");
        let mut raws = Vec::new();
        let mut skipped = Vec::new();
        let entries = walkdir::WalkDir::new(&dir).min_depth(1).max_depth(1).sort_by_file_name();
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
            if !entry.file_type().is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let pyproject = entry.path().join("pyproject.toml");
            if pyproject.is_file() {
                raws.push(parse(root, &name, &pyproject)?);
            } else {
                skipped.push(name);
            }
        }
        let components = resolve(root, raws)?;
        let ws = Workspace { root: root.to_path_buf(), components, skipped };
        ws.check_cycles()?;
        Ok(ws)
    }

    pub fn get(&self, name: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.name == name)
    }

    /// The named components (all of them when `names` is empty), in name order.
    pub fn select(&self, names: &[String]) -> Result<Vec<&Component>> {
        if names.is_empty() {
            return Ok(self.components.iter().collect());
        }
        let mut picked = BTreeSet::new();
        for given in names {
            let name = self.name_of(given);
            if let Some(c) = self.get(&name) {
                picked.insert(c.name.as_str());
            } else if self.skipped.contains(&name) {
                return Err(UsageError::new(format!(
                    "components/{name} has no pyproject.toml, so it is not a component: add one to make it part of the pipeline"
                )));
            } else {
                let known: Vec<_> = self.components.iter().map(|c| c.name.as_str()).collect();
                return Err(UsageError::new(format!(
                    "unknown component `{given}`: known components are {}",
                    known.join(", ")
                )));
            }
        }
        Ok(self.components.iter().filter(|c| picked.contains(c.name.as_str())).collect())
    }

    /// A component named by its folder's path (`components/storage/`, as a
    /// shell completes it, or any path inside it) is that folder's name.
    fn name_of(&self, given: &str) -> String {
        if !given.contains('/') && given != "." {
            return given.to_string();
        }
        let full = std::env::current_dir().map(|d| d.join(given)).unwrap_or_else(|_| PathBuf::from(given));
        let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        let components = canonical(&self.root.join("components"));
        match canonical(&full).strip_prefix(&components).ok().and_then(|p| p.iter().next()) {
            Some(folder) => folder.to_string_lossy().into_owned(),
            None => given.to_string(),
        }
    }

    /// Every component `c` needs installed beside it to run its tests,
    /// transitively, in name order (not including `c`).
    pub fn test_closure(&self, c: &Component) -> Vec<&Component> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = c.depends_on.iter().chain(&c.test_depends_on).map(String::as_str).collect();
        while let Some(n) = stack.pop() {
            if n != c.name && seen.insert(n.to_string()) {
                if let Some(d) = self.get(n) {
                    stack.extend(d.depends_on.iter().map(String::as_str));
                }
            }
        }
        seen.iter().filter_map(|n| self.get(n)).collect()
    }

    fn check_cycles(&self) -> Result<()> {
        // Depth-first search over run-time and test edges; a grey node reached again closes a cycle.
        fn visit<'a>(
            ws: &'a Workspace,
            n: &'a str,
            path: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
        ) -> Result<()> {
            if let Some(at) = path.iter().position(|p| *p == n) {
                let mut cycle: Vec<&str> = path[at..].to_vec();
                cycle.push(n);
                return Err(UsageError::new(format!(
                    "dependency cycle between components: {} (remove one of these dependencies)",
                    cycle.join(" -> ")
                )));
            }
            if done.contains(n) {
                return Ok(());
            }
            path.push(n);
            let c = ws.get(n).expect("edges point at known components");
            for d in c.depends_on.iter().chain(&c.test_depends_on) {
                visit(ws, d, path, done)?;
            }
            path.pop();
            done.insert(n);
            Ok(())
        }
        let mut done = BTreeSet::new();
        for c in &self.components {
            visit(self, &c.name, &mut Vec::new(), &mut done)?;
        }
        Ok(())
    }
}

fn parse(root: &Path, name: &str, file: &Path) -> Result<Raw> {
    let rel = file.strip_prefix(root).unwrap_or(file).display().to_string();
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {rel}"))?;
    let doc: PyProject = toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
        let at = line.map(|l| format!(" line {l}")).unwrap_or_default();
        UsageError::new(format!("malformed {rel}{at}: {} (fix the file)", e.message().trim()))
    })?;
    let project = doc
        .project
        .ok_or_else(|| UsageError::new(format!("{rel} has no [project] table: add one with at least `name`")))?;
    let overrides = doc.tool.xtask.unwrap_or_default();
    let test_extra = match &overrides.test_extra {
        Some(extra) if !project.optional.contains_key(extra) => {
            return Err(UsageError::new(format!(
                "{rel}: [tool.xtask] test-extra = \"{extra}\" but [project.optional-dependencies] has no such extra"
            )))
        }
        Some(extra) => Some(extra.clone()),
        None => project.optional.contains_key("test").then(|| "test".to_string()),
    };
    let test_deps = test_extra.as_ref().map(|e| project.optional[e].clone()).unwrap_or_default();
    Ok(Raw {
        name: name.to_string(),
        project: project.name,
        deps: project.dependencies,
        test_extra,
        test_deps,
        overrides,
    })
}

/// Map dependency names onto components: a requirement whose (normalised)
/// name is another component's project name is an edge in the graph.
fn resolve(root: &Path, raws: Vec<Raw>) -> Result<Vec<Component>> {
    let mut by_project: BTreeMap<String, String> = BTreeMap::new();
    for r in &raws {
        // A folder copied as a template keeps its project name: two components
        // would then both answer to it and edges would point at either.
        if let Some(first) = by_project.insert(normalise(&r.project), r.name.clone()) {
            return Err(UsageError::new(format!(
                "components/{first} and components/{} both have project name `{}`: give each its own [project] name",
                r.name, r.project
            )));
        }
    }
    let folders: BTreeSet<&str> = raws.iter().map(|r| r.name.as_str()).collect();
    let local = |reqs: &[String], own: &str| -> Vec<String> {
        let set: BTreeSet<String> = reqs
            .iter()
            .filter_map(|r| by_project.get(&normalise(requirement_name(r))).cloned())
            .filter(|n| n != own)
            .collect();
        set.into_iter().collect()
    };
    let mut out = Vec::new();
    for r in &raws {
        let dir = PathBuf::from("components").join(&r.name);
        let o = &r.overrides;
        let mut depends_on = local(&r.deps, &r.name);
        for d in &o.depends {
            if !folders.contains(d.as_str()) {
                return Err(UsageError::new(format!(
                    "components/{}/pyproject.toml: [tool.xtask] depends names `{d}`, which is not a component",
                    r.name
                )));
            }
            if !depends_on.contains(d) {
                depends_on.push(d.clone());
            }
        }
        depends_on.sort();
        let test_depends_on: Vec<String> =
            local(&r.test_deps, &r.name).into_iter().filter(|d| !depends_on.contains(d)).collect();
        let existing = |p: PathBuf| root.join(&p).exists().then_some(p);
        out.push(Component {
            name: r.name.clone(),
            language: "python",
            project: r.project.clone(),
            depends_on,
            test_depends_on,
            tests: dir.join(o.tests.clone().unwrap_or_else(|| "tests".into())),
            test_extra: r.test_extra.clone(),
            dockerfile: existing(dir.join(o.dockerfile.clone().unwrap_or_else(|| "Dockerfile".into()))),
            manifests: existing(dir.join(o.manifests.clone().unwrap_or_else(|| "k8s".into()))),
            base_image: o.base_image.clone(),
            path: dir,
        });
    }
    Ok(out)
}

/// The distribution name at the start of a PEP 508 requirement.
fn requirement_name(req: &str) -> &str {
    let end = req.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')).unwrap_or(req.len());
    &req[..end]
}

/// PEP 503 normalisation: case-insensitive, runs of `-_.` are one `-`.
fn normalise(name: &str) -> String {
    let mut out = String::new();
    for ch in name.chars() {
        if matches!(ch, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(ch.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
#[path = "component_tests.rs"]
mod tests;
