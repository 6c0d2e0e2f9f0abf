//! The xtask's own tests, split into tasks by what they exercise, each keyed
//! by what it really reads: a change in one component re-runs only the
//! suites that build or deploy it, a docs change only `tidy`, and every suite
//! re-runs when the xtask itself changes (its binary is what they test).
//! The integration tests are one binary ([`TEST_BINARY`]) with a module per
//! `xtask/tests/*.rs` file; a suite runs it filtered to its modules. Every
//! such file is a module of `xtask/tests/lib.rs` and in exactly one suite of
//! [`SUITES`]; planning fails, naming the file, when one is not.

use crate::component::Workspace;
use crate::error::UsageError;
use crate::plan::WHOLE_TREE;
use anyhow::Result;
use std::path::Path;

/// What a suite reads of every component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// How it is described and deployed: `pyproject.toml`, `Dockerfile`, `k8s/`.
    Definitions,
    /// Everything its image is built from (the component folders of its closure).
    Images,
}

/// One `test:xtask:<name>` task.
pub struct Suite {
    pub name: &'static str,
    /// Integration test modules, `xtask/tests/<module>.rs`; none: the binary's unit tests.
    pub files: &'static [&'static str],
    /// Repo files and folders it reads besides the xtask's own sources.
    pub reads: &'static [&'static str],
    /// Whose names (not contents) it reads: a docs check that every path it names exists.
    pub names: &'static [&'static str],
    /// What it reads of every component.
    pub components: &'static [Part],
    /// Whether it uses the running services (engine, registry, cluster):
    /// their identities are then part of its key.
    pub services: bool,
    /// libtest's threads; 0: its default, one per core. More for tests that
    /// mostly wait on the cluster.
    pub threads: usize,
}

/// What every suite reads: the xtask's sources, its build, the tests' shared
/// support and the test binary's root.
pub const SOURCES: &[&str] =
    &["Cargo.toml", "Cargo.lock", ".cargo/", "xtask/Cargo.toml", "xtask/src/", "xtask/tests/support/", TEST_ROOT];

/// The integration tests' one binary (`[[test]]` in `xtask/Cargo.toml`).
pub const TEST_BINARY: &str = "integration";
/// Its root: a `mod` line per test file.
pub const TEST_ROOT: &str = "xtask/tests/lib.rs";

/// The suites, the slowest first (the runner starts tasks in plan order).
/// A new test file goes into the suite whose inputs it reads.
pub const SUITES: &[Suite] = &[
    // Real pods on the cluster's one real node: the real platform (the images
    // the workspace pins), a fixture web server, canaries. One task: its tests
    // run at once as far as the node holds them (2 CPUs), each that runs pods
    // there taking its share of the node's CPU through `support::node::share`
    // (one that needs the whole node, `support::node::whole`, runs alone);
    // they mostly wait on the cluster, so more threads than cores.
    Suite {
        name: "node",
        files: &["canary", "environments", "platform_attacks", "previews", "real_node", "smoke_checks"],
        reads: &["deploy/", "tools/", ".gitignore", ".ci/kube/", "docs/tutorial/first-run.md"],
        names: &[],
        components: &[Part::Definitions, Part::Images],
        services: true,
        threads: 10,
    },
    // The API server with kwok's fake node: fixture deploys, rollbacks,
    // verify and status, and the real manifests' server-side checks. Beside
    // `node`: fake pods cost the node nothing.
    Suite {
        name: "cluster",
        files: &["admission", "deploy_stage", "fixture_sweep", "manifests_cluster", "release_stage", "verify_status"],
        reads: &["deploy/", "tools/", ".gitignore", ".ci/kube/"],
        names: &[],
        components: &[Part::Definitions],
        services: true,
        threads: 0,
    },
    // Builds every real image with the tutorial's push command, pulls and runs
    // them; builds storage through a builder of its own once, cold, against
    // the previous run's build of the same inputs (or the shared platform's
    // build of that commit on a fresh machine): reproducible.
    // Its six tests at once: they wait on BuildKit, pip and pushes as much as
    // they use the cores.
    Suite {
        name: "images",
        files: &["image_buildx", "image_path", "real_images"],
        reads: &["tools/", ".gitignore", "docs/tutorial/first-run.md"],
        names: &[],
        components: &[Part::Images],
        services: true,
        threads: 6,
    },
    // The image stage on fixture components: the engine, the registry, the base images;
    // signing and verifying real images (the signing service).
    Suite {
        name: "image-fixtures",
        files: &["image_stage", "supply_chain"],
        reads: &[".gitignore"],
        names: &[],
        components: &[],
        services: true,
        threads: 0,
    },
    // Fixture monorepos made in temp folders, plus the real repo's definitions.
    Suite {
        name: "fixtures",
        files: &[
            "affected",
            "bad_input",
            "cache",
            "ci_stage",
            "manifests_stage",
            "perf_stage",
            "quality_stage",
            "services",
            "test_stage",
        ],
        reads: &["xtask/tests/fixtures/", "tools/", ".gitignore", ".ci/kube/", "deploy/"],
        names: &[],
        components: &[Part::Definitions],
        services: false,
        threads: 0,
    },
    // Spans exported to real collectors (`services up otelcol` built it) and read back.
    Suite {
        name: "telemetry",
        files: &["telemetry"],
        reads: &[".gitignore", ".ci/otelcol/"],
        names: &[],
        components: &[],
        services: true,
        threads: 0,
    },
    Suite {
        name: "unit",
        files: &[],
        reads: &["xtask/tests/fixtures/", "tools/safety-db/", ".ci/kube/", ".ci/buildx/", ".ci/otelcol/"],
        names: &[],
        components: &[],
        services: false,
        threads: 0,
    },
    // The docs, workflows, CI script and benchmarks agree with the code.
    Suite {
        name: "tidy",
        files: &["doc_pages", "floors", "tidy"],
        reads: &[
            "README.md",
            "docs/",
            ".github/",
            ".ci/",
            "bench/",
            "deploy/",
            "tools/package.json",
            "tools/package-lock.json",
            "tools/mermaid-check.mjs",
        ],
        names: &[WHOLE_TREE],
        components: &[],
        services: false,
        threads: 0,
    },
];

