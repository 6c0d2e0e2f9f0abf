//! The one image path (issue #30): spark, whose base is the engine's
//! `local/python-jre`, builds and pushes through a BuildKit builder that can
//! see no engine image and mirrors no hub (as setup-buildx-action's could
//! not), its base handed over as an OCI layout; and a push logs in inside a
//! Docker config of its own, so two at once both pass and the user's own
//! config (with a login of theirs) stays byte for byte.

use crate::support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::buildx::{buildx_config, test_builder, RemovedOnDrop};
use support::images::copy_of_the_sources;
use support::registry::docker;
use support::Repo;

const REGISTRY: &str = "127.0.0.1:5000";
/// Every repository these tests push goes under it, and is deleted after.
const PREFIX: &str = "imgpath-test";

fn password_file() -> PathBuf {
    let file = PathBuf::from(
        support::service_var("XTASK_TEST_REGISTRY_PASSWORD_FILE")
            .unwrap_or_else(|| "/var/lib/xtask-registry/password".into()),
    );
    assert!(file.is_file(), "no registry credentials at {}: run `cargo xtask services up registry`", file.display());
    file
}

/// A builder of the test's own: the real plugin and BuildKit image, a fresh
/// state volume, and a buildkitd.toml with no hub mirror (the loopback
/// registry over HTTP only, for the push's cache). The stage creates it.
fn bare_builder(name: &str) -> tempfile::TempDir {
    test_builder(name, |dir, spec| {
        let toml = dir.join("buildkitd.toml");
        let text = format!(
            "[worker.oci]\n  enabled = true\n[worker.containerd]\n  enabled = false\n[registry.\"{REGISTRY}\"]\n  http = true\n"
        );
        std::fs::write(&toml, text).unwrap();
        spec["buildkitd_config"] = toml.display().to_string().into();
        spec["privileged"] = false.into();
    })
}

/// A home whose Docker config has a login of the user's own to the test
/// registry, with a wrong password: a push that used it would be refused.
fn users_home() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join(".docker/config.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    // base64("someone:not-the-password")
    let text = format!("{{\n\t\"auths\": {{\n\t\t\"{REGISTRY}\": {{\n\t\t\t\"auth\": \"c29tZW9uZTpub3QtdGhlLXBhc3N3b3Jk\"\n\t\t}}\n\t}}\n}}");
    std::fs::write(&file, &text).unwrap();
    (home, file, text.into_bytes())
}

/// `image build COMPONENT --push` to `repo_prefix`, as the images job runs it
/// (credentials from the environment, the services' builder or `config`).
fn push_command(repo: &Repo, component: &str, repo_prefix: &str, home: &Path, config: &Path) -> Command {
    let mut cmd = repo.command(&["image", "build", component, "--push", "--registry", repo_prefix]);
    // A push signs what it pushes: the signing service's tools and key pair.
    crate::support::signing(&mut cmd)
        .env("HOME", home)
        .env_remove("DOCKER_CONFIG")
        .env("XTASK_BUILDX_CONFIG", config)
        .env("XTASK_BASE_IMAGE", "local/python:3.11-bookworm")
        .env("XTASK_REGISTRY_USERNAME", "xtask")
        .env("XTASK_REGISTRY_PASSWORD_FILE", password_file());
    cmd
}

/// One HTTP/1.0 request to the loopback registry with basic auth; (status, headers).
fn registry_request(method: &str, path: &str, accept: &str) -> Option<(u16, String)> {
    use base64::Engine;
    let password = std::fs::read_to_string(password_file()).ok()?;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("xtask:{}", password.trim()));
    let mut s = std::net::TcpStream::connect(REGISTRY).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {REGISTRY}\r\nAuthorization: Basic {auth}\r\nAccept: {accept}\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, text.split("\r\n\r\n").next().unwrap_or("").to_string()))
}

/// Delete `repo:tag`'s manifest (the registry has deletes on); best effort.
fn delete_tag(repo: &str, tag: &str) {
    let accept = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
                  application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
    let Some((200, headers)) = registry_request("HEAD", &format!("/v2/{repo}/manifests/{tag}"), accept) else { return };
    let digest = headers.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("docker-content-digest").then(|| v.trim().to_string())
    });
    if let Some(d) = digest {
        registry_request("DELETE", &format!("/v2/{repo}/manifests/{d}"), accept);
    }
}

/// Remove what a push of `component` at `root` made: local tags, the registry's tags and cache.
fn clean(root: &Path, ns: &str, component: &str) {
    let sha = support::git::head(root);
    let repo = format!("{ns}/{component}");
    docker(&["rmi", &format!("{repo}:{sha}"), &format!("{repo}:{}", &sha[..7])]);
    let path = repo.trim_start_matches(&format!("{REGISTRY}/")).to_string();
    for tag in [sha.as_str(), &sha[..7], "buildcache"] {
        delete_tag(&path, tag);
    }
}

