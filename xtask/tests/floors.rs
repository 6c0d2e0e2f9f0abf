//! The floor plan as a test (docs/explanation/architecture.md, "Floors"): every
//! top-level module has a declared floor ([`FLOORS`]) and imports nothing on
//! a floor above its own; stages are folders under `stages/` that import no
//! other stage; nothing below the stages imports one; no two modules import
//! each other, directly or round a loop, and neither do two folders. Read
//! from the `crate::…` and `super::…` paths of every source file (tests left
//! out), so a planted import fails it whatever its form.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;

/// The floors, the ground first: a module may import its own floor's modules
/// and those below, never above (folders and top-level files by name; `main`
/// is `main.rs`). The cluster (`kube`) sits below the manifests, the canary
/// and the release flow that use it.
const FLOORS: &[(&str, &[&str])] = &[
    (
        "ground",
        &[
            "cache",
            "cli",
            "clock",
            "component",
            "error",
            "findings",
            "fsutil",
            "inputs",
            "plan",
            "printer",
            "progress",
            "stats",
            "telemetry",
            "testkit",
        ],
    ),
    ("execution", &["affected", "exec", "github", "python", "report", "runner"]),
    ("machine", &["services"]),
    ("cluster", &["kube"]),
    ("artifacts", &["images", "manifests", "perf", "workflows"]),
    ("canary", &["canary"]),
    ("release", &["release"]),
    ("supply", &["supply"]),
    ("plans", &["checks", "documentation", "pipeline", "suites", "testing"]),
    ("commands", &["main", "stages"]),
];

/// The top-level module a module is in: `kube::wait` → `kube`, `main.rs` → `main`.
fn top(m: &Module) -> &str {
    m.first().map_or("main", String::as_str)
}

/// The floor of a top-level module (its index in [`FLOORS`], and its name).
fn floor_of(top: &str) -> Option<(usize, &'static str)> {
    FLOORS.iter().position(|(_, on)| on.contains(&top)).map(|i| (i, FLOORS[i].0))
}

/// The folder a module is in, for folder cycles: its top-level module, or
/// for a stage `stages::<name>` (each stage is a folder of its own).
fn folder_of(m: &Module) -> Module {
    let n = if m.first().is_some_and(|t| t == "stages") { 2 } else { 1 };
    m[..m.len().min(n)].to_vec()
}

/// `kube/wait.rs` → [kube, wait]; `kube/mod.rs` → [kube]; `main.rs` → [].
fn module_of(rel: &str) -> Module {
    let mut parts: Vec<String> = rel.trim_end_matches(".rs").split('/').map(String::from).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "main")) {
        parts.pop();
    }
    parts
}

fn ident_len(s: &str) -> usize {
    s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len())
}

/// Every module path a source names: `crate::a::b`, `crate::{a, b::c}`,
/// `crate::a::{b as x, c}`, `super::b` (relative to `module`).
fn named_paths(module: &Module, code: &str) -> Vec<Module> {
    let mut found = Vec::new();
    for (start, anchor) in [("crate::", None), ("super::", Some(()))] {
        let mut rest = code;
        while let Some(i) = rest.find(start) {
            let before = rest[..i].chars().last();
            rest = &rest[i + start.len()..];
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let mut base: Module = match anchor {
                None => Vec::new(),
                Some(()) => module[..module.len().saturating_sub(1)].to_vec(),
            };
            let mut s = rest;
            loop {
                let n = ident_len(s);
                if n == 0 {
                    break;
                }
                base.push(s[..n].to_string());
                s = &s[n..];
                if let Some(t) = s.strip_prefix("::") {
                    s = t;
                } else {
                    break;
                }
            }
            if let Some(group) = s.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let item = item.trim();
                    let mut path = base.clone();
                    path.extend(item.split("::").map(|p| p[..ident_len(p)].to_string()).filter(|p| !p.is_empty()));
                    found.push(path);
                }
            }
            found.push(base);
        }
    }
    found
}

