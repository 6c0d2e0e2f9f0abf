//! The task cache and `--affected` against fixture monorepos that are git
//! repositories made in temp dirs.

use crate::support;

use std::path::Path;
use support::Repo;

/// Run git in the fixture, with an identity of its own; panics on failure.
fn git(repo: &Repo, args: &[&str]) -> String {
    support::git(repo.root(), args)
}

/// A fixture monorepo under git on `main`, ignoring what the real one ignores.
fn git_repo() -> Repo {
    let repo = Repo::new();
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.gitignore");
    repo.write(".gitignore", &std::fs::read_to_string(real).unwrap());
    git(&repo, &["init", "--quiet", "--initial-branch=main"]);
    repo
}

fn commit(repo: &Repo, msg: &str) {
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "--quiet", "--allow-empty", "-m", msg]);
}

/// `test: N task(s), C cached, …`: how many tasks were replayed.
fn cached(run: &support::Run) -> usize {
    let line = run.stdout.lines().find(|l| l.starts_with("test: ")).expect("the run names its tasks");
    line.split(", ").nth(1).and_then(|w| w.split(' ').next()).and_then(|n| n.parse().ok()).unwrap()
}

/// `base`, and `top` depending on it.
fn chain(repo: &Repo) {
    repo.passing("base");
    let body = "from top_pkg import answer\n\n\ndef test_answer():\n    assert answer() == 42\n";
    repo.component("top", &["fx-base"], &[("test_top.py", body)]);
    repo.write("components/top/src/top_pkg/util.py", "Y = 2\n");
    commit(repo, "components");
}

#[test]
fn a_second_run_replays_output_and_junit_byte_for_byte() {
    let repo = git_repo();
    repo.passing("alpha");
    commit(&repo, "alpha");
    let first = repo.run(&["test"]);
    assert_eq!((first.code, cached(&first)), (0, 0));
    let junit = std::fs::read(repo.path("target/test-results/alpha.xml")).unwrap();
    let log = std::fs::read(repo.path("target/xtask/logs/test-alpha.log")).unwrap();
    std::fs::remove_file(repo.path("target/test-results/alpha.xml")).unwrap();

    let second = repo.run(&["test"]);
    assert_eq!((second.code, cached(&second)), (0, 1));
    assert!(second.stdout.contains("test:alpha cached (passed in "), "{}", second.stdout);
    assert!(second.stdout.contains("  test:alpha  cached       2       0        0"), "{}", second.stdout);
    assert_eq!(second.last_line(), first.last_line());
    assert_eq!(std::fs::read(repo.path("target/test-results/alpha.xml")).unwrap(), junit);
    assert_eq!(std::fs::read(repo.path("target/xtask/logs/test-alpha.log")).unwrap(), log);
    let report: serde_json::Value = serde_json::from_str(&repo.read("target/xtask/report.json")).unwrap();
    assert_eq!(report["tasks"][0]["cached"], true);
    assert_eq!(report["tasks"][0]["counts"]["passed"], 2);

    let why = repo.run(&["cache", "why", "test:alpha"]);
    assert!(why.stdout.contains("test:alpha: no input changed since its last success"), "{}", why.stdout);
    let forced = repo.run(&["test", "--no-cache"]);
    assert_eq!((forced.code, cached(&forced)), (0, 0));
    assert_eq!(repo.run(&["cache", "clean"]).stdout, "removed target/xtask/cache\n");
    assert_eq!(cached(&repo.run(&["test"])), 0);
}

