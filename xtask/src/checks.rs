//! The code-quality stage: flake8, black, isort, mypy, bandit and safety per
//! component (the spec's tools), and `cargo fmt`/`cargo clippy` for the Rust
//! workspace; every tool's output parsed into findings.

use crate::component::{Component, Workspace};
use crate::exec::{self, Outcome};
use crate::findings::{self, Finding, Verdict};
use crate::github::on_github;
use crate::manifests::validate as manifests_validate;
use crate::plan::{CacheSpec, ExitPolicy, Task};
use crate::printer::Printer;
use crate::python::EnvSpec;
use crate::report::Row;
use crate::workflows;
use anyhow::Result;
use std::path::Path;

/// What the Rust checks read: the workspace's sources and its Cargo and tool configuration.
pub const RUST_FILES: &[&str] = &[
    "xtask/",
    ".cargo/",
    "Cargo.toml",
    "Cargo.lock",
    "rustfmt.toml",
    "clippy.toml",
    "rust-toolchain",
    "rust-toolchain.toml",
];

/// A Python check's inputs: the component's files and the shared tool
/// configuration; mypy and safety also read the components it installs.
/// Fixing runs rewrite the tree and the online audit reads a database that
/// changes by the day: neither is cached.
fn cache_spec(ws: &Workspace, c: &Component, check: Check, fix: bool) -> Option<CacheSpec> {
    if fix || (check == Check::Audit && online_db()) {
        return None;
    }
    let mut files = vec![format!("{}/", c.path.display())];
    if matches!(check, Check::Typecheck | Check::Audit) {
        files.extend(ws.test_closure(c).iter().map(|d| format!("{}/", d.path.display())));
    }
    files.push("tools/".into());
    Some(CacheSpec { files, env: vec!["XTASK_SAFETY_DB".into()], values: Vec::new(), names: Vec::new() })
}

/// The linters' shared environment; safety has its own (it pins old packaging).
const TOOLS_ENV: &str = ".tools";
const SAFETY_ENV: &str = ".safety";
const OFFLINE_DB: &str = "tools/safety-db";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Lint,
    Format,
    Imports,
    Typecheck,
    Security,
    Audit,
}

impl Check {
    pub const ALL: [Check; 6] =
        [Check::Lint, Check::Format, Check::Imports, Check::Typecheck, Check::Security, Check::Audit];

    pub fn name(self) -> &'static str {
        match self {
            Check::Lint => "lint",
            Check::Format => "fmt",
            Check::Imports => "imports",
            Check::Typecheck => "typecheck",
            Check::Security => "security",
            Check::Audit => "audit",
        }
    }

    pub fn tool(self) -> &'static str {
        match self {
            Check::Lint => "flake8",
            Check::Format => "black",
            Check::Imports => "isort",
            Check::Typecheck => "mypy",
            Check::Security => "bandit",
            Check::Audit => "safety",
        }
    }
}

/// Which vulnerability database the audit reads: the repo's offline copy,
/// or safety's online one (in GitHub CI, which can reach it).
fn online_db() -> bool {
    match std::env::var("XTASK_SAFETY_DB").as_deref() {
        Ok("online") => true,
        Ok(_) => false,
        Err(_) => on_github(),
    }
}

pub struct Plan {
    pub tasks: Vec<Task>,
    pub envs: Vec<EnvSpec>,
}

