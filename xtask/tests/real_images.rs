//! This checkout's real images against a real Docker engine and a real
//! registry with htpasswd auth on loopback (`cargo xtask services up` starts
//! both): the tutorial's spelled-out push command (docs/tutorial/first-run.md) builds and pushes every image, they pull
//! back by digest and run. Apart from image_stage.rs (fixture images), as it
//! alone reads the components' sources: a change in one re-runs only this.

use crate::support;

use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};
use support::images::{copy_of_the_sources_at_a_fixed_commit, images_json, readme_push_command, xtask_in};
use support::registry::{docker, engine_and_registry};
use support::unique;

fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn every_image_builds_pushes_with_auth_pulls_by_digest_and_runs() {
    let reg = engine_and_registry();
    // The shared platform's sources: this build is a build of its inputs, recorded for the node suite.
    let root = copy_of_the_sources_at_a_fixed_commit();
    // Its inputs not built yet: the node suite's fixture waits for this build rather than making its own.
    let record = support::platform::record_of(&support::git::head(root.path()));
    let lock = support::platform::recorded(&record).is_none().then(support::platform::lock);
    let docker_config = tempfile::tempdir().unwrap();
    let password = std::fs::read_to_string(&reg.password_file).unwrap().trim().to_string();
    // The tutorial's spelled-out push command runs as written after `cargo xtask services up`.
    let (env, args) = readme_push_command();
    let ns = args[args.iter().position(|a| a == "--registry").unwrap() + 1].clone();
    let run = xtask_in(root.path(), &args, &env, docker_config.path());
    assert_eq!(run.code, 0);
    assert!(!run.stdout.contains(&password) && !run.stderr.contains(&password), "the password leaked");

    let images = images_json(root.path());
    support::platform::record(&record, &images);
    drop(lock);
    assert!(!std::fs::read_to_string(root.path().join("target/xtask/report.json")).unwrap().contains(&password));
    let entry = |component: &str| images["components"][component].clone();
    let sha = entry("storage")["commit"].as_str().unwrap().to_string();
    let digest_of = |component: &str| -> String {
        let e = entry(component);
        // A clean checkout of a branch: the full and the short commit, both pushed.
        assert_eq!(e["tags"], serde_json::json!([sha.clone(), sha[..7].to_string()]));
        assert_eq!(e["repositories"], serde_json::json!([format!("{ns}/{component}")]));
        assert!(e["image_id"].as_str().unwrap().starts_with("sha256:"));
        assert!(e["ref"].as_str().unwrap().starts_with("refs/heads/"));
        assert_eq!(e["pushed"].as_array().unwrap().len(), 2);
        assert_eq!(e["pushed"][1]["tag"], sha[..7]);
        e["pushed"][0]["digest"].as_str().unwrap_or_else(|| panic!("{component} has no digest")).to_string()
    };
    for c in ["cdc", "client", "spark", "storage"] {
        assert!(digest_of(c).starts_with("sha256:"));
    }
    let labels = docker(&["inspect", "--format", "{{json .Config.Labels}}", &format!("{ns}/storage:{sha}")]);
    let labels = String::from_utf8_lossy(&labels.stdout);
    assert!(labels.contains(&format!("\"org.opencontainers.image.revision\":\"{sha}\"")), "{labels}");
    assert!(labels.contains("\"org.opencontainers.image.title\":\"storage\""), "{labels}");

    // `image push` alone pushes what was built, with the same tags, and the report keeps the image id.
    let push: Vec<String> = ["image", "push", "client", "--registry", &ns].map(String::from).to_vec();
    let run = xtask_in(root.path(), &push, &env, docker_config.path());
    assert_eq!(run.code, 0);
    let short = format!("  push:client:{} ", &sha[..7]);
    assert!(run.stdout.lines().any(|l| l.starts_with(&short) && l.contains(" passed")), "{}", run.stdout);
    let after = images_json(root.path());
    assert_eq!(after["components"]["client"]["image_id"], images["components"]["client"]["image_id"]);
    assert_eq!(after["components"]["client"]["pushed"].as_array().unwrap().len(), 2);
    assert_eq!(
        after["components"]["storage"], images["components"]["storage"],
        "a push of client keeps storage's record"
    );

    // Pull storage back by digest (the local tags removed first), then serve /healthz.
    let storage = format!("{ns}/storage@{}", digest_of("storage"));
    docker(&["rmi", &format!("{ns}/storage:{sha}"), &format!("{ns}/storage:{}", &sha[..7])]);
    // The xtask logged out after pushing; the test logs in to pull.
    let mut login = Command::new("docker")
        .env("DOCKER_CONFIG", docker_config.path())
        .args(["login", &reg.host, "--username", &reg.user, "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    login.stdin.take().unwrap().write_all(password.as_bytes()).unwrap();
    assert!(login.wait().unwrap().success(), "docker login for the pull");
    let pull =
        Command::new("docker").env("DOCKER_CONFIG", docker_config.path()).args(["pull", &storage]).output().unwrap();
    assert!(pull.status.success(), "pull by digest: {}", String::from_utf8_lossy(&pull.stderr));
    let name = format!("xtask-test-storage-{}", unique());
    let started = docker(&["run", "-d", "--rm", "--name", &name, "-p", "127.0.0.1::8080", &storage]);
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    let port_line = String::from_utf8(docker(&["port", &name, "8080"]).stdout).unwrap();
    let port: u16 = port_line.lines().next().unwrap().rsplit(':').next().unwrap().trim().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut status = None;
    while Instant::now() < deadline && status != Some(200) {
        status = http_status(port, "/healthz");
        std::thread::sleep(Duration::from_millis(200));
    }
    docker(&["rm", "-f", &name]);
    assert_eq!(status, Some(200), "storage's /healthz");

    let client = format!("{ns}/client:{sha}");
    let help = docker(&["run", "--rm", &client, "--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("datasets"));

    // Leave no images behind.
    docker(&["rmi", &storage]);
    for c in ["cdc", "client", "spark"] {
        docker(&["rmi", &format!("{ns}/{c}:{sha}"), &format!("{ns}/{c}:{}", &sha[..7])]);
    }
}