/// The import graph between source files: an edge from each file to the
/// deepest module it names, leaving out a file's uses of its own ancestors
/// (a child reading its parent's items is how Rust folders work).
fn graph(sources: &BTreeMap<String, String>) -> BTreeMap<Module, BTreeSet<Module>> {
    let modules: BTreeSet<Module> = sources.keys().map(|k| module_of(k)).collect();
    let mut edges = BTreeMap::new();
    for (rel, text) in sources {
        let me = module_of(rel);
        // Unit tests sit at the end of a file, after `#[cfg(test)]`: they may use anything.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let code: String = code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        let mut out = BTreeSet::new();
        for path in named_paths(&me, &code) {
            let target = (0..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| modules.contains(p));
            if let Some(t) = target.filter(|t| !t.is_empty() && *t != me && !me.starts_with(t)) {
                out.insert(t);
            }
        }
        edges.insert(me, out);
    }
    edges
}

/// The stage a module belongs to: `stages/<name>/…`.
fn stage_of(m: &Module) -> Option<&str> {
    (m.len() >= 2 && m[0] == "stages").then(|| m[1].as_str())
}

/// Every breach of the floor plan, as lines a reader can act on.
fn breaches(sources: &BTreeMap<String, String>) -> Vec<String> {
    let edges = graph(sources);
    let name = |m: &Module| if m.is_empty() { "main".to_string() } else { m.join("::") };
    let mut out = Vec::new();
    for (from, tos) in &edges {
        for to in tos {
            match (stage_of(from), stage_of(to)) {
                (Some(a), Some(b)) if a != b => {
                    out.push(format!("stage {a} imports stage {b} ({} → {})", name(from), name(to)))
                }
                (None, Some(b)) if !from.is_empty() && from != &["stages".to_string()] => {
                    out.push(format!("{} (below the stages) imports stage {b}", name(from)))
                }
                _ => {}
            }
        }
    }
    let mut undeclared = BTreeSet::new();
    for (from, tos) in &edges {
        let Some((mine, my_floor)) = floor_of(top(from)) else {
            undeclared.insert(top(from).to_string());
            continue;
        };
        for to in tos {
            match floor_of(top(to)) {
                Some((theirs, their_floor)) if theirs > mine => out.push(format!(
                    "{} (floor {my_floor}) imports {} (floor {their_floor}, above it): move the shared part down",
                    name(from),
                    name(to)
                )),
                Some(_) => {}
                None => {
                    undeclared.insert(top(to).to_string());
                }
            }
        }
    }
    for m in undeclared {
        out.push(format!(
            "{m} has no floor: declare it in FLOORS (xtask/tests/floors.rs) and docs/explanation/architecture.md"
        ));
    }
    for c in cycles(&edges) {
        out.push(format!("import cycle: {}", c.iter().map(|m| name(m)).collect::<Vec<_>>().join(" → ")));
    }
    // The same walk between folders: two folders whose files import each other, by any route.
    let mut folders: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (from, tos) in &edges {
        let mine = folder_of(from);
        let theirs = tos.iter().map(folder_of).filter(|t| *t != mine && !t.is_empty()).collect::<Vec<_>>();
        folders.entry(mine).or_default().extend(theirs);
    }
    for c in cycles(&folders) {
        out.push(format!("folder cycle: {}", c.iter().map(|m| name(m)).collect::<Vec<_>>().join(" → ")));
    }
    out
}

/// Every loop of a graph, once each (a depth-first search's back edges),
/// started at its smallest module and closed: `[a, b, a]`.
fn cycles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<&Module>> {
    fn visit<'a>(
        m: &'a Module,
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        state: &mut BTreeMap<&'a Module, u8>,
        stack: &mut Vec<&'a Module>,
        out: &mut Vec<Vec<&'a Module>>,
    ) {
        state.insert(m, 1);
        stack.push(m);
        for next in edges.get(m).into_iter().flatten() {
            match state.get(next) {
                Some(1) => {
                    let at = stack.iter().position(|s| *s == next).unwrap_or(0);
                    out.push(stack[at..].to_vec());
                }
                Some(_) => {}
                None => visit(next, edges, state, stack, out),
            }
        }
        stack.pop();
        state.insert(m, 2);
    }
    let (mut state, mut stack, mut found) = (BTreeMap::new(), Vec::new(), Vec::new());
    for m in edges.keys() {
        if !state.contains_key(m) {
            visit(m, edges, &mut state, &mut stack, &mut found);
        }
    }
    for c in &mut found {
        // Start the loop at its smallest module, so the line does not depend on where the walk began.
        let first = (0..c.len()).min_by_key(|&i| c[i]).unwrap_or(0);
        c.rotate_left(first);
        c.push(c[0]);
    }
    found
}

