use super::*;

const MAIN: &str = "module xtask.dev/kube\n\ngo 1.25.0\n\nrequire k8s.io/kubernetes v1.34.12\n\nrequire (\n\tk8s.io/client-go v0.34.12 // indirect\n)\n\nreplace (\n\tk8s.io/api => k8s.io/api v0.34.12\n)\n";

#[test]
fn pins_are_read_from_require_lines_blocks_and_replaces() {
    assert_eq!(pin(MAIN, "k8s.io/kubernetes").as_deref(), Some("v1.34.12"));
    assert_eq!(pin(MAIN, "k8s.io/client-go").as_deref(), Some("v0.34.12"));
    assert_eq!(pin(MAIN, "k8s.io/api").as_deref(), Some("v0.34.12"));
    assert_eq!(pin(MAIN, "k8s.io/none"), None);
}

#[test]
fn the_staging_modules_must_match_kubernetes() {
    let etcd = "require go.etcd.io/etcd/server/v3 v3.6.16\n";
    let kwok = "require sigs.k8s.io/kwok v0.8.0\n";
    let coredns = "require github.com/coredns/coredns v1.12.1\n";
    let v = versions(MAIN, etcd, kwok, coredns).unwrap();
    assert_eq!(
        (v.kubernetes.as_str(), v.minor.as_str(), v.etcd.as_str(), v.kwok.as_str(), v.coredns.as_str()),
        ("v1.34.12", "34", "v3.6.16", "v0.8.0", "v1.12.1")
    );
    let skewed = MAIN.replace("client-go v0.34.12", "client-go v0.34.13");
    assert_eq!(
        versions(&skewed, etcd, kwok, coredns).unwrap_err(),
        "k8s.io/client-go is replaced by v0.34.13 but k8s.io/kubernetes is v1.34.12: keep the staging replaces at v0.34.12 in .ci/kube/go.mod"
    );
    assert!(versions("module x\n", etcd, kwok, coredns)
        .unwrap_err()
        .starts_with("cannot read the k8s.io/kubernetes pin"));
}

#[test]
fn the_key_is_the_shell_scripts_key_and_moves_with_any_input() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(PINS);
    let files: Vec<(&str, String)> =
        PIN_FILES.iter().map(|f| (*f, std::fs::read_to_string(root.join(f)).unwrap())).collect();
    let v = versions(&files[0].1, &files[2].1, &files[4].1, &files[6].1).unwrap();
    let k = key(&files, &v, "go1.26.8");
    assert_eq!(k.len(), 16);
    assert_ne!(key(&files, &v, "go1.26.9"), k, "another Go builds other binaries");
    let mut changed = files.clone();
    changed[1].1.push('\n');
    assert_ne!(key(&changed, &v, "go1.26.8"), k, "a changed go.sum is another build");
}
