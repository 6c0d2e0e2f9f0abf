//! `verify` and `status` against the real local cluster (`cargo xtask services up`):
//! verify compares what the overlay renders with what runs and finishes a
//! deploy an interrupt left; a terminal's Ctrl-C during a deploy's verify;
//! status shows pods that are not ready and why, every environment at once,
//! and an environment never deployed. `#[ignore]`d: plain `cargo test`
//! counts them as skipped; `cargo xtask test` runs them when a cluster is
//! configured, and always on CI.

use crate::support;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use support::cluster;
use support::deploy::{outcomes, web, Fixture};

/// Poll `ok` until it holds or `secs` pass.
fn eventually(secs: u64, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "{what}: not within {secs}s");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Verify's polling: `get deployments,…,pods`.
const POLL: &str = "*' get deployments,'*pods*) : > \"$FX_MARK\"; sleep 2 ;;";
/// The release record written before the apply: the second `apply -f -` (the namespace is the first).
const RECORD: &str = "*' apply '*' -f -'*) n=$(($(cat \"$FX_MARK.n\" 2>/dev/null || echo 0) + 1)); echo $n > \"$FX_MARK.n\"; if [ $n = 2 ]; then : > \"$FX_MARK\"; sleep 2; fi ;;";

/// A kubectl whose calls matching `case` (a shell `case` branch) leave a mark
/// and take two seconds, so a signal sent once the mark exists lands while
/// kubectl is running, as it does for a release manager whose Ctrl-C comes
/// mid-call.
fn slow_kubectl(dir: &Path, case: &str) -> std::path::PathBuf {
    let path = dir.join("kubectl-slow");
    std::fs::write(&path, format!("#!/bin/sh\ncase \"$*\" in\n  {case}\nesac\nexec \"$FX_KUBECTL\" \"$@\"\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// `deploy development` started as a terminal starts it: in a process group
/// of its own, which the terminal's Ctrl-C signals as a whole.
fn deploy_in_a_terminal(f: &Fixture, mark: &Path, slow: &str) -> Child {
    let c = f.cluster.as_ref().unwrap();
    let mut cmd = f.command(&["deploy", "development", "--timeout", "600s"]);
    cmd.env("XTASK_KUBECTL", slow_kubectl(f.repo.root(), slow))
        .env("FX_KUBECTL", &c.kubectl)
        .env("FX_MARK", mark)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    cmd.spawn().unwrap()
}

/// Ctrl-C: SIGINT to the whole process group once the slow call is under way.
fn ctrl_c_at_the_mark(child: Child, mark: &Path) -> (i32, String, String) {
    eventually(120, "the deploy reaches the slow call", || mark.exists());
    // SAFETY: kill(2) on the process group of the deploy this test started.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("--- stdout\n{stdout}\n--- stderr\n{stderr}");
    (out.status.code().unwrap_or(-1), stdout.into_owned(), stderr.into_owned())
}

#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn ctrl_c_in_a_terminal_during_verify_exits_130_says_how_to_finish_and_status_shows_it_pending() {
    let cluster = cluster();
    let f = Fixture::new("ctrlc", Some(cluster));
    assert_eq!(f.run(&["deploy", "development"]).code, 0);
    f.build("reg.test/fx/web:2", Some("never-ready"), 600);
    let mark = f.repo.path("in-verify");
    let (code, stdout, stderr) = ctrl_c_at_the_mark(deploy_in_a_terminal(&f, &mark, POLL), &mark);
    assert_eq!(code, 130, "{stdout}\n{stderr}");
    assert!(!stderr.contains("no message"), "{stderr}");
    assert!(
        stderr.contains("development: revision 2 is applied, not verified (recorded as pending): finish it with `cargo xtask verify development`, or undo it with `cargo xtask rollback development --to 1`"),
        "{stderr}"
    );
    let c = f.cluster.as_ref().unwrap();
    assert!(!c.kubectl(&["get", "lease", "mlops-deploy-lock", "-n", &f.namespace]).status.success(), "lock released");

    // status: the applied revision is what runs, pending.
    let status = f.status();
    assert_eq!(status["running"], serde_json::json!({"revision": 2, "outcome": "pending"}));
    assert_eq!(status["current_revision"], 1);
    let text = f.run(&["status", "development"]);
    assert!(text.stdout.contains("running revision 2 (pending)"), "{}", text.stdout);
    assert!(text.stdout.contains("finish it with `cargo xtask verify development`"), "{}", text.stdout);

    // The command it named undoes it.
    let run = f.run(&["rollback", "development", "--to", "1", "--timeout", "120s"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    // A verified rollback stands (`rolled-back` is for what a rollback undid).
    assert_eq!(f.status()["running"], serde_json::json!({"revision": 3, "outcome": "succeeded"}));
}

#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn verify_finishes_a_deploy_an_interrupt_left_pending() {
    let cluster = cluster();
    let f = Fixture::new("finish", Some(cluster));
    // Ready at once, available only after 10s: verify is still waiting when Ctrl-C comes.
    let slow = web("reg.test/fx/web:1", 2, None, Some(600))
        .replace("  replicas: 2\n", "  replicas: 2\n  minReadySeconds: 10\n");
    f.build_manifest("reg.test/fx/web:1", &slow);
    let mark = f.repo.path("in-verify");
    let (code, _, stderr) = ctrl_c_at_the_mark(deploy_in_a_terminal(&f, &mark, POLL), &mark);
    assert_eq!(code, 130, "{stderr}");
    assert!(
        stderr.contains("revision 1 is applied, not verified (recorded as pending): finish it with `cargo xtask verify development`; no earlier verified release exists to go back to"),
        "{stderr}"
    );
    assert_eq!(outcomes(&f.status()), [(1, "pending".to_string())]);

    let run = f.run(&["verify", "development", "--timeout", "120s"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("revision 1 was applied and never verified"), "{}", run.stdout);
    assert!(run.stdout.contains("development is rolled out: revision 1"), "{}", run.stdout);
    assert!(run.stdout.contains("revision 1 is recorded as succeeded"), "{}", run.stdout);
    let status = f.status();
    assert_eq!(outcomes(&status), [(1, "succeeded".to_string())]);
    assert_eq!(status["running"], serde_json::json!({"revision": 1, "outcome": "succeeded"}));
}

/// After a rollback the overlay renders three replicas and a label the
/// cluster lacks while the cluster runs two of two of the older revision:
/// verify names the differences and the release that runs instead of calling
/// it rolled out; after a deploy it names the release it verified.
#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn verify_names_what_differs_from_the_render_and_the_release_it_verified() {
    let cluster = cluster();
    let f = Fixture::new("differ", Some(cluster));
    assert_eq!(f.run(&["deploy", "development"]).code, 0);
    let overlay = "deploy/overlays/development/kustomization.yaml";
    let text = f.repo.read(overlay);
    f.repo.write(
        overlay,
        &format!(
            "{}replicas:\n  - name: web\n    count: 3\n",
            text.replace(
                "      app.kubernetes.io/managed-by: xtask\n",
                "      app.kubernetes.io/managed-by: xtask\n      mlops.dev/tier: web\n"
            )
        ),
    );
    f.build("reg.test/fx/web:1", None, 600);
    assert_eq!(f.run(&["deploy", "development"]).code, 0);
    let run = f.run(&["rollback", "development", "--timeout", "120s"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    let run = f.run(&["verify", "development", "--timeout", "60s"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("is rolled out"), "{}", run.stdout);
    for line in [
        "development does not run what its overlay renders:",
        "  web (Deployment web): replicas: the cluster runs 2, the overlay renders 3",
        "  web (Deployment web): label mlops.dev/tier: the cluster has none, the overlay renders web",
        "it runs revision 3 (succeeded, commit ",
        "verify changes nothing: deploy the overlay (cargo xtask deploy development)",
    ] {
        assert!(run.stderr.contains(line), "{line}\n{}", run.stderr);
    }

    assert_eq!(f.run(&["deploy", "development"]).code, 0);
    let run = f.run(&["verify", "development", "--timeout", "60s"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("development is rolled out: revision 4 (succeeded, commit "), "{}", run.stdout);
}

/// A stuck rollout behind 2/2: the new ReplicaSet's pod crash-loops while the
/// old one still serves. status shows the pod and why.
#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn status_shows_pods_that_are_not_ready_and_why() {
    let cluster = cluster();
    let f = Fixture::new("pods", Some(cluster));
    assert_eq!(f.run(&["deploy", "development"]).code, 0);
    let c = f.cluster.as_ref().unwrap();
    let patch = r#"{"spec":{"template":{"metadata":{"labels":{"xtask.dev/fault":"crash-loop"}}}}}"#;
    c.text(&["patch", "deployment", "web", "-n", &f.namespace, "--type", "merge", "-p", patch]);
    let mut status = serde_json::Value::Null;
    eventually(90, "status shows the crash-looping pod", || {
        status = f.status();
        let web = &status["workloads"][0];
        web["not_ready"][0]["reason"] == "CrashLoopBackOff" && web["ready"] == "2/2"
    });
    let web = &status["workloads"][0];
    assert_eq!(web["rollout"], "failing: CrashLoopBackOff", "{web}");
    assert_eq!(web["not_ready"][0]["container"], "web", "{web}");
    assert!(status["health"].as_str().unwrap().starts_with("web failing: CrashLoopBackOff, 1 pod(s) not ready"));
    let text = f.run(&["status", "development"]);
    let lines: Vec<&str> = text.stdout.lines().collect();
    let at = lines.iter().position(|l| l.trim_start().starts_with("Deployment web")).unwrap();
    assert!(lines[at].contains("2/2"), "{}", text.stdout);
    assert_eq!(lines[at + 1].trim(), "failing: CrashLoopBackOff", "{}", text.stdout);
    assert!(lines[at + 2].trim().starts_with("pod web-"), "{}", text.stdout);
    assert!(
        lines[at + 2].contains(": container web CrashLoopBackOff (back-off 10s restarting failed container=web)"),
        "{}",
        text.stdout
    );
}

#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn status_without_an_environment_shows_every_one_and_a_new_one_was_never_deployed() {
    let cluster = cluster();
    let f = Fixture::new("all", Some(cluster));
    // production gets a namespace of its own, never deployed.
    for file in ["kustomization.yaml", "namespace.yaml"] {
        let path = format!("deploy/overlays/production/{file}");
        let text = f.repo.read(&path);
        f.repo.write(&path, &text.replace(&f.namespace, &format!("{}-prod", f.namespace)));
    }
    assert_eq!(f.run(&["deploy", "development"]).code, 0);

    let run = f.run(&["status"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let row = |env: &str| run.stdout.lines().find(|l| l.starts_with(env)).unwrap_or_default().to_string();
    let header = run.stdout.lines().find(|l| l.starts_with("ENVIRONMENT")).unwrap_or_default();
    for column in ["NAMESPACE", "RELEASE", "HEALTH", "IMAGES"] {
        assert!(header.contains(column), "{}", run.stdout);
    }
    let dev = row("development");
    for cell in [f.namespace.as_str(), "1 (succeeded)", "ready (1 workload)", "web:1"] {
        assert!(dev.contains(cell), "{cell}: {}", run.stdout);
    }
    assert!(row("production").contains("never deployed"), "{}", run.stdout);

    let json = f.run(&["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let envs = doc["environments"].as_array().unwrap();
    assert_eq!(envs.len(), 2);
    assert_eq!(envs[0]["running"], serde_json::json!({"revision": 1, "outcome": "succeeded"}));
    assert_eq!(envs[1]["deployed"], false);

    let run = f.run(&["status", "production"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("production was never deployed"), "{}", run.stdout);
}

/// Ctrl-C while the pending record is written: the deploy stops before its
/// apply and says the environment is unchanged; what runs is still revision 1.
#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn ctrl_c_before_the_apply_changes_nothing() {
    let cluster = cluster();
    let f = Fixture::new("early", Some(cluster));
    assert_eq!(f.run(&["deploy", "development"]).code, 0);
    f.build("reg.test/fx/web:2", None, 600);
    let mark = f.repo.path("in-record");
    let (code, stdout, stderr) = ctrl_c_at_the_mark(deploy_in_a_terminal(&f, &mark, RECORD), &mark);
    assert_eq!(code, 130, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("interrupted before the apply: development is unchanged (revision 2 stays recorded as pending, never applied)"),
        "{stderr}"
    );
    assert!(!stdout.contains("apply revision 2"), "{stdout}");
    let c = f.cluster.as_ref().unwrap();
    let d = c.json(&["get", "deployment", "web", "-n", &f.namespace, "-o", "json"]);
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "reg.test/fx/web:1");
    let status = f.status();
    assert_eq!(outcomes(&status), [(1, "succeeded".to_string()), (2, "pending".to_string())]);
    assert_eq!(status["running"], serde_json::json!({"revision": 1, "outcome": "succeeded"}));
}
