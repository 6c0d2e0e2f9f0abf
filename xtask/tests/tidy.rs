//! Repo rules as ordinary tests.

use std::path::Path;
use std::process::Command;

fn repo_file(rel: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

/// The subcommands as `--help` lists them.
fn subcommands() -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let list = &help[help.find("Commands:").expect("help lists commands")..];
    list.lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(String::from)
        .collect()
}

/// The CLI reference is generated (`cargo xtask docs cli`; `doc_pages` checks
/// it is fresh): every subcommand `--help` lists has its section there.
#[test]
fn docs_mention_every_subcommand() {
    let subs = subcommands();
    assert!(subs.contains(&"test".to_string()), "{subs:?}");
    let text = repo_file("docs/reference/cli.md");
    for sub in &subs {
        assert!(
            text.contains(&format!("[`cargo xtask {sub}`](cli/{sub}.md#cargo-xtask-{sub})")),
            "docs/reference/cli.md does not list `cargo xtask {sub}`: run `cargo xtask docs cli`"
        );
    }
}

#[test]
fn ci_runs_the_readme_test_command() {
    let readme = repo_file("README.md");
    assert!(readme.contains("cargo xtask test     # run all tests"));
    // .ci/run ends with the main-branch plan, which runs the README's test command as a stage.
    let ci = repo_file(".ci/run");
    let last = ci.lines().rfind(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')).unwrap();
    assert_eq!(
        last, "cargo xtask ci --event push --ref refs/heads/main",
        ".ci/run's last step is the main-branch plan"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["ci", "--event", "push", "--ref", "refs/heads/main", "--plan", "--json"])
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let commands: Vec<&str> = plan["stages"].as_array().unwrap().iter().filter_map(|s| s["command"].as_str()).collect();
    assert!(commands.contains(&"cargo xtask test"), "{commands:?}");
}

#[test]
fn every_module_in_architecture_doc() {
    let doc = repo_file("docs/explanation/architecture.md");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in walkdir::WalkDir::new(&src) {
        let entry = entry.unwrap();
        let name = entry.path().strip_prefix(&src).unwrap().display().to_string();
        if name.ends_with(".rs") && !name.ends_with("_tests.rs") {
            assert!(doc.contains(&format!("`{name}`")), "docs/explanation/architecture.md does not describe {name}");
        }
    }
}

#[test]
fn benchmarks_answer_help_and_run_nothing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // The real interpreter, not a PATH shim (shims need PATH themselves).
    let exe = Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().unwrap();
    let python = String::from_utf8(exe.stdout).unwrap().trim().to_string();
    for entry in std::fs::read_dir(root.join("bench")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "py") {
            continue;
        }
        // With an empty PATH a benchmark that ignored --help would fail to start cargo.
        let out = Command::new(&python).arg(&path).arg("--help").env("PATH", "").output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
        assert!(stdout.starts_with("usage:"), "{}: {stdout}", path.display());
    }
}

/// The workflow files, by name.
fn workflows() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.github/workflows");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml") || n.ends_with(".yaml"))
        .collect();
    names.sort();
    names
}

#[test]
fn workflows_stay_thin() {
    assert_eq!(
        workflows(),
        [
            "build-and-deploy.yml",
            "code-quality.yml",
            "performance.yml",
            "preview-down.yml",
            "preview-sweep.yml",
            "preview.yml",
            "run-tests.yml"
        ]
    );
    // Every `run:` step is one `cargo xtask` command (the rule `cargo xtask quality` applies too).
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).arg("workflows").current_dir(&root).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "a workflow grew logic:\n{stdout}");
    assert!(stdout.ends_with("7 workflow(s) checked, 0 finding(s)\n"), "{stdout}");
}

#[test]
fn docs_describe_every_workflow() {
    let doc = repo_file("docs/explanation/workflows.md");
    for name in workflows() {
        assert!(doc.contains(&format!("`{name}`")), "docs/explanation/workflows.md does not describe {name}");
    }
}

/// The docs stand alone: every repo path they name in backticks exists (paths
/// with placeholders and generated `target/` paths aside), and none points
/// outside the repository.
#[test]
fn docs_name_only_paths_that_exist_in_the_repo() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let tops = ["docs/", "components/", "deploy/", "tools/", "bench/", "xtask/", ".ci/", ".github/"];
    let mut docs = vec!["README.md".to_string()];
    for e in walkdir::WalkDir::new(root.join("docs")) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            docs.push(e.path().strip_prefix(&root).unwrap().display().to_string());
        }
    }
    for doc in docs {
        let text = repo_file(&doc);
        assert!(!text.contains("shared/"), "{doc} points outside the repository (shared/)");
        for token in text.split('`').skip(1).step_by(2) {
            let path = token.split_whitespace().next().unwrap_or("").trim_end_matches([',', ':', ')']);
            let placeholder = path.contains(['<', '*', '{', '$', '…']) || path.chars().any(|c| c.is_ascii_uppercase());
            if tops.iter().any(|t| path.starts_with(t)) && !placeholder && !path.contains("..") {
                assert!(root.join(path).exists(), "{doc} names `{path}`, which does not exist");
            }
        }
    }
}

