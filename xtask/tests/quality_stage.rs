//! The quality stage against fixture components, each with one planted defect.

use crate::support;

use std::path::Path;
use support::Repo;

/// A repo with the real tool configuration and offline vulnerability database.
fn repo() -> Repo {
    let repo = Repo::new();
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for f in [
        "tools/flake8.cfg",
        "tools/quality.toml",
        "tools/safety-db/insecure.json",
        "tools/safety-db/insecure_full.json",
    ] {
        repo.write(f, &std::fs::read_to_string(real.join(f)).unwrap());
    }
    repo
}

const CLEAN: &str = "\"\"\"A clean module.\"\"\"\n\n\ndef double(x: int) -> int:\n    return x * 2\n";

fn module(repo: &Repo, name: &str, deps: &[&str], body: &str) {
    repo.component(name, deps, &[]);
    repo.write(&format!("components/{name}/src/{name}_pkg/__init__.py"), body);
}

fn finding_line(out: &str, needle: &str) -> String {
    out.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no finding `{needle}` in:\n{out}")).to_string()
}

#[test]
fn each_planted_defect_is_reported_with_tool_file_and_line() {
    let repo = repo();
    module(&repo, "clean", &[], CLEAN);
    module(&repo, "lint", &[], "\"\"\"Lint.\"\"\"\n\nimport os\n\n\ndef f() -> int:\n    return 1\n");
    module(&repo, "fmt", &[], "def f( x:int )->int:\n    return x\n");
    module(&repo, "imports", &[], "import sys\nimport os\n\nprint(os.sep, sys.argv)\n");
    module(&repo, "types", &[], "def f(x: int) -> str:\n    return x\n");
    let shell = "\"\"\"Runs a command.\"\"\"\n\nimport subprocess\n\n\ndef run(cmd: str) -> None:\n    subprocess.run(cmd, shell=True, check=False)\n";
    module(&repo, "sec", &[], shell);
    module(&repo, "audit", &["urllib3==1.24.1"], CLEAN);

    let cases = [
        ("lint", "lint", "components/lint/src/lint_pkg/__init__.py:3:1: flake8 F401"),
        ("fmt", "fmt", "components/fmt/src/fmt_pkg/__init__.py:1: black reformat"),
        ("imports", "imports", "components/imports/src/imports_pkg/__init__.py:1: isort unsorted"),
        ("typecheck", "types", "components/types/src/types_pkg/__init__.py:2:12: mypy return-value"),
        ("security", "sec", "components/sec/src/sec_pkg/__init__.py:7:5: bandit B602"),
        ("audit", "audit", "safety CVE-2019-11236"),
    ];
    for (command, component, expected) in cases {
        let args: Vec<&str> = if command == "fmt" || command == "imports" {
            vec![command, "--check", component, "clean"]
        } else {
            vec![command, component, "clean"]
        };
        let run = repo.run(&args);
        assert_eq!(run.code, 1, "{command} {component}");
        let line = finding_line(&run.stdout, expected);
        if command == "audit" {
            // The fixture requires urllib3 itself: the finding points at that line of its pyproject.
            assert!(line.trim_start().starts_with("components/audit/pyproject.toml:8:"), "{line}");
            assert!(line.contains("urllib3 1.24.1 is vulnerable"), "{line}");
            assert!(run.stdout.contains("warning: the vulnerability database tools/safety-db is "), "{}", run.stdout);
            assert!(run.stdout.contains("days old (dated 2021-07-01)"), "{}", run.stdout);
        }
        assert!(
            run.stdout.lines().any(|l| l.trim_start().starts_with(&format!("{command}:clean")) && l.contains("passed")),
            "{}",
            run.stdout
        );
        let report: serde_json::Value = serde_json::from_str(&repo.read("target/xtask/report.json")).unwrap();
        let bad = report["tasks"].as_array().unwrap().iter().find(|t| t["task"]["component"] == component).unwrap();
        assert_eq!(bad["outcome"]["result"], "failed");
        assert!(!bad["findings"].as_array().unwrap().is_empty());
    }

    // The clean fixture passes every check, and a clean run prints its summary and little else.
    let run = repo.run(&["quality", "clean"]);
    assert_eq!(run.code, 0);
    assert_eq!(run.last_line(), "6 passed, 0 failed, 0 skipped");
    assert!(run.stdout.lines().count() < 30, "{}", run.stdout);
    assert!(!run.stdout.contains("\"results\""), "bandit's JSON of a passing task is not printed: {}", run.stdout);

    // On GitHub the findings become annotations.
    let mut cmd = repo.command(&["lint", "lint"]);
    cmd.env("GITHUB_ACTIONS", "true").env("XTASK_SAFETY_DB", "offline");
    let run = support::run(cmd);
    assert!(
        run.stdout.contains("::error file=components/lint/src/lint_pkg/__init__.py,line=3,col=1,title=flake8 F401::"),
        "{}",
        run.stdout
    );
}

#[test]
fn fmt_and_imports_fix_in_place_then_check_clean() {
    let repo = repo();
    module(
        &repo,
        "messy",
        &[],
        "import sys\nimport os\n\n\ndef f( x:int )->int:\n    return x+len(os.sep)+len(sys.argv)\n",
    );
    assert_eq!(repo.run(&["fmt", "--check", "messy"]).code, 1);
    // Each fixing run is named after its command and lists the files it rewrote.
    let file = "components/messy/src/messy_pkg/__init__.py";
    let run = repo.run(&["fmt", "messy"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("summary of fmt\n"), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("  fmt:messy: rewrote 1 file(s): {file}\n")), "{}", run.stdout);
    let run = repo.run(&["imports", "messy"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains(&format!("  imports:messy: rewrote 1 file(s): {file}\n")), "{}", run.stdout);
    let run = repo.run(&["imports", "messy"]);
    assert!(run.stdout.contains("  imports:messy: nothing to rewrite\n"), "{}", run.stdout);
    let fixed = repo.read("components/messy/src/messy_pkg/__init__.py");
    assert!(fixed.starts_with("import os\nimport sys\n"), "{fixed}");
    assert!(fixed.contains("def f(x: int) -> int:"), "{fixed}");
    assert_eq!(repo.run(&["fmt", "--check", "messy"]).code, 0);
    assert_eq!(repo.run(&["imports", "--check", "messy"]).code, 0);
}

#[test]
fn a_crashing_tool_and_a_missing_tool_are_errors_not_findings() {
    let repo = repo();
    module(&repo, "broken", &[], "def f(:\n");
    let run = repo.run(&["fmt", "--check", "broken"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("fmt:broken: black could not run (exit 123)"), "{}", run.stdout);

    module(&repo, "fine", &[], CLEAN);
    std::fs::remove_file(repo.path("tools/flake8.cfg")).unwrap();
    let run = repo.run(&["lint", "fine"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("lint:fine: flake8 could not run (exit 1)"), "{}", run.stdout);

    std::fs::remove_file(repo.path("target/venvs/.tools/bin/bandit")).unwrap();
    let run = repo.run(&["security", "fine"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("security:fine  error"), "{}", run.stdout);
    assert!(run.stdout.contains("cannot start"), "{}", run.stdout);
}
