//! The real platform deployed by the real xtask onto the local cluster's real
//! node, into a namespace of the test's own: a copy of the monorepo whose
//! overlay for ENV deploys there and pins this checkout's images (the shared
//! platform fixture: built and pushed to the local registry once per inputs,
//! whichever suite asks first), pushed again, signed and attested, by the
//! copy's own `image push` (the machine's key pair), so deploy verifies them
//! as it verifies any: signature, provenance (the copy's repository and
//! commit), SBOM. Used by the smoke-check, environment, preview and attack tests.

use super::{git, service_var, Cluster};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// The real images of this checkout's sources, shared by every suite that
/// needs them (images, node) and every test run: the sources committed at a
/// fixed commit (so the commit is a key of their inputs, as the task cache
/// keys by content), built and pushed to the recorded registry by the
/// README's push command, the images report kept in
/// `target/xtask/test-platform/<commit>-<base image>-<BuildKit image>.json`. A run finds the
/// record of its inputs (and the registry still serving each digest) and
/// builds nothing; else the first test to ask builds them while the others,
/// in this process or another suite's, wait on a file lock.
pub fn real_images() -> &'static serde_json::Value {
    static IMAGES: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    IMAGES.get_or_init(build_real_images)
}

/// The record's file for the sources at `commit` on the current base image
/// and the machine's builder's BuildKit image.
pub fn record_of(commit: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/xtask/test-platform");
    dir.join(format!("{}.json", inputs_key(commit, &super::buildx::buildx_config())))
}

/// What decides a build of the sources at `commit` besides the commit: the
/// base image and the BuildKit image of the builder whose config folder is `builder`.
pub fn inputs_key(commit: &str, builder: &Path) -> String {
    let base = super::registry::docker(&["image", "inspect", "--format", "{{.Id}}", "local/python:3.11-bookworm"]);
    assert!(base.status.success(), "no base image: run `cargo xtask services up base-images`");
    let base = String::from_utf8_lossy(&base.stdout).trim().trim_start_matches("sha256:").to_string();
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(builder.join("builder.json")).unwrap()).unwrap();
    let buildkit = spec["image"].as_str().unwrap().replace(['/', ':'], "_");
    format!("{}-{}-{buildkit}", &commit[..12], &base[..12.min(base.len())])
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

/// Where the copies' images go: a repository of this run's own in the test
/// registry (release tags there never touch the real images' tags, and the
/// attestations of earlier runs never pile up on the digests deploy verifies).
pub fn registry() -> String {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX
        .get_or_init(|| {
            let host = service_var("XTASK_TEST_REGISTRY")
                .expect("XTASK_TEST_REGISTRY is not recorded: run `cargo xtask services up registry`");
            format!("{host}/fixture-platform/{}", super::unique())
        })
        .clone()
}

/// `(component, local image)` of each shared platform image: pulled by
/// digest from the registry into this machine's engine (a push pushes what
/// the engine holds), once per run.
fn local_images() -> &'static [(String, String)] {
    static LOCAL: OnceLock<Vec<(String, String)>> = OnceLock::new();
    LOCAL.get_or_init(|| {
        let images = real_images();
        let components = images["components"].as_object().expect("an images report");
        let out: Vec<(String, String)> = components
            .iter()
            .map(|(name, e)| {
                let p = &e["pushed"][0];
                let by_digest = format!("{}@{}", p["repository"].as_str().unwrap(), p["digest"].as_str().unwrap());
                super::registry::pull(&by_digest);
                (name.clone(), by_digest)
            })
            .collect();
        assert_eq!(out.len(), 4, "the shared platform has every component: {images}");
        out
    })
}

/// `image push` in `root` of the real images under `tags` (the tags that
/// push takes from `root`'s HEAD): pushed to [`registry`], signed and
/// attested by the machine's key pair; `root`'s images report is the push's.
fn push_signed(root: &Path, tags: &[String]) {
    let prefix = registry();
    let mut named = Vec::new();
    for (component, local) in local_images() {
        for tag in tags {
            let name = format!("{prefix}/{component}:{tag}");
            docker(&["tag", local, &name]);
            named.push(name);
        }
    }
    let need = |k: &str| {
        service_var(k).unwrap_or_else(|| panic!("{k} is not recorded: run `cargo xtask services up registry`"))
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.arg("--root").arg(root).args(["image", "push", "--registry", &prefix]);
    cmd.env("XTASK_REGISTRY_USERNAME", need("XTASK_TEST_REGISTRY_USER"))
        .env("XTASK_REGISTRY_PASSWORD_FILE", need("XTASK_TEST_REGISTRY_PASSWORD_FILE"))
        .env_remove("XTASK_REGISTRY_PASSWORD");
    let out = super::signing(&mut cmd).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && said.contains("provenance (commit"),
        "xtask image push in {}: {said}",
        root.display()
    );
    // The engine keeps the real tags; the fixture's go (the registry has them now).
    for name in named {
        docker(&["image", "rm", &name]);
    }
}

