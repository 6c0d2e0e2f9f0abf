//! `cargo xtask perf` against fixture monorepos under git: a component `svc`
//! whose `work()` sleeps (the system under test, from each tree), a harness
//! that times it (from head), and a service that must start for each tree.
//! Needs python3 and builds two small virtualenvs (uv makes it quick).

use crate::support;

use support::{git, Repo};

/// A sample: the tree's `work()` timed five times, in milliseconds.
const HARNESS: &str = "import time\nfrom svc_pkg import work\n\nstart = time.perf_counter()\nfor _ in range(5):\n    work()\nprint((time.perf_counter() - start) * 200)\n";
/// A service that listens on the port it is given until it is stopped.
const SERVE: &str = "import socket, sys, time\n\ns = socket.socket()\ns.bind(('127.0.0.1', int(sys.argv[1])))\ns.listen()\nprint('listening', flush=True)\ntime.sleep(600)\n";
const PERF_TOML: &str = r#"[service]
command = ["{python}", "{tree}/components/svc/serve.py", "{port}"]

[[scenario]]
name = "work"
command = ["{python}", "{harness}/perf/sample.py"]
metric = "ms per call"
better = "lower"
samples = 5
warmup = 0
budget = "60s"
"#;

fn work(seconds: f64) -> String {
    format!("import time\n\n\ndef work() -> None:\n    time.sleep({seconds})\n")
}

/// The fixture committed on `main` (work() sleeps 20 ms), with a `feature` branch checked out.
fn monorepo() -> Repo {
    let repo = Repo::new();
    repo.write(".gitignore", "/target/\n__pycache__/\n");
    repo.component("svc", &[], &[("test_ok.py", "def test_ok():\n    pass\n")]);
    repo.write("components/svc/src/svc_pkg/__init__.py", &work(0.02));
    repo.write("components/svc/serve.py", SERVE);
    repo.write("components/svc/perf/sample.py", HARNESS);
    repo.write("components/svc/perf.toml", PERF_TOML);
    git(repo.root(), &["init", "--quiet", "--initial-branch=main"]);
    git(repo.root(), &["add", "-A"]);
    git(repo.root(), &["commit", "--quiet", "-m", "monorepo"]);
    git(repo.root(), &["checkout", "--quiet", "-b", "feature"]);
    repo
}

fn commit(repo: &Repo, message: &str) {
    git(repo.root(), &["commit", "--quiet", "-am", message]);
}

#[test]
fn a_base_that_is_not_here_is_one_line_with_the_fetch_that_brings_it() {
    let repo = monorepo();
    let run = repo.run(&["perf", "--base", "origin/release"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr.trim(),
        "error: unknown base origin/release: pass --base with a branch, tag or commit that exists (or `git fetch --no-tags origin +refs/heads/release:refs/remotes/origin/release`)"
    );
    assert!(!repo.path("target/xtask/perf/base").exists(), "nothing was checked out");
}

#[test]
fn a_scenario_file_that_does_not_parse_names_its_file_and_line() {
    let repo = monorepo();
    repo.write("components/svc/perf.toml", &PERF_TOML.replace("samples = 5", "samples = \"many\""));
    let run = repo.run(&["perf", "svc", "--base", "main"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.starts_with("error: malformed components/svc/perf.toml line 9: "), "{}", run.stderr);
    assert!(run.stderr.trim_end().ends_with("(fix the file)"), "{}", run.stderr);
    // A component named without scenarios is bad input too.
    repo.component("other", &[], &[]);
    let run = repo.run(&["perf", "other"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("other has no components/other/perf.toml: declare its scenarios there"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_service_that_does_not_start_names_the_tree_and_its_log() {
    let repo = monorepo();
    repo.write(
        "components/svc/serve.py",
        "import sys\n\nprint('cannot open the store: /srv/missing', file=sys.stderr)\nsys.exit(3)\n",
    );
    commit(&repo, "head's service breaks");
    let run = repo.run(&["perf", "--base", "main"]);
    assert_eq!(run.code, 1, "no verdict is a failed gate");
    assert!(run.stdout.contains("the head service of svc (from "), "{}", run.stdout);
    assert!(run.stdout.contains("did not start (exit status: 3); the last lines of "), "{}", run.stdout);
    assert!(run.stdout.contains("  | cannot open the store: /srv/missing"), "{}", run.stdout);
    assert!(!run.stdout.contains("the base service"), "base started: {}", run.stdout);
    let report: serde_json::Value = serde_json::from_str(&repo.read("target/xtask/perf.json")).unwrap();
    assert!(report["rows"][0]["error"].as_str().unwrap().contains("head service"), "{report}");
    // The same break as the base, fixed in head: now base is the one named.
    git(repo.root(), &["checkout", "--quiet", "-b", "fixed"]);
    repo.write("components/svc/serve.py", SERVE);
    commit(&repo, "head's service works again");
    let run = repo.run(&["perf", "--base", "feature"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("the base service of svc (from "), "{}", run.stdout);
    assert!(run.stdout.contains("/target/xtask/perf/base) did not start (exit status: 3)"), "{}", run.stdout);
    assert!(run.stdout.contains("  | cannot open the store: /srv/missing"), "{}", run.stdout);
}

#[test]
fn a_slower_head_fails_with_its_scenario_and_ratio_and_a_a_passes() {
    let repo = monorepo();
    // Three times as slow: a clear regression even when a loaded machine adds
    // tens of ms to some samples (at 1.5x, one such sample hid it: p 0.06).
    repo.write("components/svc/src/svc_pkg/__init__.py", &work(0.06));
    commit(&repo, "work() three times as slow");
    let run = repo.run(&["perf", "--base", "main", "--json"]);
    assert_eq!(run.code, 1, "a regression fails the gate");
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("  svc/work ") && l.contains("lower is better"))
        .expect("the scenario's row");
    assert!(line.contains("REGRESSION: "), "{line}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let ratio = report["rows"][0]["verdict"]["ratio"].as_f64().unwrap();
    // Scheduling delay adds to both sides, so the ratio sits below 3.
    assert!((1.8..3.5).contains(&ratio), "head sleeps 60 ms, base 20 ms: {ratio}");
    assert_eq!(report["rows"][0]["measured"]["base"].as_array().unwrap().len(), 5);
    // The same base against itself: the harness is head's, the code base's.
    let run = repo.run(&["perf", "--base", "main", "--aa"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains("A/A: base "), "{}", run.stdout);
}
