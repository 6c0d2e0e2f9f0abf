//! The image stage against a real Docker engine and a real registry with
//! htpasswd auth on loopback (`.ci/run` starts both). Missing either fails
//! these tests: they never pass by skipping.

mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::Repo;

struct Registry {
    host: String,
    user: String,
    password_file: PathBuf,
}

fn var_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

/// The engine and the registry `.ci/run` starts; a clear failure when they are not there.
fn engine_and_registry() -> Registry {
    let info = Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]).output();
    assert!(
        info.is_ok_and(|o| o.status.success()),
        "no Docker engine answers: start it with `bash .ci/docker-up` (CI does)"
    );
    let r = Registry {
        host: var_or("XTASK_TEST_REGISTRY", "127.0.0.1:5000"),
        user: var_or("XTASK_TEST_REGISTRY_USER", "xtask"),
        password_file: var_or("XTASK_TEST_REGISTRY_PASSWORD_FILE", "/var/lib/xtask-registry/password").into(),
    };
    assert!(
        r.password_file.is_file(),
        "no registry credentials at {}: run `bash .ci/registry-up`",
        r.password_file.display()
    );
    r
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().unwrap()
}

/// A unique suffix, so runs never see each other's images.
fn unique() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{}-{}", std::process::id(), t % 1_000_000_000)
}

fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

/// The monorepo's components and tools, copied into a temp dir and committed:
/// the test writes its contexts and reports there, not into the checkout.
fn copy_of_the_monorepo() -> tempfile::TempDir {
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    for top in ["components", "tools"] {
        let entries = walkdir::WalkDir::new(real.join(top)).into_iter().filter_entry(|e| {
            let n = e.file_name().to_string_lossy();
            !(n == "build"
                || n == "__pycache__"
                || n.ends_with(".egg-info")
                || n.starts_with(".pytest")
                || n == ".mypy_cache")
        });
        for e in entries {
            let e = e.unwrap();
            let to = dir.path().join(e.path().strip_prefix(&real).unwrap());
            if e.file_type().is_dir() {
                std::fs::create_dir_all(&to).unwrap();
            } else {
                std::fs::copy(e.path(), &to).unwrap();
            }
        }
    }
    std::fs::copy(real.join(".gitignore"), dir.path().join(".gitignore")).unwrap();
    commit(dir.path());
    dir
}

fn commit(root: &Path) {
    for args in [
        &["init", "-q"][..],
        &["add", "-A"],
        &["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "fixture"],
    ] {
        let out = Command::new("git").args(args).current_dir(root).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn every_image_builds_pushes_with_auth_pulls_by_digest_and_runs() {
    let reg = engine_and_registry();
    let root = copy_of_the_monorepo();
    let ns = format!("{}/xtask-test-{}", reg.host, unique());
    let docker_config = tempfile::tempdir().unwrap();
    let password = std::fs::read_to_string(&reg.password_file).unwrap().trim().to_string();
    let xtask = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(["--root", root.path().to_str().unwrap()])
            .args(args)
            .args(["--registry", &ns])
            .env("XTASK_REGISTRY_USERNAME", &reg.user)
            .env("XTASK_REGISTRY_PASSWORD_FILE", &reg.password_file)
            .env("XTASK_BASE_IMAGE", "local/python:3.11-bookworm")
            .env("DOCKER_CONFIG", docker_config.path())
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_REF")
            .env_remove("GITHUB_REPOSITORY");
        support::run(cmd)
    };
    let run = xtask(&["image", "build", "--push"]);
    assert_eq!(run.code, 0);
    assert!(!run.stdout.contains(&password) && !run.stderr.contains(&password), "the password leaked");

    let images: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.path().join("target/xtask/images.json")).unwrap()).unwrap();
    assert!(!std::fs::read_to_string(root.path().join("target/xtask/report.json")).unwrap().contains(&password));
    let entry = |component: &str| {
        images["images"].as_array().unwrap().iter().find(|i| i["component"] == component).unwrap().clone()
    };
    let sha = entry("storage")["revision"].as_str().unwrap().to_string();
    let digest_of = |component: &str| -> String {
        let e = entry(component);
        // A clean checkout of a branch: the full and the short commit, both pushed.
        assert_eq!(e["tags"], serde_json::json!([sha.clone(), sha[..7].to_string()]));
        assert_eq!(e["pushed"].as_array().unwrap().len(), 2);
        e["pushed"][0]["digest"].as_str().unwrap_or_else(|| panic!("{component} has no digest")).to_string()
    };
    for c in ["cdc", "client", "spark", "storage"] {
        assert!(digest_of(c).starts_with("sha256:"));
    }
    let labels = docker(&["inspect", "--format", "{{json .Config.Labels}}", &format!("{ns}/storage:{sha}")]);
    let labels = String::from_utf8_lossy(&labels.stdout);
    assert!(labels.contains(&format!("\"org.opencontainers.image.revision\":\"{sha}\"")), "{labels}");
    assert!(labels.contains("\"org.opencontainers.image.title\":\"storage\""), "{labels}");

    // `image push` alone pushes what was built, with the same tags.
    let run = xtask(&["image", "push", "client"]);
    assert_eq!(run.code, 0);
    let short = format!("  push:client:{} ", &sha[..7]);
    assert!(run.stdout.lines().any(|l| l.starts_with(&short) && l.contains(" passed")), "{}", run.stdout);

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

/// A fixture monorepo committed to git, with components whose Dockerfiles are given.
fn git_repo(components: &[(&str, &str)]) -> Repo {
    let repo = Repo::new();
    for (name, dockerfile) in components {
        repo.passing(name);
        repo.write(&format!("components/{name}/Dockerfile"), dockerfile);
    }
    let git = |args: &[&str]| {
        let out = Command::new("git").args(args).current_dir(repo.root()).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "fixture"]);
    repo
}

