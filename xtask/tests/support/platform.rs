//! The real platform deployed by the real xtask onto the local cluster's real
//! node, into a namespace of the test's own: a copy of the monorepo whose
//! overlay for ENV deploys there and pins this checkout's images (the shared
//! platform fixture: built and pushed to the local registry once per inputs,
//! whichever suite asks first), with the images report those pins come from.
//! Used by the smoke-check and environment tests.

use super::{git, Cluster};
use std::path::Path;

/// The real images of this checkout's sources, shared by every suite that
/// needs them (images, node) and every test run: the sources committed at a
/// fixed commit (so the commit is a key of their inputs, as the task cache
/// keys by content), built and pushed to the recorded registry by the
/// README's push command, the images report kept in
/// `target/xtask/test-platform/<commit>-<base image>.json`. A run finds the
/// record of its inputs (and the registry still serving each digest) and
/// builds nothing; else the first test to ask builds them while the others,
/// in this process or another suite's, wait on a file lock.
pub fn real_images() -> &'static serde_json::Value {
    static IMAGES: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    IMAGES.get_or_init(build_real_images)
}

/// The record's file for the sources at `commit` on the current base image.
pub fn record_of(commit: &str) -> std::path::PathBuf {
    let base = super::registry::docker(&["image", "inspect", "--format", "{{.Id}}", "local/python:3.11-bookworm"]);
    assert!(base.status.success(), "no base image: run `cargo xtask services up base-images`");
    let base = String::from_utf8_lossy(&base.stdout).trim().trim_start_matches("sha256:").to_string();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/xtask/test-platform");
    dir.join(format!("{}-{}.json", &commit[..12], &base[..12.min(base.len())]))
}

/// Keep `images` (an images report) as the record of its inputs (atomically).
pub fn record(file: &Path, images: &serde_json::Value) {
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let temp = file.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temp, images.to_string()).unwrap();
    std::fs::rename(&temp, file).unwrap();
}

/// The shared platform's lock, held until dropped: one build of its images at a time, across processes.
pub fn lock() -> std::fs::File {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/xtask/test-platform");
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::File::create(dir.join(".lock")).unwrap();
    lock.lock().unwrap();
    lock
}

fn build_real_images() -> serde_json::Value {
    let copy = super::images::copy_of_the_sources_at_a_fixed_commit();
    let file = record_of(&super::git::head(copy.path()));
    if let Some(images) = recorded(&file) {
        return images;
    }
    // Not built yet: build under the lock, unless whoever held it did meanwhile.
    let _lock = lock();
    if let Some(images) = recorded(&file) {
        return images;
    }
    let (env, args) = super::images::readme_push_command();
    let config = tempfile::tempdir().unwrap();
    let run = super::images::xtask_in(copy.path(), &args, &env, config.path());
    assert_eq!(run.code, 0, "the README's push command failed for the shared platform");
    let images = super::images::images_json(copy.path());
    record(&file, &images);
    images
}

/// The record in `file`, if the registry still serves its images.
pub fn recorded(file: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(file).ok()?;
    serde_json::from_str(&text).ok().filter(served)
}

/// Whether the registry still serves every image the record pinned (a
/// registry made anew, or cleaned, has lost them).
fn served(images: &serde_json::Value) -> bool {
    let reg = super::registry::Registry::recorded();
    let Ok(password) = std::fs::read_to_string(&reg.password_file) else { return false };
    let auth =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("{}:{}", reg.user, password.trim()));
    let components = images["components"].as_object().into_iter().flatten();
    let refs: Vec<(String, String)> = components
        .filter_map(|(_, e)| {
            let p = &e["pushed"][0];
            let repo = p["repository"].as_str()?;
            let path = repo.split_once('/')?.1.to_string();
            Some((path, p["digest"].as_str()?.to_string()))
        })
        .collect();
    refs.len() == 4
        && refs.iter().all(|(path, digest)| {
            use std::io::{Read, Write};
            let Ok(mut s) = std::net::TcpStream::connect(&reg.host) else { return false };
            let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(10)));
            let accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";
            let request = format!(
                "HEAD /v2/{path}/manifests/{digest} HTTP/1.0\r\nHost: {}\r\nAuthorization: Basic {auth}\r\nAccept: {accept}\r\n\r\n",
                reg.host
            );
            let mut answer = String::new();
            s.write_all(request.as_bytes()).is_ok()
                && s.read_to_string(&mut answer).is_ok()
                && answer.split_whitespace().nth(1) == Some("200")
        })
}

/// The shared platform's images as an overlay pins them (kustomize's
/// `images:` block, by tag and digest), as `manifests update` would.
pub fn real_pins() -> String {
    let images = real_images();
    let mut out = String::from("\nimages:\n");
    for (name, e) in images["components"].as_object().expect("an images report") {
        let p = &e["pushed"][0];
        out.push_str(&format!(
            "  - name: ghcr.io/mlops-platform/{name}\n    newName: {}\n    newTag: {}\n    digest: {}\n",
            p["repository"].as_str().unwrap(),
            p["tag"].as_str().unwrap(),
            p["digest"].as_str().unwrap()
        ));
    }
    out
}