#[test]
fn every_kind_of_input_change_reruns_what_it_touches() {
    let repo = git_repo();
    chain(&repo);
    let run = |args: &[&str]| {
        let r = repo.run(args);
        assert_eq!(r.code, 0);
        cached(&r)
    };
    assert_eq!(run(&["test"]), 0);
    assert_eq!(run(&["test"]), 2);
    // A dependency's source: both re-run; `cache why` names the file.
    repo.write("components/base/src/base_pkg/__init__.py", "def answer() -> int:\n    return 6 * 7\n");
    let why = repo.run(&["cache", "why", "test:top"]);
    assert!(why.stdout.contains("  changed  file:components/base/src/base_pkg/__init__.py"), "{}", why.stdout);
    assert_eq!(run(&["test"]), 0);
    // A new untracked file in the dependent: only it re-runs.
    repo.write("components/top/src/top_pkg/extra.py", "X = 1\n");
    assert_eq!(run(&["test"]), 1);
    // An ignored file is no input.
    repo.write("components/top/build/junk.txt", "ignored\n");
    assert_eq!(run(&["test"]), 2);
    // A deleted file, then the same file under a new name.
    std::fs::remove_file(repo.path("components/top/src/top_pkg/util.py")).unwrap();
    assert_eq!(run(&["test"]), 1);
    repo.write("components/top/src/top_pkg/util2.py", "Y = 2\n");
    assert_eq!(run(&["test"]), 1);
    // Back to inputs that passed before: replayed, whatever happened in between.
    std::fs::remove_file(repo.path("components/top/src/top_pkg/util2.py")).unwrap();
    assert_eq!(run(&["test"]), 2);
    // A declared environment variable, and the command line (pytest arguments).
    assert_eq!(run(&["test", "top", "--", "-q"]), 0);
    assert_eq!(run(&["test", "top", "--", "-q"]), 1);
    let mut cmd = repo.command(&["test"]);
    cmd.env("PYTEST_ADDOPTS", "-p no:cacheprovider");
    assert_eq!(cached(&support::run(cmd)), 0);
    // The shared pins: every task (and environment) is redone.
    let pins = repo.read("tools/python-tools.txt");
    repo.write("tools/python-tools.txt", &format!("{pins}\n# a comment\n"));
    assert_eq!(run(&["test"]), 0);
    assert_eq!(run(&["test"]), 2);
    // The environment's fingerprint: a rebuilt environment is a new tool.
    std::fs::write(repo.path("target/venvs/base/.xtask-fingerprint"), "stale").unwrap();
    assert_eq!(run(&["test"]), 1, "base re-runs (and rebuilds its environment); top's is untouched");
}

#[test]
fn failures_are_never_cached() {
    let repo = git_repo();
    repo.failing("broken");
    commit(&repo, "broken");
    for _ in 0..2 {
        let run = repo.run(&["test"]);
        assert_eq!((run.code, cached(&run)), (1, 0));
        assert!(run.stdout.contains("planted failure"));
    }
    let entries = repo.path("target/xtask/cache/entries");
    assert!(!entries.exists() || std::fs::read_dir(entries).unwrap().next().is_none());
    let why = repo.run(&["cache", "why", "test:broken"]);
    assert_eq!(why.stdout, "test:broken has no recorded success yet: it runs next time\n");
}

#[test]
fn a_damaged_entry_is_ignored_and_rewritten() {
    let repo = git_repo();
    repo.passing("alpha");
    commit(&repo, "alpha");
    assert_eq!(cached(&repo.run(&["test"])), 0);
    let dir = repo.path("target/xtask/cache/entries");
    let entry = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    let bytes = std::fs::read(&entry).unwrap();
    std::fs::write(&entry, &bytes[..bytes.len() / 2]).unwrap();
    let run = repo.run(&["test"]);
    assert_eq!((run.code, cached(&run)), (0, 0), "a truncated entry is no hit");
    assert!(std::fs::read(&entry).unwrap().len() > bytes.len() / 2, "rewritten whole");
    assert_eq!(cached(&repo.run(&["test"])), 1);
}

#[test]
fn two_runs_at_once_share_the_cache() {
    let repo = git_repo();
    repo.passing("alpha");
    repo.passing("beta");
    commit(&repo, "two");
    // Environments first: two runs building one environment at once is another matter.
    assert_eq!(repo.run(&["test"]).code, 0);
    assert_eq!(repo.run(&["cache", "clean"]).code, 0);
    let spawn = |name: &str| repo.command(&["test", name]).stdout(std::process::Stdio::null()).spawn().unwrap();
    let (mut a, mut b) = (spawn("alpha"), spawn("beta"));
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    let run = repo.run(&["test"]);
    assert_eq!((run.code, cached(&run)), (0, 2));
    assert_eq!(run.last_line(), "4 passed, 0 failed, 0 skipped");
}

#[test]
fn outside_a_git_work_tree_the_cache_is_off() {
    let repo = Repo::new();
    repo.passing("alpha");
    let run = repo.run(&["test"]);
    assert_eq!((run.code, cached(&run)), (0, 0));
    assert!(run.stderr.contains("note: the task cache is off:"), "{}", run.stderr);
    assert_eq!(cached(&repo.run(&["test"])), 0);
    let why = repo.run(&["cache", "why", "test:alpha"]);
    assert_eq!(why.code, 2);
    assert!(why.stderr.contains("the task cache needs a git work tree"), "{}", why.stderr);
    assert_eq!(repo.run(&["cache", "why", "test:nope"]).code, 2);
}
