//! An interrupted `cargo xtask test` leaves no namespace of its run behind.
//! The fixture monorepo's only task is the Rust workspace's suite, and its
//! `cargo` (first on PATH) behaves like a suite's test binary: it makes a
//! namespace labelled with the run's id (`XTASK_TEST_RUN`), then waits to be
//! stopped. The stage is sent SIGINT (a terminal's Ctrl-C) or SIGTERM (CI
//! cancelling a job); it stops the binary, which runs no cleanup of its own,
//! and must remove the namespace itself, and nothing of another run's.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use support::deploy::cleanup;
use support::{cluster, Cluster, Repo};

/// What the stage runs as cargo: a test binary that leaks its namespace when killed.
const FAKE_CARGO: &str = r#"#!/usr/bin/env python3
import os, pathlib, signal, subprocess
run = os.environ["XTASK_TEST_RUN"]
ns = os.environ["FAKE_NAMESPACE"]
yaml = (f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n  labels:\n"
        f"    xtask.dev/fixture: 'true'\n    xtask.dev/test-run: '{run}'\n")
subprocess.run([os.environ["XTASK_KUBECTL"], "--kubeconfig", os.environ["XTASK_TEST_KUBECONFIG"],
                "create", "-f", "-"], input=yaml.encode(), check=True)
pathlib.Path(os.environ["FAKE_MARKER"]).write_text(run)
signal.pause()
"#;

/// Poll `done` every 50 ms until it holds or `within` passes.
fn poll(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

/// Gone, or on its way (deleted without waiting for its contents).
fn removed(c: &Cluster, ns: &str) -> bool {
    let out = c.kubectl(&["get", "namespace", ns, "-o", "jsonpath={.metadata.deletionTimestamp}"]);
    !out.status.success() || !String::from_utf8_lossy(&out.stdout).trim().is_empty()
}

fn finish(mut child: Child) -> (i32, String) {
    let ended = poll(Duration::from_secs(40), || child.try_wait().unwrap().is_some());
    if !ended {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("{text}");
    assert!(ended, "the interrupted stage did not end within 40 s");
    (out.status.code().unwrap_or(-1), text)
}

fn interrupted_run_leaves_nothing(signal: i32, test: &str) {
    let c = cluster();
    let repo = Repo::new();
    repo.write("Cargo.toml", "[workspace]\nmembers = []\n");
    let bin = repo.path("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("cargo"), FAKE_CARGO).unwrap();
    std::fs::set_permissions(bin.join("cargo"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ns = support::platform::namespace(test);
    let _ours = cleanup(Some(&c), &ns);
    // Another run's namespace (this test binary's): not the interrupted run's to remove.
    let other = support::platform::namespace(&format!("{test}-other"));
    let _other = cleanup(Some(&c), &other);
    c.create_namespace(&other);
    let marker = repo.path("started");

    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let child = repo
        .command(&["--root", repo.root().to_str().unwrap(), "test", "--no-cache"])
        .env("PATH", path)
        .env("XTASK_TEST_KUBECONFIG", &c.kubeconfig)
        .env("XTASK_KUBECTL", &c.kubectl)
        // An outer run's id must not be what the stage sweeps.
        .env("XTASK_TEST_RUN", support::fixture_ns::run_id())
        .env("FAKE_NAMESPACE", &ns)
        .env("FAKE_MARKER", &marker)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let started = poll(Duration::from_secs(60), || marker.is_file());
    if !started {
        // SAFETY: kill(2) on the child this test started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let run_id = std::fs::read_to_string(&marker).unwrap_or_default();
    assert!(started && c.has_namespace(&ns), "the fake test binary never made {ns}");
    assert_ne!(run_id, support::fixture_ns::run_id(), "the stage gives its run an id of its own");

    // SAFETY: kill(2) on the child this test started.
    unsafe { libc::kill(pid, signal) };
    let (code, text) = finish(child);
    assert_eq!(code, 130, "an interrupted stage exits 130");
    assert!(
        text.contains(&format!("test: removed 1 fixture namespace(s) of test run {run_id}: {ns}\n")),
        "the stage says what it removed: {text}"
    );
    assert!(removed(&c, &ns), "{ns} is still there after the interrupted run");
    assert!(!removed(&c, &other), "another run's namespace {other} was removed");
}

#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn ctrl_c_during_the_test_stage_removes_the_runs_namespaces() {
    interrupted_run_leaves_nothing(libc::SIGINT, "sweep-int");
}

#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn sigterm_during_the_test_stage_removes_the_runs_namespaces() {
    interrupted_run_leaves_nothing(libc::SIGTERM, "sweep-term");
}