fn docker(args: &[&str]) {
    let out = Command::new("docker").args(args).output().expect("docker runs (cargo xtask services up docker)");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The repository every copy is cloned from (once per run): the monorepo's
/// copy committed on main with `origin` its own `file://` address (the
/// repository the provenance names, the same from every clone), the real
/// images pushed from that commit, and the pins `manifests update` made.
struct Source {
    url: String,
    pins: String,
    /// Its images report (`image push`'s).
    report: String,
}

fn source() -> &'static Source {
    static SOURCE: OnceLock<Source> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        forget_earlier_sources(tmp);
        let dir = tmp.join(format!("platform-source-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(super::copy_of_the_monorepo().keep(), &dir).unwrap();
        std::fs::write(dir.join(".gitignore"), "/target/\n").unwrap();
        let url = format!("file://{}", dir.display());
        git(&dir, &["init", "-q", "-b", "main"]);
        git(&dir, &["remote", "add", "origin", &url]);
        let head = commit(&dir);
        push_signed(&dir, &[head.clone(), head[..7].to_string()]);
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .arg("--root")
            .arg(&dir)
            .args(["manifests", "update", "development"])
            .output()
            .unwrap();
        assert!(out.status.success(), "xtask manifests update: {}", String::from_utf8_lossy(&out.stderr));
        let pins = std::fs::read_to_string(dir.join("target/xtask/overlays/development/kustomization.yaml")).unwrap();
        let report = std::fs::read_to_string(dir.join("target/xtask/images.json")).unwrap();
        Source { url, pins, report }
    })
}

/// An earlier run's source, its process gone (each run's is small, but never kept).
fn forget_earlier_sources(tmp: &Path) {
    for e in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("platform-source-") else { continue };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// How the copy is committed: on main, or as a release (a tag `vVERSION` at
/// HEAD and an images report for that version), as production requires.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Build<'a> {
    Main,
    Release(&'a str),
}

/// A copy of the monorepo whose `env` overlay deploys into `ns`, cloned from
/// the run's [`source`] (the same repository, its commit an ancestor).
/// On main: the overlay pins the source's signed images in a commit of its
/// own (CI rebuilds nothing for a change of pins), with the images report
/// naming HEAD. A release: tagged `vVERSION` at HEAD, the real images pushed
/// from there (production takes only the release's own commit's), pinned by
/// `manifests update` as the release path does.
pub fn platform(env: &str, ns: &str, build: Build) -> tempfile::TempDir {
    let source = source();
    let copy = tempfile::tempdir().unwrap();
    let root = copy.path();
    git(root, &["clone", "-q", &source.url, "."]);
    let overlay = root.join(format!("deploy/overlays/{env}"));
    if build == Build::Main {
        // The copy pins them in its own overlay (a fixture: the real ones name images only).
        let images = &source.pins[source.pins.find("\nimages:").expect("the pins have an images: block")..];
        let committed = std::fs::read_to_string(overlay.join("kustomization.yaml")).unwrap();
        std::fs::write(overlay.join("kustomization.yaml"), format!("{committed}{images}")).unwrap();
    }
    for file in ["kustomization.yaml", "namespace.yaml"] {
        let text = std::fs::read_to_string(overlay.join(file)).unwrap();
        std::fs::write(overlay.join(file), text.replace(&format!("mlops-{env}"), ns)).unwrap();
    }
    let file = overlay.join("namespace.yaml");
    std::fs::write(&file, super::fixture_ns::labelled(&std::fs::read_to_string(&file).unwrap())).unwrap();
    let head = commit(root);
    match build {
        Build::Main => report(root, &source.report, &head),
        Build::Release(version) => {
            git(root, &["tag", &format!("v{version}")]);
            let minor = version.rsplit_once('.').map_or(version, |(m, _)| m);
            push_signed(root, &[version.to_string(), minor.to_string(), "latest".to_string()]);
            let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
                .arg("--root")
                .arg(root)
                .args(["manifests", "update", env])
                .output()
                .unwrap();
            assert!(out.status.success(), "xtask manifests update {env}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    copy
}

/// `target/xtask/images.json`: the source's push, built as far as the
/// report goes from `head` (a commit of pins over the one built).
fn report(root: &Path, pushed: &str, head: &str) {
    let mut report: serde_json::Value = serde_json::from_str(pushed).unwrap();
    let components = report["components"].as_object_mut().expect("the push reported its components");
    assert_eq!(components.len(), 4, "the push reported every component: {pushed}");
    for image in components.values_mut() {
        image["commit"] = head.into();
    }
    std::fs::create_dir_all(root.join("target/xtask")).unwrap();
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
