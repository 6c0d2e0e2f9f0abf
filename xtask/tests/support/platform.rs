//! The real platform deployed by the real xtask onto the local cluster's real
//! node, into a namespace of the test's own: a copy of the monorepo whose
//! overlay for ENV deploys there and pins this checkout's images (built and
//! pushed to the local registry once per run), with the images report those
//! pins come from. Used by the smoke-check and environment tests.

use super::{git, Cluster};
use std::path::Path;
use std::process::Command;

/// The real monorepo's pins: the images of this checkout, built and pushed to
/// the recorded registry and pinned in the workspace
/// (`target/xtask/overlays/development`) unless an earlier run did. The same
/// images are every environment's: only the overlays' settings differ.
pub fn real_pins() -> String {
    // Every test needs them: built once per run, whichever test comes first.
    static PINS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PINS.get_or_init(build_real_pins).clone()
}

fn build_real_pins() -> String {
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let pinned = real.join("target/xtask/overlays/development/kustomization.yaml");
    if !pinned.is_file() {
        for args in [&["image", "build", "--push", "--allow-dirty"][..], &["manifests", "update", "development"][..]] {
            let out = Command::new(env!("CARGO_BIN_EXE_xtask")).arg("--root").arg(&real).args(args).output().unwrap();
            assert!(
                out.status.success(),
                "xtask {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    std::fs::read_to_string(pinned).unwrap()
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
