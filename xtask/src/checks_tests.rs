use super::*;

fn workspace() -> (tempfile::TempDir, Workspace) {
    crate::testkit::workspace(&[
        ("components/storage/pyproject.toml", "[project]\nname = \"mlops-storage\"\n"),
        ("components/storage/src/", ""),
        ("components/storage/tests/", ""),
    ])
}

fn lines(ws: &Workspace, plan: &Plan) -> Vec<String> {
    plan.tasks.iter().map(|t| format!("{} = {}", t.id, t.command_line(&ws.root))).collect()
}

#[test]
fn quality_plans_every_tool_per_component_with_the_shared_config() {
    std::env::set_var("XTASK_SAFETY_DB", "offline");
    let (_dir, ws) = workspace();
    let comps = ws.select(&[]).unwrap();
    let plan = plan(&ws, &comps, &Check::ALL, false, Some(Path::new("/bin/cargo")));
    assert_eq!(
        lines(&ws, &plan),
        [
            "lint:storage = NO_COLOR=1 target/venvs/.tools/bin/flake8 --config tools/flake8.cfg --color=never components/storage/src components/storage/tests",
            "fmt:storage = NO_COLOR=1 target/venvs/.tools/bin/black --check --diff -q --no-color --config tools/quality.toml components/storage",
            "imports:storage = NO_COLOR=1 target/venvs/.tools/bin/isort --check-only --diff --settings-path tools/quality.toml components/storage",
            "typecheck:storage = NO_COLOR=1 target/venvs/.tools/bin/mypy --python-executable target/venvs/storage/bin/python --cache-dir target/mypy-cache/storage --config-file tools/quality.toml --show-column-numbers --show-error-codes --no-error-summary --no-pretty --no-color-output components/storage/src components/storage/tests",
            "security:storage = NO_COLOR=1 target/venvs/.tools/bin/bandit -f json -q -c tools/quality.toml -r components/storage/src",
            "audit:storage = NO_COLOR=1 target/venvs/.safety/bin/safety check --json --db tools/safety-db -r target/venvs/storage/requirements.txt",
            "fmt:xtask = /bin/cargo fmt --all -- --check",
            "lint:xtask = /bin/cargo clippy --workspace --all-targets --quiet -- -D warnings",
        ]
    );
    let typecheck = &plan.tasks[3];
    assert_eq!(typecheck.needs, [".tools", "storage"]);
    assert_eq!(plan.tasks[5].needs, [".safety", "storage"]);
    let envs: Vec<_> = plan.envs.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(envs, ["storage", ".tools", ".safety"]);
}

#[test]
fn fix_mode_rewrites_instead_of_checking() {
    let (_dir, ws) = workspace();
    let comps = ws.select(&[]).unwrap();
    let plan = plan(&ws, &comps, &[Check::Format, Check::Imports], true, Some(Path::new("/bin/cargo")));
    assert_eq!(
        lines(&ws, &plan),
        [
            "fmt:storage = NO_COLOR=1 target/venvs/.tools/bin/black --no-color --config tools/quality.toml components/storage",
            "imports:storage = NO_COLOR=1 target/venvs/.tools/bin/isort --settings-path tools/quality.toml components/storage",
            "fmt:xtask = /bin/cargo fmt --all -- -l",
        ]
    );
}

#[test]
fn review_tells_findings_from_a_tool_that_could_not_run() {
    let (_dir, ws) = workspace();
    let comps = ws.select(&[]).unwrap();
    let plan = plan(&ws, &comps, &[Check::Lint], false, None);
    let lint = &plan.tasks[0];
    let found = "components/storage/src/x.py:1:1: F401 'os' imported but unused\n";
    assert_eq!(review(&ws.root, lint, Some(1), found), Outcome::Failed("1 finding(s)".into()));
    assert_eq!(review(&ws.root, lint, Some(0), ""), Outcome::Passed);
    // flake8 exits 1 with nothing printed when its config is missing.
    assert!(matches!(review(&ws.root, lint, Some(1), ""), Outcome::Error(_)));
    assert!(matches!(review(&ws.root, lint, Some(2), ""), Outcome::Error(_)));
}

#[test]
fn a_fixing_run_names_the_files_it_rewrote() {
    assert_eq!(rewrote_note(&[]), "nothing to rewrite");
    assert_eq!(rewrote_note(&["a.py".into(), "b.py".into()]), "rewrote 2 file(s): a.py, b.py");
}

#[test]
fn a_stale_vulnerability_database_is_a_warning_with_the_refresh() {
    let db = findings::SafetyDb { advisory: String::new(), timestamp: 1_625_097_600, date: "2021-07-01".into() };
    let fresh = db_age_note(&db, 1_625_097_600 + 30 * 86_400);
    assert_eq!(fresh, "vulnerability database: tools/safety-db (offline copy dated 2021-07-01)");
    let stale = db_age_note(&db, 1_625_097_600 + 1_979 * 86_400);
    assert!(
        stale.starts_with("warning: the vulnerability database tools/safety-db is 1979 days old (dated 2021-07-01)"),
        "{stale}"
    );
    assert!(stale.contains("refresh.py") && stale.contains("XTASK_SAFETY_DB=online"), "{stale}");
}