/// How the copy is committed: on main, or as a release (a tag `vVERSION` at
/// HEAD and an images report for that version), as production requires.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Build<'a> {
    Main,
    Release(&'a str),
}

/// A copy of the monorepo whose `env` overlay deploys into `ns` and pins the
/// real images, committed on main (tagged for a release), with the images
/// report `image build --push` would have written for HEAD.
pub fn platform(env: &str, ns: &str, build: Build) -> tempfile::TempDir {
    let copy = super::copy_of_the_monorepo();
    let root = copy.path();
    let overlay = root.join(format!("deploy/overlays/{env}"));
    let text = real_pins();
    // The copy pins them in its own overlay (a fixture: the real ones name images only).
    let images = &text[text.find("\nimages:").expect("the pins have an images: block")..];
    let committed = std::fs::read_to_string(overlay.join("kustomization.yaml")).unwrap();
    std::fs::write(overlay.join("kustomization.yaml"), format!("{committed}{images}")).unwrap();
    for file in ["kustomization.yaml", "namespace.yaml"] {
        let text = std::fs::read_to_string(overlay.join(file)).unwrap();
        std::fs::write(overlay.join(file), text.replace(&format!("mlops-{env}"), ns)).unwrap();
    }
    let file = overlay.join("namespace.yaml");
    std::fs::write(&file, super::fixture_ns::labelled(&std::fs::read_to_string(&file).unwrap())).unwrap();
    std::fs::write(root.join(".gitignore"), "/target/\n").unwrap();
    git(root, &["init", "-q", "-b", "main"]);
    let head = commit(root);
    if let Build::Release(version) = build {
        git(root, &["tag", &format!("v{version}")]);
    }
    report(root, &text, &head, build);
    copy
}

/// `target/xtask/images.json` for the pinned images, as built from `head`.
fn report(root: &Path, pins: &str, head: &str, build: Build) {
    let (version, reference) = match build {
        Build::Main => (serde_json::Value::Null, "refs/heads/main".to_string()),
        Build::Release(v) => (v.into(), format!("refs/tags/v{v}")),
    };
    let mut components = serde_json::Map::new();
    let mut current: Option<(String, String, String)> = None;
    for line in pins.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("- name: ghcr.io/mlops-platform/") {
            current = Some((name.to_string(), String::new(), String::new()));
        } else if let (Some(c), Some(v)) = (current.as_mut(), line.strip_prefix("newName: ")) {
            c.1 = v.to_string();
        } else if let (Some(c), Some(v)) = (current.as_mut(), line.strip_prefix("newTag: ")) {
            c.2 = v.to_string();
        } else if let (Some((name, repo, tag)), Some(digest)) = (current.take(), line.strip_prefix("digest: ")) {
            components.insert(
                name,
                serde_json::json!({"repositories": [repo], "tags": [tag], "version": version, "commit": head,
                    "ref": reference, "dirty": false, "image_id": "sha256:id",
                    "pushed": [{"repository": repo, "tag": tag, "digest": digest}]}),
            );
        }
    }
    assert_eq!(components.len(), 4, "the pins name every component: {pins}");
    std::fs::create_dir_all(root.join("target/xtask")).unwrap();
    let report = serde_json::json!({"format": 1, "components": components});
    std::fs::write(root.join("target/xtask/images.json"), report.to_string()).unwrap();
}

/// Commit everything; HEAD.
pub fn commit(root: &Path) -> String {
    git(root, &["add", "-A"]);
    git(root, &["commit", "-qm", "build", "--allow-empty"]);
    super::git::head(root)
}

/// A namespace name of the test's own.
pub fn namespace(test: &str) -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() % 100_000;
    format!("fx-{test}-{t}")
}

/// The platform's pods run on the real node (a disk-pressure taint or an
/// untainted fake node would send them to kwok, which runs nothing).
pub fn on_the_real_node(cluster: &Cluster, ns: &str) {
    let nodes = cluster.text(&[
        "get",
        "pods",
        "-n",
        ns,
        "-l",
        "app.kubernetes.io/name=storage",
        "-o",
        "jsonpath={.items[*].spec.nodeName}",
    ]);
    let real =
        cluster.text(&["get", "nodes", "-l", "xtask.dev/real-node=true", "-o", "jsonpath={.items[*].metadata.name}"]);
    assert!(
        !real.trim().is_empty() && !nodes.trim().is_empty() && nodes.split_whitespace().all(|n| n == real.trim()),
        "storage runs on `{nodes}`, not on the real node `{real}`: look at the nodes' taints (kubectl describe node) and restart the node (cargo xtask services up)"
    );
}
