//! `deploy`, `verify`, `status` and `rollback` against the real local cluster
//! (`cargo xtask services up kube`: kube-apiserver, etcd, controller-manager, scheduler
//! and kwok nodes, whose stages make a pod Ready unless its
//! `xtask.dev/fault` label asks for a crash loop, never-ready or a pull
//! failure). Each test deploys a fixture monorepo into a namespace of its own.
//! In CI (`CI=true`) a missing cluster fails these tests; elsewhere they say
//! loudly that they did not run. Bad input that needs no cluster is tested
//! without one.

use crate::support;

use support::deploy::{cleanup, kwok_room, outcomes, plant_hog, recreate, web, Fixture};
use support::{cluster, git};

use base64::Engine;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn deploy_records_a_release_then_a_crash_loop_fails_fast_and_rolls_back() {
    let cluster = cluster();
    let f = Fixture::new("roll", Some(cluster));
    let run = f.run(&["deploy", "development", "--timeout", "120s"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("  ready    web (Deployment web)"), "{}", run.stdout);
    assert!(run.stdout.contains("deployed development revision 1"), "{}", run.stdout);
    let status = f.status();
    assert_eq!(outcomes(&status), [(1, "succeeded".to_string())]);
    assert_eq!(status["current_revision"], 1);
    let c = f.cluster.as_ref().unwrap();
    let lease = c.kubectl(&["get", "lease", "mlops-deploy-lock", "-n", &f.namespace]);
    assert!(!lease.status.success(), "the lock is released after the deploy");

    // A build whose web crash-loops: fails fast, rolls back, the old image runs again.
    f.build("reg.test/fx/web:2", Some("crash-loop"), 600);
    let started = Instant::now();
    let run = f.run(&["deploy", "development", "--timeout", "300s"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(started.elapsed() < Duration::from_secs(200), "fails fast, not at the deadline");
    assert!(run.stderr.contains("web: pod web-"), "{}", run.stderr);
    assert!(run.stderr.contains("container web: CrashLoopBackOff"), "{}", run.stderr);
    assert!(run.stderr.contains("rolled back development to revision 1"), "{}", run.stderr);
    let status = f.status();
    // The rollback's own revision stands (`rolled-back` is for what a rollback undid).
    assert_eq!(outcomes(&status), [(1, "succeeded".into()), (2, "failed".into()), (3, "succeeded".into())]);
    assert_eq!(status["current_revision"], 3);
    let d = c.json(&["get", "deployment", "web", "-n", &f.namespace, "-o", "json"]);
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "reg.test/fx/web:1");
    let text = f.run(&["status", "development"]);
    assert!(text.stdout.contains("rollback to revision 1; running now"), "{}", text.stdout);
    // The release record holds no credentials.
    let secret = c.json(&["get", "secret", "mlops-release.v3", "-n", &f.namespace, "-o", "json"]);
    let record =
        base64::engine::general_purpose::STANDARD.decode(secret["data"]["release.json"].as_str().unwrap()).unwrap();
    assert!(!String::from_utf8_lossy(&record).contains("token"), "{}", String::from_utf8_lossy(&record));
}

#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn a_deploy_leaves_its_trace_on_the_objects_the_pods_and_the_release() {
    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    let cluster = cluster();
    let f = Fixture::new("trace", Some(cluster));
    let mut cmd = f.command(&["deploy", "development", "--timeout", "120s"]);
    cmd.env("TRACEPARENT", format!("00-{TRACE}-00f067aa0ba902b7-01"));
    let run = support::run(cmd);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let trace_of = |v: &serde_json::Value| {
        v["metadata"]["annotations"]["xtask.dev/traceparent"].as_str().map(|t| t.split('-').nth(1).unwrap().to_string())
    };
    let c = f.cluster.as_ref().unwrap();
    let d = c.json(&["get", "deployment", "web", "-n", &f.namespace, "-o", "json"]);
    assert_eq!(trace_of(&d).as_deref(), Some(TRACE), "{d}");
    let pods = c.json(&["get", "pods", "-n", &f.namespace, "-o", "json"]);
    let pods = pods["items"].as_array().unwrap();
    assert!(!pods.is_empty() && pods.iter().all(|p| trace_of(p).as_deref() == Some(TRACE)), "{pods:?}");
    let secret = c.json(&["get", "secret", "mlops-release.v1", "-n", &f.namespace, "-o", "json"]);
    assert_eq!(trace_of(&secret).as_deref(), Some(TRACE));
    let record: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD.decode(secret["data"]["release.json"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    assert!(record["traceparent"].as_str().unwrap().starts_with(&format!("00-{TRACE}-")), "{record}");
    // Each deploy step is a span of the run, with the environment named.
    let events = f.repo.read("target/xtask/events.jsonl");
    let steps: Vec<serde_json::Value> = events
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "step.end")
        .collect();
    let names: Vec<&str> = steps.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["render", "apply", "verify", "smoke", "record"], "{events}");
    assert!(steps.iter().all(|e| e["deployment.environment.name"] == "development" && e["trace_id"] == TRACE));
    // The annotation is not the apply's: a dry run still sees nothing to change.
    let run = f.run(&["deploy", "development", "--dry-run"]);
    assert!(run.stdout.contains("no changes against the cluster"), "{}", run.stdout);
    let run = f.run(&["logs", "development", "--trace", TRACE]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains(&format!("trace {TRACE}: pods its deploy annotated: web-")), "{}", run.stderr);
}

#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn a_never_ready_build_hits_its_progress_deadline_and_prune_removes_what_is_gone() {
    let cluster = cluster();
    let f = Fixture::new("never", Some(cluster));
    assert_eq!(f.run(&["deploy", "development"]).code, 0);
    // The next build drops the ConfigMap and never becomes ready.
    f.repo.write("components/web/k8s/kustomization.yaml", "resources:\n  - deployment.yaml\n");
    f.build("reg.test/fx/web:3", Some("never-ready"), 10);
    let run = f.run(&["deploy", "development", "--timeout", "300s"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("ProgressDeadlineExceeded"), "{}", run.stderr);
    // Rolled back to revision 1, which has the ConfigMap: it is there.
    let c = f.cluster.as_ref().unwrap();
    assert!(c.kubectl(&["get", "configmap", "web-settings", "-n", &f.namespace]).status.success());
    // Now a good build without the ConfigMap: deployed, and the ConfigMap pruned.
    f.build("reg.test/fx/web:4", None, 600);
    let run = f.run(&["deploy", "development"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("prune    ConfigMap/web-settings"), "{}", run.stdout);
    assert!(!c.kubectl(&["get", "configmap", "web-settings", "-n", &f.namespace]).status.success());
    // rollback on demand goes back to the verified release before the current one.
    let run = f.run(&["rollback", "development", "--timeout", "120s"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let d = c.json(&["get", "deployment", "web", "-n", &f.namespace, "-o", "json"]);
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "reg.test/fx/web:1");
}

#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn a_held_lock_names_its_holder_and_a_dry_run_changes_nothing() {
    let cluster = cluster();
    let f = Fixture::new("lock", Some(cluster));
    let run = f.run(&["deploy", "development", "--dry-run"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("every object of the render is new"), "{}", run.stdout);
    assert!(run.stdout.contains("would run: ") && run.stdout.contains("apply --server-side"), "{}", run.stdout);
    let c = f.cluster.as_ref().unwrap();
    assert!(!c.kubectl(&["get", "namespace", &f.namespace]).status.success(), "a dry run creates nothing");

    assert_eq!(f.run(&["deploy", "development"]).code, 0);
    let run = f.run(&["deploy", "development", "--dry-run"]);
    assert!(run.stdout.contains("no changes against the cluster"), "{}", run.stdout);

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let lease = serde_json::json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "mlops-deploy-lock", "namespace": f.namespace},
        "spec": {"holderIdentity": "release-bot run 42", "leaseDurationSeconds": 600,
                 "acquireTime": ts(now), "renewTime": ts(now)},
    });
    let mut create = Command::new(&c.kubectl);
    create.arg("--kubeconfig").arg(&c.kubeconfig).args(["create", "-f", "-"]).stdin(Stdio::piped());
    let mut child = create.spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(lease.to_string().as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
    let run = f.run(&["deploy", "development"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("is locked by another deploy (release-bot run 42)"), "{}", run.stderr);
}

fn ts(secs: u64) -> String {
    let out =
        Command::new("date").args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%S.000000Z"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn credentials_base64_ctrl_c_and_rbac() {
    let cluster = cluster();
    let f = Fixture::new("creds", Some(cluster));
    let c = f.cluster.as_ref().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&c.kubeconfig).unwrap());
    let tmp = tempfile::tempdir().unwrap();
    // The spec's secret: KUBECONFIG holding base64, decoded to a private temp file.
    f.build("reg.test/fx/web:1", Some("never-ready"), 600);
    let mut cmd = f.command(&["deploy", "development", "--timeout", "600s"]);
    cmd.env("KUBECONFIG", &b64).env("TMPDIR", tmp.path()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = c.kubectl(&["get", "secret", "mlops-release.v1", "-n", &f.namespace]);
        if out.status.success() && c.kubectl(&["get", "deployment", "web", "-n", &f.namespace]).status.success() {
            break;
        }
        assert!(Instant::now() < deadline, "the deploy never applied");
        std::thread::sleep(Duration::from_millis(300));
    }
    let files: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "the decoded kubeconfig lives in TMPDIR while the deploy runs");
    // SAFETY: sends SIGINT to the deploy we started, as a terminal's Ctrl-C would.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(!stdout.contains(&b64) && !stderr.contains(&b64));
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "the temp kubeconfig is removed");
    assert!(!c.kubectl(&["get", "lease", "mlops-deploy-lock", "-n", &f.namespace]).status.success(), "lock released");
    let status = f.status();
    assert_eq!(outcomes(&status), [(1, "pending".to_string())], "an interrupted deploy is never recorded as succeeded");

    // A service account with no rights: one line naming the verb and the resource.
    let sa = format!("viewer-{}", std::process::id());
    let ns = f.namespace.clone();
    assert!(c.kubectl(&["create", "serviceaccount", &sa, "-n", &ns]).status.success());
    let token = c.kubectl(&["create", "token", &sa, "-n", &ns]);
    assert!(token.status.success(), "{}", String::from_utf8_lossy(&token.stderr));
    let token = String::from_utf8_lossy(&token.stdout).trim().to_string();
    let server = c.json(&["config", "view", "--minify", "-o", "json"])["clusters"][0]["cluster"]["server"]
        .as_str()
        .unwrap()
        .to_string();
    let limited = f.repo.root().join("limited.kubeconfig");
    std::fs::write(
        &limited,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: {token}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n"),
    )
    .unwrap();
    let run = f.run(&["deploy", "development", "--kubeconfig", limited.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    // Past the lines that say which cluster and registry, one line: the refusal.
    let said = |l: &&str| !l.starts_with("cluster: ") && !l.starts_with("registry: ");
    let lines: Vec<&str> = run.stderr.trim().lines().filter(said).collect();
    let line = lines.join("\n");
    assert!(line.starts_with("error: ") && line.contains("forbidden: system:serviceaccount:"), "{line}");
    assert!(line.contains(" may not "), "{line}");
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(run.stderr.contains(&format!("cluster: {}, context x, server ", limited.display())), "{}", run.stderr);
    assert!(!run.stderr.contains(&token));
}

#[test]
fn bad_input_needs_no_cluster() {
    let f = Fixture::new("bad", None);
    let run = f.run(&["deploy", "development"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("no cluster credentials: set KUBECONFIG"), "{}", run.stderr);

    let mut cmd = f.command(&["deploy", "development"]);
    cmd.env("KUBECONFIG_B64", "%%% not base64 %%%");
    let run = support::run(cmd);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("KUBECONFIG_B64 is neither an existing file nor valid base64"), "{}", run.stderr);

    let dead = f.repo.root().join("dead.kubeconfig");
    std::fs::write(&dead, "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n").unwrap();
    let run = f.run(&["deploy", "development", "--kubeconfig", dead.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("the cluster at https://127.0.0.1:1 is unreachable"), "{}", run.stderr);

    let garbled = f.repo.root().join("garbled.kubeconfig");
    std::fs::write(&garbled, "apiVersion: v1\nkind: Config\nclusters: [\n  - this: is: not yaml\n").unwrap();
    let run = f.run(&["deploy", "development", "--kubeconfig", garbled.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("garbled.kubeconfig cannot be parsed (yaml: line "), "{}", run.stderr);

    let mut cmd = f.command(&["deploy", "development"]);
    cmd.env("KUBECONFIG", format!("{}:{}", dead.display(), dead.display()));
    let run = support::run(cmd);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("KUBECONFIG lists several files"), "{}", run.stderr);

    let run = f.run(&["deploy", "qa"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unknown environment `qa`: known environments are development, production"),
        "{}",
        run.stderr
    );

    let run = f.run(&["deploy", "production"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("production is deployed only from a release"), "{}", run.stderr);

    let report = f.repo.read("target/xtask/images.json");
    std::fs::remove_file(f.repo.path("target/xtask/images.json")).unwrap();
    let run = f.run(&["deploy", "development"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no images report (target/xtask/images.json)"), "{}", run.stderr);

    f.repo.write("target/xtask/images.json", "{}");
    let run = f.run(&["deploy", "development"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("the images report target/xtask/images.json is malformed"), "{}", run.stderr);

    f.repo.write("target/xtask/images.json", &report);
    f.repo.write("deploy/overlays/development/kustomization.yaml", "resources: [../../base\n");
    let run = f.run(&["deploy", "development"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
}

/// Serves one canned answer of GitHub's API on loopback, once.
fn github_api(status: u16, body: &'static str) -> (String, std::thread::JoinHandle<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let (mut request, mut buf) = (Vec::new(), [0u8; 4096]);
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match conn.read(&mut buf).unwrap() {
                0 => break,
                n => request.extend_from_slice(&buf[..n]),
            }
        }
        let answer =
            format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        conn.write_all(answer.as_bytes()).unwrap();
        String::from_utf8_lossy(&request).into_owned()
    });
    (url, handle)
}

/// Deploys fail closed on GitHub: an environment that needs reviewers is
/// refused, before any cluster is asked, when the job is not bound to it or
/// its GitHub environment has no required reviewers (GitHub's JSON answer as a
/// fixture); a token without `actions: read` gets one line naming it.
#[test]
fn a_github_job_deploys_only_an_environment_that_requires_reviewers() {
    const UNPROTECTED: &str = include_str!("fixtures/github/environment-staging-unprotected.json");
    const FORBIDDEN: &str = include_str!("fixtures/github/error-403-no-actions-read.json");
    let f = Fixture::new("reviewers", None);
    git(f.repo.root(), &["init", "-q", "-b", "main"]);
    git(f.repo.root(), &["add", "-A"]);
    git(f.repo.root(), &["commit", "-qm", "main"]);
    f.repo.write(
        "deploy/overlays/development/xtask.toml",
        "guard = \"any\"\nreviewers = \"required\"\nverify-images = false\n",
    );
    let on_github = |api: &str, bound: Option<&str>| {
        let mut cmd = f.command(&["deploy", "development"]);
        cmd.env("GITHUB_ACTIONS", "true")
            .env("GITHUB_REF", "refs/heads/main")
            .env("GITHUB_TOKEN", "ghs_fixture")
            .env("GITHUB_REPOSITORY", "acme/platform")
            .env("GITHUB_API_URL", api)
            .env_remove("XTASK_GITHUB_ENVIRONMENT");
        if let Some(env) = bound {
            cmd.env("XTASK_GITHUB_ENVIRONMENT", env);
        }
        support::run(cmd)
    };
    let run = on_github("http://127.0.0.1:1", None);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("add `environment: development` to the job"), "{}", run.stderr);

    let (api, request) = github_api(200, UNPROTECTED);
    let run = on_github(&api, Some("development"));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("environment development has no required reviewers"), "{}", run.stderr);
    assert!(run.stderr.contains("Settings → Environments → development → Required reviewers"), "{}", run.stderr);
    assert!(request.join().unwrap().starts_with("GET /repos/acme/platform/environments/development "));
    // Nothing was asked of a cluster: there is none (no credentials), and the refusal came first.
    assert!(!run.stderr.contains("no cluster credentials"), "{}", run.stderr);

    let (api, request) = github_api(403, FORBIDDEN);
    let run = on_github(&api, Some("development"));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("give the deploy job `permissions: actions: read`"), "{}", run.stderr);
    request.join().unwrap();

    // The opt-out, recorded in the overlay, lets the deploy go on (to the missing credentials here).
    f.repo.write(
        "deploy/overlays/development/xtask.toml",
        "guard = \"any\"\nreviewers = \"not-required\"\nverify-images = false\n",
    );
    let run = on_github("http://127.0.0.1:1", Some("development"));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("no cluster credentials"), "{}", run.stderr);
}

/// The platform itself: development deploys, then a build whose storage
/// crash-loops fails fast naming storage's pod, is rolled back, and the
/// earlier storage image runs again.
#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn the_platform_deploys_and_a_crash_looping_storage_is_rolled_back() {
    let cluster = cluster();
    let copy = support::copy_of_the_monorepo();
    let root = copy.path();
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() % 100_000;
    let ns = format!("fx-platform-{t}");
    let overlay = root.join("deploy/overlays/development");
    for file in ["kustomization.yaml", "namespace.yaml"] {
        let text = std::fs::read_to_string(overlay.join(file)).unwrap();
        std::fs::write(overlay.join(file), text.replace("mlops-development", &ns)).unwrap();
    }
    let file = overlay.join("namespace.yaml");
    std::fs::write(&file, support::fixture_ns::labelled(&std::fs::read_to_string(&file).unwrap())).unwrap();
    support::cluster::simulated(&overlay);
    // Its images do not exist (kwok runs the pods): a development that deploys them unverified.
    let settings = overlay.join("xtask.toml");
    let text = std::fs::read_to_string(&settings).unwrap_or_default();
    std::fs::write(&settings, format!("{text}verify-images = false\n")).unwrap();
    let _cleanup = cleanup(Some(&cluster), &ns);
    let xtask = |args: &[&str]| support::cluster::xtask(root, &cluster, args);
    // A build of every component, "pushed" with a digest per image.
    let build = |n: char| {
        git(root, &["add", "-A"]);
        git(root, &["commit", "-qm", "build", "--allow-empty"]);
        let head = git(root, &["rev-parse", "HEAD"]).trim().to_string();
        let components: serde_json::Map<String, serde_json::Value> = ["cdc", "client", "spark", "storage"]
            .iter()
            .map(|c| {
                let repo = format!("127.0.0.1:5000/fx/{c}");
                let digest = format!("sha256:{}", n.to_string().repeat(64));
                (
                    c.to_string(),
                    serde_json::json!({"repositories": [repo], "tags": [head], "version": null, "commit": head,
                    "ref": "refs/heads/main", "dirty": false, "image_id": "sha256:id",
                    "pushed": [{"repository": repo, "tag": head, "digest": digest}]}),
                )
            })
            .collect();
        std::fs::create_dir_all(root.join("target/xtask")).unwrap();
        std::fs::write(
            root.join("target/xtask/images.json"),
            serde_json::json!({"format": 1, "components": components}).to_string(),
        )
        .unwrap();
        let run = xtask(&["manifests", "update", "development"]);
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    };
    git(root, &["init", "-q"]);
    build('a');
    // Simulated by kwok (the images do not exist): the smoke checks cannot run.
    let run = xtask(&["deploy", "development", "--timeout", "180s", "--no-smoke"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for c in ["cdc (Deployment cdc)", "storage (Deployment storage)", "spark (CronJob spark-features)"] {
        assert!(run.stdout.contains(&format!("ready    {c}")), "{}", run.stdout);
    }

    // The next build's storage crash-loops (kwok's fault label on its pods).
    let kustomization = std::fs::read_to_string(overlay.join("kustomization.yaml")).unwrap();
    std::fs::write(
        overlay.join("kustomization.yaml"),
        kustomization.replace("  - path: settings.yaml\n", "  - path: settings.yaml\n  - path: fault.yaml\n"),
    )
    .unwrap();
    std::fs::write(
        overlay.join("fault.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: storage\nspec:\n  template:\n    metadata:\n      labels:\n        xtask.dev/fault: crash-loop\n",
    )
    .unwrap();
    build('b');
    let run = xtask(&["deploy", "development", "--timeout", "300s", "--no-smoke"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("storage: pod storage-") && run.stderr.contains("CrashLoopBackOff"), "{}", run.stderr);
    assert!(run.stderr.contains("rolled back development to revision 1"), "{}", run.stderr);
    let status = xtask(&["status", "development", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    // The rollback's own revision stands (`rolled-back` is for what a rollback undid).
    assert_eq!(outcomes(&status), [(1, "succeeded".into()), (2, "failed".into()), (3, "succeeded".into())]);
    let storage = status["workloads"].as_array().unwrap().iter().find(|w| w["name"] == "storage").unwrap().clone();
    assert!(storage["images"][0].as_str().unwrap().ends_with(&"a".repeat(64)), "{storage}");
}

/// Issue #31, item 12: a node filled by a leaked namespace; a Recreate
/// release that cannot fit is refused before anything is recorded, applied
/// or stopped, and the running release keeps its pods.
#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn a_recreate_whose_pods_cannot_fit_is_refused_before_anything_stops() {
    let cluster = cluster();
    let _room = kwok_room();
    let f = Fixture::new("fit", Some(cluster));
    let c = f.cluster.as_ref().unwrap();
    f.build_manifest("reg.test/fx/web:1", &recreate("reg.test/fx/web:1", "100m"));
    let run = f.run(&["deploy", "development", "--timeout", "60s"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let pods = |c: &support::Cluster| {
        let list = c.json(&["get", "pods", "-n", &f.namespace, "-l", "app.kubernetes.io/name=web", "-o", "json"]);
        let mut uids: Vec<String> =
            list["items"].as_array().unwrap().iter().map(|p| p["metadata"]["uid"].as_str().unwrap().into()).collect();
        uids.sort();
        uids
    };
    let before = pods(c);
    // 10 cpus stay free on the fake node: one new pod of 7 fits, the second does not.
    let _hog = plant_hog(c, "fit", 10_000);
    f.build_manifest("reg.test/fx/web:2", &recreate("reg.test/fx/web:2", "7"));
    let run = f.run(&["deploy", "development", "--timeout", "30s"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let line = run.stderr.lines().find(|l| l.starts_with("deploy development refused")).unwrap_or_default();
    assert!(
        line.contains("refused before anything changed: web (Deployment web, strategy Recreate: it stops its running pods first): pod 2 of 2 (cpu 7, memory 32Mi) would not fit: cpu short by"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("apply revision"), "{}", run.stdout);
    // The running release is untouched: its record, its template, the very same pods.
    assert_eq!(outcomes(&f.status()), [(1, "succeeded".to_string())]);
    let d = c.json(&["get", "deployment", "web", "-n", &f.namespace, "-o", "json"]);
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "reg.test/fx/web:1");
    assert_eq!(pods(c), before);
}

/// Issue #31, item 12: a rollout that times out with Pending pods prints
/// the scheduler's reason for each, as `kubectl describe pod` shows it.
#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn a_rollout_of_an_unschedulable_pod_says_what_the_scheduler_said() {
    let cluster = cluster();
    let f = Fixture::new("unsched", Some(cluster));
    let deployment = web("reg.test/fx/web:1", 2, None, Some(600))
        .replace("requests: {cpu: 10m, memory: 32Mi}", "requests: {cpu: \"1000\", memory: 32Mi}")
        .replace("limits: {cpu: 100m, memory: 64Mi}", "limits: {cpu: \"1000\", memory: 64Mi}");
    f.build_manifest("reg.test/fx/web:1", &deployment);
    let run = f.run(&["deploy", "development", "--timeout", "15s"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let pending: Vec<&str> = run.stderr.lines().filter(|l| l.contains(" is Pending: FailedScheduling: ")).collect();
    assert_eq!(pending.len(), 2, "a line per Pending pod:\n{}", run.stderr);
    assert!(pending.iter().all(|l| l.starts_with("  pod web-") && l.contains("Insufficient cpu")), "{}", run.stderr);
}

/// Issue #31, item 12: a rollback whose pods found no room missed its
/// deadline; once the room came back its pods run healthy, and `status`
/// names the revision whose manifests they run, not the failed attempt.
#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn status_after_a_failed_rollback_names_what_really_runs() {
    let cluster = cluster();
    let _room = kwok_room();
    let f = Fixture::new("failrb", Some(cluster));
    let c = f.cluster.as_ref().unwrap();
    // Revision 1 asks for 3 cpus a pod, revision 2 for 100m: stopping revision 2 frees little.
    for (i, (image, cpu)) in [("reg.test/fx/web:1", "3"), ("reg.test/fx/web:2", "100m")].into_iter().enumerate() {
        f.build_manifest(image, &recreate(image, cpu));
        let run = f.run(&["deploy", "development", "--timeout", "60s"]);
        assert_eq!(run.code, 0, "revision {}: {}\n{}", i + 1, run.stdout, run.stderr);
    }
    // The node fills up; the rollback stops revision 2's pods and revision 1's cannot be scheduled.
    let hog = plant_hog(c, "failrb", 1_000);
    let run = f.run(&["rollback", "development", "--timeout", "10s"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("the rollback to revision 1 did not verify either"), "{}", run.stderr);
    assert!(run.stderr.contains("is Pending: FailedScheduling: "), "{}", run.stderr);
    drop(hog);
    // Room again: revision 1's pods are scheduled and become ready by themselves.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let status = f.status();
        if status["healthy"] == true {
            break status;
        }
        assert!(Instant::now() < deadline, "revision 1's pods never became ready: {status}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(outcomes(&status), [(1, "succeeded".into()), (2, "succeeded".into()), (3, "failed".into())]);
    assert_eq!(status["running_manifests_of"], 1, "{status}");
    let text = f.run(&["status", "development"]).stdout;
    assert!(
        text.contains("running revision 1's manifests, healthy now: ready (1 workload) (revision 3, the rollback that applied them, is recorded as failed"),
        "{text}"
    );
    assert!(!text.contains("running revision 3 (failed)"), "{text}");
}
