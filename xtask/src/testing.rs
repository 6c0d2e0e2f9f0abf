//! The test stage: pytest per component (JUnit XML into
//! `target/test-results/<component>.xml`, the artifact CI uploads), and the
//! Rust workspace's own `cargo test` when every component is asked for.

use crate::component::{Component, Workspace};
use crate::exec::{Finished, Outcome};
use crate::plan::{relative, CacheSpec, ExitPolicy, Task};
use crate::python::EnvSpec;
use crate::report::Counts;
use crate::runner::RUST;
use crate::suites;
use anyhow::Result;

use std::path::{Path, PathBuf};

/// Environment variables a pytest run reads besides its files.
const PYTEST_ENV: &[&str] = &["PYTEST_ADDOPTS", "PYTHONPATH", "PYTHONHASHSEED", "JAVA_HOME", "SPARK_HOME", "TZ"];
/// Environment variables that change what the Rust workspace's tests do: the
/// image tests' registry, the cluster the deploy tests use, and `CI` (which
/// makes a missing service a failure). Every one is part of the task's key,
/// and so are the recorded services' identities.
pub const CARGO_TEST_ENV: &[&str] = &[
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_BUILD_TARGET",
    "XTASK_TEST_REGISTRY",
    "XTASK_TEST_REGISTRY_USER",
    "XTASK_TEST_REGISTRY_PASSWORD_FILE",
    "XTASK_TEST_KUBECONFIG",
    "XTASK_KUBECTL",
    "KUBECONFIG",
    "DOCKER_HOST",
    "CI",
];

/// What the xtask's image and cluster tests are told about the services:
/// `services up` records them, and any command fills them in from that record.
pub const SERVICE_TEST_ENV: &[&str] = &[
    "XTASK_TEST_REGISTRY",
    "XTASK_TEST_REGISTRY_USER",
    "XTASK_TEST_REGISTRY_PASSWORD_FILE",
    "XTASK_TEST_KUBECONFIG",
    "XTASK_KUBECTL",
];

/// The xtask's cluster tests are `#[ignore]`d by default, so plain `cargo
/// test` counts them as skipped, never as passed. They run when the services'
/// record holds a running cluster (or XTASK_TEST_KUBECONFIG names one), and
/// always on CI, where a missing cluster must fail them.
pub fn include_cluster_tests(recorded_cluster: bool, kubeconfig: Option<&str>, ci: Option<&str>) -> bool {
    recorded_cluster || kubeconfig.is_some_and(|k| !k.is_empty()) || ci == Some("true")
}