#[test]
#[ignore = "needs the local cluster's services (buildx, registry, base images): cargo xtask test runs it when services are up"]
fn spark_builds_and_pushes_through_a_builder_that_sees_no_engine_image_and_mirrors_no_hub() {
    let name = format!("imgpath-{}", std::process::id());
    let config = bare_builder(&name);
    let _builder = RemovedOnDrop { name: name.clone(), config: config.path().to_path_buf() };
    let repo = Repo { dir: copy_of_the_sources() };
    let root = repo.root();
    let (home, users, before) = users_home();
    let ns = format!("{REGISTRY}/{PREFIX}/{}", support::unique());
    let run = support::run(push_command(&repo, "spark", &ns, home.path(), config.path()));
    // The builder cannot see the engine's base: without the named context the same FROM fails.
    let probe = tempfile::tempdir().unwrap();
    std::fs::write(probe.path().join("Dockerfile"), "FROM local/python-jre:3.11-bookworm\nRUN true\n").unwrap();
    let blind = Command::new("docker")
        .args(["buildx", "build", "--builder", &name, "--progress", "plain"])
        .arg(probe.path())
        .env("DOCKER_CONFIG", config.path())
        .output()
        .unwrap();
    let users_after = std::fs::read(&users).unwrap();
    clean(root, &ns, "spark");

    assert_eq!(run.code, 0, "{}", run.stderr);
    let said = String::from_utf8_lossy(&blind.stderr);
    assert!(!blind.status.success() && said.contains("local/python-jre"), "the probe built: {said}");
    let report = std::fs::read_to_string(root.join("target/xtask/report.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let command = report["tasks"][0]["command"].as_str().unwrap_or_default().to_string();
    assert!(command.contains("docker buildx build --output type=docker,rewrite-timestamp=true"), "{command}");
    assert!(command.contains("--build-context local/python-jre:3.11-bookworm=oci-layout:///"), "{command}");
    assert!(command.contains(&format!("--cache-to type=registry,ref={ns}/spark:buildcache,mode=max")), "{command}");
    let images = std::fs::read_to_string(root.join("target/xtask/images.json")).unwrap();
    let images: serde_json::Value = serde_json::from_str(&images).unwrap();
    let pushed = images["components"]["spark"]["pushed"][0]["digest"].as_str().unwrap_or_default();
    assert!(pushed.starts_with("sha256:"), "{images}");
    assert_eq!(users_after, before, "the user's Docker config changed");
}

#[test]
#[ignore = "needs the local cluster's services (buildx, registry, base images): cargo xtask test runs it when services are up"]
fn two_pushes_at_once_both_pass_and_the_users_docker_config_stays_as_it_was() {
    const GOOD: &str = "ARG BASE_IMAGE=local/python:3.11-bookworm\nFROM ${BASE_IMAGE}\nCOPY wheels/ /tmp/wheels/\n";
    let (home, users, before) = users_home();
    let config = buildx_config();
    // Two clones, each pushing its own repository (one blob pushed twice at once to one
    // repository trips a race of the registry itself, not of credentials).
    let runs: Vec<(Repo, String)> = ["a", "b"]
        .into_iter()
        .map(|leg| {
            let repo = Repo::new();
            repo.write(".gitignore", "/target/\nbuild/\n*.egg-info/\n__pycache__/\n");
            repo.passing("good");
            repo.write("components/good/Dockerfile", GOOD);
            for args in [&["init", "-q"][..], &["add", "-A"], &["commit", "-qm", "fixture"]] {
                support::git(repo.root(), args);
            }
            (repo, format!("{REGISTRY}/{PREFIX}/{}-{leg}", support::unique()))
        })
        .collect();
    let children: Vec<std::process::Child> = runs
        .iter()
        .map(|(repo, ns)| {
            let mut cmd = push_command(repo, "good", ns, home.path(), &config);
            cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let outputs: Vec<std::process::Output> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let pushed: Vec<usize> = runs
        .iter()
        .map(|(repo, _)| {
            let text = std::fs::read_to_string(repo.path("target/xtask/images.json")).unwrap_or_default();
            let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            json["components"]["good"]["pushed"].as_array().map_or(0, |p| p.len())
        })
        .collect();
    for (repo, ns) in &runs {
        clean(repo.root(), ns, "good");
    }
    for out in &outputs {
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "--- stdout\n{stdout}\n--- stderr\n{stderr}");
    }
    assert_eq!(pushed, [2, 2], "each run pushed its two tags");
    assert_eq!(std::fs::read(&users).unwrap(), before, "the user's Docker config changed");
}