const GOOD: &str = "ARG BASE_IMAGE=local/python:3.11-bookworm\nFROM ${BASE_IMAGE}\nCOPY wheels/ /tmp/wheels/\nRUN ls /tmp/wheels/app\n";
const BAD: &str =
    "ARG BASE_IMAGE=local/python:3.11-bookworm\nFROM ${BASE_IMAGE}\nRUN echo planted-build-failure && false\n";

#[test]
fn bad_input_gets_one_clear_line() {
    let reg = engine_and_registry();
    let repo = git_repo(&[("good", GOOD)]);
    let run = repo.run(&["image", "build", "nope"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("unknown component `nope`: known components are good"));

    let other = Repo::new();
    other.passing("plain");
    let run = other.run(&["image", "build", "plain"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("components/plain has no Dockerfile, so it has no image: add one"), "{}", run.stderr);

    let run = repo.run(&["image", "build", "--ref", "refs/tags/banana"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("tag `banana` is not a release version"), "{}", run.stderr);

    let mut cmd = repo.command(&["image", "build"]);
    cmd.env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    let run = support::run(cmd);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("the Docker daemon is not running: start it"), "{}", run.stderr);

    // Registry unreachable: a loopback port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut cmd = repo.command(&["image", "build", "--push", "--registry", &format!("127.0.0.1:{closed}/x")]);
    cmd.env("XTASK_REGISTRY_USERNAME", "xtask").env("XTASK_REGISTRY_PASSWORD", "irrelevant");
    let run = support::run(cmd);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains(&format!("cannot reach registry 127.0.0.1:{closed}")), "{}", run.stderr);

    // Wrong password: auth fails, and the password appears nowhere.
    let wrong = format!("wrong-{}", unique());
    let config = tempfile::tempdir().unwrap();
    let mut cmd = repo.command(&["image", "build", "--push", "--registry", &format!("{}/x", reg.host)]);
    cmd.env("XTASK_REGISTRY_USERNAME", &reg.user)
        .env("XTASK_REGISTRY_PASSWORD", &wrong)
        .env("DOCKER_CONFIG", config.path());
    let run = support::run(cmd);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("authentication failed for user xtask (check XTASK_REGISTRY_PASSWORD)"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains(&wrong) && !run.stderr.contains(&wrong));
    for f in ["target/xtask/report.json", "target/xtask/images.json"] {
        assert!(std::fs::read_to_string(repo.path(f)).map_or(true, |t| !t.contains(&wrong)));
    }

    // A release tag that is not the checked-out commit.
    let git = |args: &[&str]| {
        let out = Command::new("git").args(args).current_dir(repo.root()).output().unwrap();
        assert!(out.status.success(), "git {args:?}");
    };
    git(&["tag", "v1.0.0"]);
    repo.write("components/good/src/good_pkg/later.py", "Y = 2\n");
    git(&["add", "-A"]);
    git(&["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "later"]);
    let run = repo.run(&["image", "build", "--ref", "refs/tags/v1.0.0"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("tag v1.0.0 is commit"), "{}", run.stderr);
    assert!(run.stderr.contains("check the tag out first"), "{}", run.stderr);

    // Uncommitted changes: pushing is refused unless allowed.
    repo.write("components/good/src/good_pkg/extra.py", "X = 1\n");
    let run = repo.run(&["image", "build", "--push", "--registry", "127.0.0.1:5000/x"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("uncommitted changes: commit them before pushing, or pass --allow-dirty"));
}

#[test]
fn a_failing_dockerfile_shows_its_log_tail_and_the_others_still_build_and_push() {
    let reg = engine_and_registry();
    let repo = git_repo(&[("bad", BAD), ("good", GOOD)]);
    let ns = format!("{}/xtask-test-{}", reg.host, unique());
    let config = tempfile::tempdir().unwrap();
    let mut cmd = repo.command(&["image", "build", "--push", "--registry", &ns, "--tag", "fixture", "-j", "1"]);
    cmd.env("XTASK_REGISTRY_USERNAME", &reg.user)
        .env("XTASK_REGISTRY_PASSWORD_FILE", &reg.password_file)
        .env("DOCKER_CONFIG", config.path());
    let run = support::run(cmd);
    assert_eq!(run.code, 1);
    let summary = &run.stdout[run.stdout.find("summary of image build").unwrap()..];
    assert!(summary.contains("build:good         passed"), "{summary}");
    assert!(summary.contains("push:good:fixture  passed"), "{summary}");
    assert!(summary.contains("push:bad:fixture   not run"), "{summary}");
    assert!(summary.contains("build:bad          failed"), "{summary}");
    assert!(summary.contains("build:bad: build log tail:"), "{summary}");
    assert!(summary.contains("planted-build-failure"), "{summary}");
    let images: serde_json::Value = serde_json::from_str(&repo.read("target/xtask/images.json")).unwrap();
    assert!(images["images"][0]["image_id"].is_null(), "bad was not built");
    assert!(images["images"][0]["pushed"].as_array().unwrap().is_empty());
    assert!(images["images"][1]["image_id"].as_str().unwrap().starts_with("sha256:"));
    assert!(images["images"][1]["pushed"][0]["digest"].as_str().unwrap().starts_with("sha256:"));
    docker(&["rmi", &format!("{ns}/good:fixture")]);
}