/// The xtask's own tests, one task per suite of [`crate::suites::SUITES`]
/// (`test:xtask:<suite>`), the slowest first: the services' variables in
/// their environment (shown by `--dry-run`), the cluster tests included as
/// the record says, and each keyed by what the suite reads (the services'
/// identities only where it uses them). Fails naming a test file in no
/// suite. `var` reads the environment.
pub fn cargo_tests(
    root: &Path,
    ws: &Workspace,
    cargo: &Path,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Task>> {
    let var = |k: &str| var(k).filter(|v| !v.is_empty());
    let state = crate::services::state::load_with(root, &var).unwrap_or_default();
    let (live, _) = crate::services::state::live(&state);
    let present = suites::test_files(root)?;
    suites::check(&present)?;
    let ignored =
        include_cluster_tests(live.contains_key("kube"), var("XTASK_TEST_KUBECONFIG").as_deref(), var("CI").as_deref());
    let env: Vec<(String, String)> = SERVICE_TEST_ENV.iter().filter_map(|k| Some((k.to_string(), var(k)?))).collect();
    let mut tasks = Vec::new();
    for suite in suites::SUITES {
        let (targets, mut filters) = suites::targets(suite, &present);
        if targets.is_empty() {
            continue;
        }
        let mut args: Vec<String> = ["test", "-p", "xtask", "--quiet"].map(String::from).to_vec();
        args.extend(targets);
        if ignored {
            filters.push("--include-ignored".into());
        }
        if !filters.is_empty() {
            args.push("--".into());
            args.extend(filters);
        }
        let mut values = Vec::new();
        if suite.services {
            values.push(("services".into(), crate::services::state::fingerprint(&live)));
        }
        tasks.push(Task {
            id: format!("test:{RUST}:{}", suite.name),
            stage: "test",
            component: RUST.into(),
            program: cargo.to_path_buf(),
            args,
            env: if suite.services { env.clone() } else { Vec::new() },
            cwd: root.to_path_buf(),
            needs: Vec::new(),
            after: None,
            artifact: None,
            exit: ExitPolicy::Cargo,
            cache: Some(CacheSpec {
                files: suites::files(ws, suite),
                env: CARGO_TEST_ENV.iter().map(|v| v.to_string()).collect(),
                values,
                names: suite.names.iter().map(|n| n.to_string()).collect(),
            }),
        });
    }
    Ok(tasks)
}

/// A component's test inputs: its files, those of every component its
/// tests install (test-only dependencies included), and the shared tool pins.
pub fn cache_spec(ws: &Workspace, c: &Component) -> CacheSpec {
    let mut files = vec![format!("{}/", c.path.display())];
    files.extend(ws.test_closure(c).iter().map(|d| format!("{}/", d.path.display())));
    files.push("tools/".into());
    CacheSpec { files, env: PYTEST_ENV.iter().map(|v| v.to_string()).collect(), values: Vec::new(), names: Vec::new() }
}

pub fn junit_path(root: &Path, component: &str) -> PathBuf {
    root.join("target/test-results").join(format!("{component}.xml"))
}

/// The xtask's suites when `cargo` is given (first: they are the long
/// pole), then one pytest task per component (with `pytest_args` appended).
pub fn plan(
    ws: &Workspace,
    components: &[&Component],
    cargo: Option<&Path>,
    pytest_args: &[String],
) -> Result<Vec<Task>> {
    let root = &ws.root;
    let mut tasks = match cargo {
        Some(cargo) => cargo_tests(root, ws, cargo, &|k| std::env::var(k).ok())?,
        None => Vec::new(),
    };
    tasks.extend(components.iter().map(|c| {
        let cwd = root.join(&c.path);
        let junit = junit_path(root, &c.name);
        let tests_dir = root.join(&c.tests);
        // Without its tests folder pytest searches the component itself,
        // finds nothing and says so (exit 5), rather than a path error.
        let tests = match tests_dir.strip_prefix(&cwd) {
            _ if !tests_dir.is_dir() => None,
            Ok(inside) => Some(inside.display().to_string()),
            Err(_) => Some(relative(root, &cwd, &tests_dir)),
        };
        Task {
            id: format!("test:{}", c.name),
            stage: "test",
            component: c.name.clone(),
            program: EnvSpec::for_tests(ws, c).python(),
            args: ["-m", "pytest"]
                .into_iter()
                .map(String::from)
                .chain(tests)
                .chain(["-ra".into(), format!("--junitxml={}", relative(root, &cwd, &junit))])
                .chain(pytest_args.iter().cloned())
                .collect(),
            env: Vec::new(),
            cwd,
            needs: vec![c.name.clone()],
            after: None,
            artifact: Some(junit),
            exit: ExitPolicy::Pytest,
            cache: Some(cache_spec(ws, c)),
        }
    }));
    Ok(tasks)
}

/// Counts from the JUnit file (pytest) or from cargo's `test result:` lines.
pub fn counts(f: &Finished) -> Option<Counts> {
    if !matches!(f.outcome, Outcome::Passed | Outcome::Failed(_)) {
        return None;
    }
    match f.task.exit {
        ExitPolicy::Pytest => junit_counts(&std::fs::read_to_string(f.task.artifact.as_ref()?).ok()?),
        ExitPolicy::Cargo => cargo_counts(&std::fs::read_to_string(&f.log).ok()?),
        ExitPolicy::Tool(_) | ExitPolicy::Docker => None,
    }
}

/// Sum the `<testsuite>` attributes of a JUnit XML document.
pub fn junit_counts(xml: &str) -> Option<Counts> {
    let mut c = Counts::default();
    let mut found = false;
    for tag in xml.split("<testsuite").skip(1).filter(|t| t.starts_with([' ', '>', '\n', '\t'])) {
        let head = &tag[..tag.find('>').unwrap_or(tag.len())];
        let attr = |name: &str| -> u64 {
            let key = format!(" {name}=\"");
            head.find(&key)
                .and_then(|i| head[i + key.len()..].split('"').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        found = true;
        let failed = attr("failures") + attr("errors");
        let skipped = attr("skipped");
        c.failed += failed;
        c.skipped += skipped;
        c.passed += attr("tests").saturating_sub(failed + skipped);
    }
    found.then_some(c)
}

/// Sum cargo's `test result: ok. 3 passed; 0 failed; 1 ignored; …` lines.
pub fn cargo_counts(output: &str) -> Option<Counts> {
    let mut c = Counts::default();
    let mut found = false;
    for line in output.lines().filter_map(|l| l.trim().strip_prefix("test result: ")) {
        found = true;
        for part in line.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(what), Some(n)) = (words.next(), words.next()) else {
                continue;
            };
            let n: u64 = n.parse().unwrap_or(0);
            match what {
                "passed" => c.passed += n,
                "failed" => c.failed += n,
                "ignored" => c.skipped += n,
                _ => {}
            }
        }
    }
    found.then_some(c)
}

#[cfg(test)]
#[path = "testing_tests.rs"]
mod tests;