fn xtask_sources() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(&src) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(&src).unwrap().display().to_string();
        if rel.ends_with(".rs") && !rel.ends_with("_tests.rs") {
            out.insert(rel, std::fs::read_to_string(entry.path()).unwrap());
        }
    }
    out
}

#[test]
fn the_xtask_keeps_its_floor_plan() {
    let sources = xtask_sources();
    assert!(sources.len() > 40, "the source walk found {} files", sources.len());
    let found = breaches(&sources);
    assert!(found.is_empty(), "the floor plan is broken:\n{}", found.join("\n"));
}

#[test]
fn every_command_is_a_folder_under_stages() {
    let stages = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/stages");
    for entry in std::fs::read_dir(&stages).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(path.is_dir() || name == "mod.rs", "stages/{name} is a file: give the command a folder");
    }
}

fn planted(extra: &[(&str, &str)]) -> Vec<String> {
    let mut sources = xtask_sources();
    for (file, line) in extra {
        let text = sources.entry(file.to_string()).or_default();
        *text = format!("{line}\n{text}");
    }
    breaches(&sources)
}

#[test]
fn a_planted_stage_to_stage_import_is_caught() {
    let found = planted(&[("stages/status/mod.rs", "use crate::stages::deploy::run;")]);
    assert_eq!(found, ["stage status imports stage deploy (stages::status → stages::deploy)"]);
    let found = planted(&[("stages/verify/mod.rs", "use crate::stages::{deploy, status};")]);
    assert_eq!(found.len(), 2, "{found:?}");
}

#[test]
fn a_domain_module_importing_a_stage_is_caught() {
    let found = planted(&[("kube/wait.rs", "fn f() { crate::stages::verify::run(); }")]);
    assert_eq!(found[0], "kube::wait (below the stages) imports stage verify");
}

#[test]
fn a_planted_cycle_is_caught_with_its_path() {
    let found = planted(&[("kube/rollout.rs", "use crate::kube::wait::Ending;")]);
    assert_eq!(found, ["import cycle: kube::rollout → kube::wait → kube::rollout"]);
    // A child using its parent's items is no cycle; a sibling loop through `super::` is.
    let found = planted(&[
        ("kube/want.rs", "use super::credentials::Kubeconfig;"),
        ("kube/credentials.rs", "use super::want;"),
    ]);
    assert_eq!(found.len(), 1, "{found:?}");
}

#[test]
fn a_planted_import_from_a_floor_above_is_caught() {
    let found = planted(&[("perf/judge.rs", "use crate::release::guards;")]);
    assert_eq!(
        found,
        ["perf::judge (floor artifacts) imports release::guards (floor release, above it): move the shared part down"]
    );
}

#[test]
fn the_cluster_imports_nothing_of_the_manifests_the_canary_or_the_release() {
    let kube = floor_of("kube").unwrap().0;
    for above in ["manifests", "canary", "release"] {
        assert!(floor_of(above).unwrap().0 > kube, "{above} must sit above kube in FLOORS");
    }
    for (file, line) in [
        ("kube/wait.rs", "use crate::manifests::yaml;"),
        ("kube/smoke.rs", "fn f() { crate::canary::remove(); }"),
        ("kube/lease.rs", "use crate::release::{records, guards::Guard};"),
    ] {
        let found = planted(&[(file, line)]);
        assert!(found.iter().any(|f| f.starts_with("kube::") && f.contains("above it")), "{line}: {found:?}");
    }
}

#[test]
fn a_planted_folder_cycle_is_caught_though_no_file_loops() {
    // Two folders on one floor, each with a file importing a file of the other.
    let found = planted(&[
        ("images/tags.rs", "use crate::manifests::rules;"),
        ("manifests/pins.rs", "use crate::images::report;"),
    ]);
    assert_eq!(found, ["folder cycle: images → manifests → images"]);
}

#[test]
fn a_module_with_no_floor_is_caught() {
    let found = planted(&[("annex.rs", "use crate::kube;")]);
    assert_eq!(
        found,
        ["annex has no floor: declare it in FLOORS (xtask/tests/floors.rs) and docs/explanation/architecture.md"]
    );
}