/// The test modules (`xtask/tests/*.rs` but the binary's root, stems, sorted)
/// under `root`; none when it has no such folder. A file that is no module of
/// the root is an error naming the fix: it would never be built, so never run.
pub fn test_files(root: &Path) -> Result<Vec<String>> {
    let Ok(read) = std::fs::read_dir(root.join("xtask/tests")) else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for e in read {
        let name = e?.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".rs").filter(|s| format!("xtask/tests/{s}.rs") != TEST_ROOT) {
            out.push(stem.to_string());
        }
    }
    out.sort();
    let declared = modules(&std::fs::read_to_string(root.join(TEST_ROOT)).unwrap_or_default());
    let loose: Vec<&String> = out.iter().filter(|f| !declared.contains(f)).collect();
    if !loose.is_empty() {
        let files: Vec<String> = loose.iter().map(|f| format!("xtask/tests/{f}.rs")).collect();
        let lines: Vec<String> = loose.iter().map(|f| format!("mod {f};")).collect();
        return Err(UsageError::new(format!(
            "{} {} no module of the test binary, so never run: add `{}` to {TEST_ROOT}",
            files.join(", "),
            if loose.len() == 1 { "is" } else { "are" },
            lines.join(" ")
        )));
    }
    Ok(out)
}

/// The modules a test root declares (`mod NAME;` lines).
fn modules(lib: &str) -> Vec<String> {
    lib.lines().filter_map(|l| l.trim().strip_prefix("mod ")?.strip_suffix(';').map(|m| m.trim().to_string())).collect()
}

/// Every test file in exactly one suite: the files in none, or in two, named with the fix.
pub fn check(files: &[String]) -> Result<()> {
    let mut homeless = Vec::new();
    for f in files {
        let homes: Vec<&str> = SUITES.iter().filter(|s| s.files.contains(&f.as_str())).map(|s| s.name).collect();
        match homes.len() {
            1 => {}
            0 => homeless.push(format!("xtask/tests/{f}.rs")),
            _ => {
                return Err(UsageError::new(format!(
                    "xtask/tests/{f}.rs is in the suites {}: keep it in one in SUITES (xtask/src/suites.rs)",
                    homes.join(" and ")
                )))
            }
        }
    }
    if !homeless.is_empty() {
        return Err(UsageError::new(format!(
            "{} in no test:xtask suite: add it to the suite whose inputs it reads in SUITES (xtask/src/suites.rs)",
            homeless.join(", ") + if homeless.len() == 1 { " is" } else { " are" }
        )));
    }
    Ok(())
}

/// The files a suite's key covers: the sources, its own test files, what it reads.
pub fn files(ws: &Workspace, suite: &Suite) -> Vec<String> {
    let mut out: Vec<String> = SOURCES.iter().map(|s| s.to_string()).collect();
    out.extend(suite.files.iter().map(|f| format!("xtask/tests/{f}.rs")));
    out.extend(suite.reads.iter().map(|r| r.to_string()));
    let all: Vec<&crate::component::Component> = ws.components.iter().collect();
    for part in suite.components {
        match part {
            Part::Images => out.extend(crate::images::plan::image_inputs(ws, &all)),
            Part::Definitions => {
                for c in &all {
                    let dir = c.path.display();
                    out.extend([format!("{dir}/pyproject.toml"), format!("{dir}/k8s/")]);
                    out.extend(c.dockerfile.as_ref().map(|d| d.display().to_string()));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// cargo's arguments for a suite and libtest's after `--`: the unit tests, or
/// the test binary filtered to the suite's modules present in the checkout
/// (`MODULE::`: libtest runs the tests whose names contain a filter), with the
/// suite's threads.
pub fn targets(suite: &Suite, present: &[String]) -> (Vec<String>, Vec<String>) {
    if suite.files.is_empty() {
        return (vec!["--bins".into()], Vec::new());
    }
    let filters: Vec<String> =
        suite.files.iter().filter(|f| present.iter().any(|p| p == *f)).map(|f| format!("{f}::")).collect();
    if filters.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let mut filters = filters;
    if suite.threads > 0 {
        filters.push(format!("--test-threads={}", suite.threads));
    }
    (vec!["--test".into(), TEST_BINARY.into()], filters)
}

#[cfg(test)]
#[path = "suites_tests.rs"]
mod tests;