/// Tasks for `checks` over `components`; `fix` rewrites (black, isort, cargo
/// fmt) instead of checking; `cargo` adds the Rust workspace's checks.
pub fn plan(ws: &Workspace, components: &[&Component], checks: &[Check], fix: bool, cargo: Option<&Path>) -> Plan {
    let root = &ws.root;
    let tools = EnvSpec::tools(ws, TOOLS_ENV, &["flake8", "black", "isort", "mypy", "bandit"]);
    let safety = EnvSpec::tools(ws, SAFETY_ENV, &["safety", "setuptools"]);
    let mut envs = Vec::new();
    let mut tasks = Vec::new();
    for c in components {
        let own = EnvSpec::for_tests(ws, c);
        let existing = |dirs: &[&str]| -> Vec<String> {
            let v: Vec<String> = dirs
                .iter()
                .map(|d| c.path.join(d))
                .filter(|p| root.join(p).exists())
                .map(|p| p.display().to_string())
                .collect();
            if v.is_empty() {
                vec![c.path.display().to_string()]
            } else {
                v
            }
        };
        let tests = c.tests.strip_prefix(&c.path).unwrap_or(&c.tests).display().to_string();
        for &check in checks {
            let tool = check.tool();
            let (paths, needs) = match check {
                Check::Lint => (existing(&["src", &tests]), vec![TOOLS_ENV.to_string()]),
                Check::Format | Check::Imports => (vec![c.path.display().to_string()], vec![TOOLS_ENV.to_string()]),
                Check::Typecheck => (existing(&["src", &tests]), vec![TOOLS_ENV.to_string(), c.name.clone()]),
                Check::Security => (existing(&["src"]), vec![TOOLS_ENV.to_string()]),
                Check::Audit => (vec![rel(root, &own.lock_file())], vec![SAFETY_ENV.to_string(), c.name.clone()]),
            };
            let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
            let mut argv = findings::command(tool, &paths);
            match check {
                // Without -q black names each file it rewrites.
                Check::Format if fix => argv.retain(|a| !["--check", "--diff", "-q"].contains(&a.as_str())),
                Check::Imports if fix => argv.retain(|a| !["--check-only", "--diff"].contains(&a.as_str())),
                Check::Typecheck => {
                    let cache = format!("target/mypy-cache/{}", c.name);
                    argv.splice(
                        1..1,
                        ["--python-executable".to_string(), rel(root, &own.python()), "--cache-dir".into(), cache],
                    );
                }
                Check::Audit if online_db() => {
                    let at = argv.iter().position(|a| a == "--db").expect("safety's command names the db");
                    argv.drain(at..at + 2);
                }
                _ => {}
            }
            let env = if check == Check::Audit { &safety } else { &tools };
            tasks.push(Task {
                id: format!("{}:{}", check.name(), c.name),
                stage: "quality",
                component: c.name.clone(),
                program: env.bin(tool),
                args: argv[1..].to_vec(),
                env: vec![("NO_COLOR".into(), "1".into())],
                cwd: root.clone(),
                needs,
                after: None,
                artifact: None,
                exit: ExitPolicy::Tool(tool),
                cache: cache_spec(ws, c, check, fix),
            });
        }
        if checks.iter().any(|k| matches!(k, Check::Typecheck | Check::Audit)) {
            envs.push(own);
        }
    }
    if checks.iter().any(|k| *k != Check::Audit) && !components.is_empty() {
        envs.push(tools);
    }
    if checks.contains(&Check::Audit) && !components.is_empty() {
        envs.push(safety);
    }
    if let Some(cargo) = cargo {
        let rust = |id: &str, args: &[&str], exit| Task {
            id: id.into(),
            stage: "quality",
            component: "xtask".into(),
            program: cargo.to_path_buf(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
            cwd: root.clone(),
            needs: Vec::new(),
            after: None,
            artifact: None,
            exit,
            cache: (!fix).then(|| CacheSpec {
                files: RUST_FILES.iter().map(|f| f.to_string()).collect(),
                env: vec!["RUSTFLAGS".into()],
                values: Vec::new(),
                names: Vec::new(),
            }),
        };
        if checks.contains(&Check::Format) {
            // `-l` names each file rustfmt rewrites.
            let args: &[&str] = if fix { &["fmt", "--all", "--", "-l"] } else { &["fmt", "--all", "--", "--check"] };
            tasks.push(rust("fmt:xtask", args, ExitPolicy::Tool("rustfmt")));
        }
        if checks.contains(&Check::Lint) {
            let args = ["clippy", "--workspace", "--all-targets", "--quiet", "--", "-D", "warnings"];
            tasks.push(rust("lint:xtask", &args, ExitPolicy::Cargo));
        }
    }
    Plan { tasks, envs }
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// The findings in a finished tool's output (None for tasks that are not a
/// Python tool or a manifests check).
pub fn parse(root: &Path, task: &Task, output: &str) -> Option<Result<Vec<Finding>>> {
    let ExitPolicy::Tool(tool) = task.exit else { return None };
    let mut found = match tool {
        "flake8" => Ok(findings::flake8(output)),
        "black" => Ok(findings::black(output)),
        "isort" => Ok(findings::isort(output)),
        "mypy" => Ok(findings::mypy(output)),
        "bandit" => findings::bandit(output),
        "actionlint" => workflows::actionlint(output),
        "workflows" => workflows::parse_thin(output),
        "safety" => {
            let reqs = task.args.iter().skip_while(|a| *a != "-r").nth(1).cloned().unwrap_or_default();
            let text = std::fs::read_to_string(root.join(&reqs)).unwrap_or_default();
            findings::safety(output, &[(reqs.as_str(), text.as_str())]).map(|mut found| {
                point_at_pyproject(root, &task.component, &mut found);
                found
            })
        }
        _ => manifests_validate::parse(root, task, output)?,
    };
    if let Ok(f) = &mut found {
        findings::relativize(f, root);
        f.sort_by_key(|f| f.severity);
    }
    Some(found)
}

/// A vulnerable package the component requires itself is reported at the
/// line of its pyproject that requires it (a file a reader can open and an
/// annotation can point at); a transitive one stays at the resolved list.
fn point_at_pyproject(root: &Path, component: &str, found: &mut [Finding]) {
    let file = format!("components/{component}/pyproject.toml");
    let Ok(text) = std::fs::read_to_string(root.join(&file)) else { return };
    let canonical = |s: &str| s.to_lowercase().replace(['_', '.'], "-");
    for f in found.iter_mut() {
        let package = canonical(f.message.split_whitespace().next().unwrap_or_default());
        // A requirement is a quoted string starting with the package's name.
        let at = text.lines().position(|l| {
            l.split(['"', '\'']).skip(1).step_by(2).any(|quoted| {
                let name: String =
                    quoted.chars().take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
                !name.is_empty() && canonical(&name) == package
            })
        });
        if let Some(i) = at {
            f.file = file.clone();
            f.line = Some(i as u32 + 1);
        }
    }
}

/// The outcome from the exit code and what was parsed: exit 1 with nothing
/// parsed is a tool that could not run (flake8 and isort exit 1 then too).
pub fn review(root: &Path, task: &Task, code: Option<i32>, output: &str) -> Outcome {
    let (ExitPolicy::Tool(tool), Some(code)) = (task.exit, code) else { return exec::judge(task.exit, code) };
    match parse(root, task, output) {
        None => exec::judge(task.exit, Some(code)),
        Some(Err(e)) => Outcome::Error(format!("cannot read {tool}'s output (exit {code}): {e:#}")),
        Some(Ok(found)) => match findings::verdict(tool, code, &found) {
            Verdict::Clean => Outcome::Passed,
            Verdict::Findings => Outcome::Failed(format!("{} finding(s)", found.len())),
            Verdict::Error => Outcome::Error(format!("{tool} could not run (exit {code}): see its output")),
        },
    }
}

/// What a fixing run changed, for the summary.
pub fn rewrote_note(files: &[String]) -> String {
    match files {
        [] => "nothing to rewrite".into(),
        _ => format!("rewrote {} file(s): {}", files.len(), files.join(", ")),
    }
}

/// How old an offline database may be before the audit says it misses advisories.
pub const DB_MAX_AGE_DAYS: i64 = 90;

/// The offline database's date, as a warning with the refresh command once it is stale.
pub fn db_age_note(db: &findings::SafetyDb, now: i64) -> String {
    let days = (now - db.timestamp).max(0) / 86_400;
    if days <= DB_MAX_AGE_DAYS {
        return format!("vulnerability database: {OFFLINE_DB} (offline copy dated {})", db.date);
    }
    format!(
        "warning: the vulnerability database {OFFLINE_DB} is {days} days old (dated {}): advisories published since are not checked; refresh it as {OFFLINE_DB}/README.md says (refresh.py), or use the online database (XTASK_SAFETY_DB=online)",
        db.date
    )
}

pub fn db_note(root: &Path) -> String {
    if online_db() {
        return "vulnerability database: safety's online database (as served today)".into();
    }
    let file = root.join(OFFLINE_DB).join("insecure_full.json");
    match std::fs::read_to_string(&file).map_err(anyhow::Error::from).and_then(|t| findings::safety_db(&t)) {
        Ok(db) => db_age_note(&db, crate::clock::now() as i64),
        Err(e) => format!("vulnerability database: {OFFLINE_DB} is unreadable: {e:#}"),
    }
}

/// Findings per component; on GitHub also as annotations, most severe first
/// (GitHub shows only the first few of a step).
pub fn print_findings(rows: &[Row], out: &Printer) {
    let mut all: Vec<&Finding> = Vec::new();
    let mut text = String::new();
    let mut components: Vec<&str> = rows.iter().map(|r| r.finished.task.component.as_str()).collect();
    components.dedup();
    for comp in components {
        let found: Vec<&Finding> = rows
            .iter()
            .filter(|r| r.finished.task.component == comp)
            .flat_map(|r| r.findings.iter().flatten())
            .collect();
        if found.is_empty() {
            continue;
        }
        text += &format!("findings in {comp}:\n");
        for f in &found {
            let at = match (f.line, f.column) {
                (Some(l), Some(c)) => format!("{}:{l}:{c}", f.file),
                (Some(l), None) => format!("{}:{l}", f.file),
                _ => f.file.clone(),
            };
            text += &format!("  {at}: {} {} [{:?}] {}\n", f.tool, f.code, f.severity, f.message);
        }
        all.extend(found);
    }
    if !text.is_empty() {
        out.line(text.trim_end());
    }
    if out.github {
        all.sort_by_key(|f| f.severity);
        for f in all {
            out.line(&findings::annotation(f));
        }
    }
}

#[cfg(test)]
#[path = "checks_tests.rs"]
mod tests;
