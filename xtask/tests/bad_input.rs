//! Bad input and a bad machine: missing or old python, Ctrl-C, doctor.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};
use support::{alive, Repo};

/// A folder holding one executable script, for a PATH without the real tools.
fn bin_with(repo: &Repo, name: &str, script: &str) -> std::path::PathBuf {
    let bin = repo.path("fakebin");
    std::fs::create_dir_all(&bin).unwrap();
    let p = bin.join(name);
    std::fs::write(&p, script).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[test]
fn python_missing_names_the_fix() {
    let repo = Repo::new();
    repo.passing("alpha");
    let empty = repo.path("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let mut cmd = repo.command(&["test", "alpha"]);
    cmd.env("PATH", &empty);
    let run = support::run(cmd);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("python3 not found on PATH: install Python >= 3.11"), "{}", run.stderr);
    assert!(!repo.path("target/venvs").exists());
}

#[test]
fn python_too_old_names_the_fix() {
    let repo = Repo::new();
    repo.passing("alpha");
    // An interpreter that reports itself as 3.8, the way a real one prints the probe.
    let bin = bin_with(&repo, "python3", "#!/bin/sh\necho 3.8.10\necho /usr/bin/python3.8\n");
    let mut cmd = repo.command(&["test", "alpha"]);
    cmd.env("PATH", &bin);
    let run = support::run(cmd);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("is Python 3.8.10, too old: the pipeline needs Python >= 3.11"), "{}", run.stderr);
}

#[test]
fn doctor_lists_tools_and_fails_when_a_required_one_is_missing() {
    let repo = Repo::new();
    let run = repo.run(&["doctor"]);
    assert_eq!(run.code, 0, "this machine has every required tool");
    assert!(run.stdout.contains("pytest=="));
    let empty = repo.path("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let mut cmd = repo.command(&["doctor"]);
    cmd.env("PATH", &empty);
    let run = support::run(cmd);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("install: apt-get install python3 python3-venv"));
    assert!(run.stdout.contains("install: pip install uv"));
}

fn wait_for(what: &str, deadline: Duration, mut ready: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !ready() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ctrl_c_ends_every_child_and_reports_no_partial_results() {
    let repo = Repo::new();
    repo.passing("alpha");
    // A test that starts a grandchild, records both pids, then blocks.
    let blocking = "import os, subprocess, threading\n\n\ndef test_blocks():\n    child = subprocess.Popen(['sleep', '300'])\n    with open(os.environ['PIDS'], 'w') as f:\n        f.write(f'{os.getpid()} {child.pid}')\n    threading.Event().wait()\n";
    repo.component("slow", &[], &[("test_slow.py", blocking)]);
    let pids = repo.path("pids");
    // A stale result from an earlier run must not survive as this run's result.
    repo.write("target/test-results/slow.xml", "<testsuites><testsuite tests=\"9\"></testsuite></testsuites>");

    let mut cmd = repo.command(&["test", "slow", "alpha"]);
    cmd.env("PIDS", &pids).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    wait_for("the blocking test to start", Duration::from_secs(120), || {
        std::fs::read_to_string(&pids).is_ok_and(|s| s.contains(' '))
    });
    let text = std::fs::read_to_string(&pids).unwrap();
    let pids: Vec<u32> = text.split_whitespace().map(|p| p.parse().unwrap()).collect();
    // SAFETY: sends SIGINT to the xtask we started, as a terminal's Ctrl-C would.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}\n{stderr}");
    assert_eq!(out.status.code(), Some(130));
    assert!(stderr.contains("interrupted: running tasks were stopped"));
    assert!(stdout.contains("test:slow") && stdout.contains("interrupted"));
    // An interrupted suite counts no tests: the table says what became of it.
    assert!(stdout.contains("  test:slow: interrupted: stopped, its partial results removed"), "{stdout}");
    assert!(stdout.trim_end().ends_with(" 0 failed, 0 skipped"), "{stdout}");
    for pid in pids {
        wait_for("the interrupted processes to end", Duration::from_secs(10), || !alive(pid));
    }
    // The stale file from before was removed and no partial result took its place.
    assert!(!repo.path("target/test-results/slow.xml").exists());
    let report: serde_json::Value = serde_json::from_str(&repo.read("target/xtask/report.json")).unwrap();
    let slow = report["tasks"].as_array().unwrap().iter().find(|t| t["task"]["id"] == "test:slow").unwrap();
    assert_eq!(slow["outcome"]["result"], "interrupted");
    assert!(slow["counts"].is_null());
}

#[test]
fn logs_names_unknown_environments_components_and_durations_before_any_cluster() {
    let repo = Repo::new();
    repo.passing("alpha");
    repo.write("deploy/overlays/development/kustomization.yaml", "namespace: dev\nresources: []\n");
    let run = repo.run(&["logs", "nowhere"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("nowhere"), "{}", run.stderr);
    let run = repo.run(&["logs", "development", "beta"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("unknown component `beta`: pick one of alpha"), "{}", run.stderr);
    let run = repo.run(&["logs", "development", "alpha", "--since", "soon"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("`soon` is not a duration"), "{}", run.stderr);
    let run = repo.run(&["logs", "development", "--trace", "not-a-trace"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("is not a trace id: give its 32 hex digits"), "{}", run.stderr);
}