/// What a local run writes stays in its workspace: nothing under deploy/
/// pins an image on the loopback registry (`manifests update` writes a run's
/// pins to target/, `--commit` to a branch).
#[test]
fn deploy_names_no_loopback_registry() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    for entry in walkdir::WalkDir::new(&root) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            assert!(
                !text.contains("127.0.0.1") && !text.contains("localhost:"),
                "{} names the loopback registry: a run's pins belong in target/ (cargo xtask manifests update ENV)",
                entry.path().display()
            );
        }
    }
}

/// Shell scripts are code without tests: `.ci/` holds a short entry script
/// that calls the xtask, and the control plane's, buildx's, the collector's and the signing tools' pins as data.
#[test]
fn ci_holds_a_short_entry_script_and_the_pins_as_data() {
    use std::os::unix::fs::PermissionsExt;
    let ci = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci");
    let run = repo_file(".ci/run");
    let commands = run.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')).count();
    assert!(commands <= 12, ".ci/run has {commands} command lines: put the logic in the xtask");
    for entry in walkdir::WalkDir::new(&ci) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(&ci).unwrap().display().to_string();
        if !entry.file_type().is_file() || rel == "run" {
            continue;
        }
        assert!(
            ["kube/", "buildx/", "otelcol/", "signing/"].iter().any(|p| rel.starts_with(p)),
            ".ci/{rel}: only the entry script and the pins (.ci/kube/, .ci/buildx/, .ci/otelcol/, .ci/signing/) live in .ci"
        );
        let executable = entry.metadata().unwrap().permissions().mode() & 0o111 != 0;
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        assert!(
            !executable && !text.starts_with("#!"),
            ".ci/{rel} is a script: the pins are data, the logic is the xtask's"
        );
    }
}

/// The services rule on the real workflows: run-tests.yml's full suite
/// without its `services up` step (as it was before the rule) is a finding
/// naming the job, the step and the fix.
#[test]
fn a_job_planted_without_its_services_step_fails_the_workflows_rule() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("components")).unwrap();
    let planted = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&planted).unwrap();
    for name in workflows() {
        let text = repo_file(&format!(".github/workflows/{name}"));
        std::fs::write(planted.join(&name), text).unwrap();
    }
    let run_tests = repo_file(".github/workflows/run-tests.yml");
    let step = "      - run: cargo xtask services up\n";
    assert!(run_tests.contains(step), "the full suite starts its services");
    std::fs::write(planted.join("run-tests.yml"), run_tests.replacen(step, "", 1)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["--root", dir.path().to_str().unwrap(), "workflows"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let finding = stdout.lines().find(|l| l.starts_with(".github/workflows/run-tests.yml:")).unwrap_or_default();
    assert!(
        finding.ends_with("services `cargo xtask test` needs docker, registry, base-images, buildx, kube, signing running, which job `full-suite` does not start before it: add a step `run: cargo xtask services up` before this one"),
        "{stdout}"
    );
    assert!(stdout.ends_with(&format!("{} workflow(s) checked, 1 finding(s)\n", workflows().len())), "{stdout}");
}

/// Every `xtask/tests/*.rs` file runs in exactly one `test:xtask:<suite>`
/// task (the table in xtask/src/suites.rs), and so does every test of this
/// binary: a task runs it filtered to its modules (`MODULE::`, matched
/// anywhere in a test's name), so a module named like the end of another's
/// name would run twice. A new test file in no suite fails the plan, naming
/// itself, rather than never running.
#[test]
fn every_test_file_is_in_exactly_one_xtask_suite() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--root")
        .arg(&root)
        .args(["test", "xtask", "--dry-run"])
        .output()
        .unwrap();
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{plan}{}", String::from_utf8_lossy(&out.stderr));
    let tasks: Vec<Vec<&str>> = plan
        .lines()
        .filter_map(|l| l.split_once(" --test integration -- "))
        .map(|(_, filters)| filters.split_whitespace().filter(|f| f.ends_with("::")).collect())
        .collect();
    for e in std::fs::read_dir(root.join("xtask/tests")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".rs").filter(|s| *s != "lib") else { continue };
        let runs = tasks.iter().filter(|t| t.contains(&format!("{stem}::").as_str())).count();
        assert_eq!(runs, 1, "xtask/tests/{name} runs in {runs} test:xtask tasks:\n{plan}");
    }
    let list = Command::new(std::env::current_exe().unwrap()).args(["--list", "--format", "terse"]).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    let names: Vec<&str> = list.lines().filter_map(|l| l.strip_suffix(": test")).collect();
    assert!(names.len() > 100, "{list}");
    for test in names {
        let runs = tasks.iter().filter(|t| t.iter().any(|f| test.contains(f))).count();
        assert_eq!(runs, 1, "{test} runs in {runs} test:xtask tasks:\n{plan}");
    }
    assert!(plan.lines().any(|l| l.contains("cargo test -p xtask --quiet --bins")), "the unit tests: {plan}");
}
