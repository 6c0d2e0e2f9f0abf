use super::*;

const COSIGN_MOD: &str = "module x\n\nrequire (\n\tgithub.com/sigstore/cosign/v3 v3.1.3 // indirect\n)\n";
const SYFT_MOD: &str = "module y\n\nrequire (\n\tgithub.com/anchore/syft v1.57.2 // indirect\n)\n";

#[test]
fn versions_come_from_the_pins_and_a_missing_pin_is_named() {
    assert_eq!(versions(COSIGN_MOD, SYFT_MOD).unwrap(), Versions { cosign: "v3.1.3".into(), syft: "v1.57.2".into() });
    let err = versions("module x\n", SYFT_MOD).unwrap_err();
    assert!(err.contains("github.com/sigstore/cosign/v3") && err.contains(".ci/signing/cosign/go.mod"), "{err}");
}

#[test]
fn the_key_moves_with_the_pins_and_go() {
    let files = vec![("cosign/go.mod", COSIGN_MOD.to_string()), ("syft/go.mod", SYFT_MOD.to_string())];
    let v = versions(COSIGN_MOD, SYFT_MOD).unwrap();
    let k = key(&files, &v, "go1.26.8");
    assert_eq!(k.len(), 16);
    assert_ne!(key(&files, &v, "go1.26.9"), k);
    let mut other = files.clone();
    other[1].1.push('\n');
    assert_ne!(key(&other, &v, "go1.26.8"), k);
}

#[test]
fn the_stamps_are_upstreams() {
    let [c, s] = ldflags(&Versions { cosign: "v3.1.3".into(), syft: "v1.57.2".into() });
    assert!(c.contains("sigs.k8s.io/release-utils/version.gitVersion=v3.1.3"), "{c}");
    assert!(c.contains("buildDate=1970-01-01T00:00:00Z"), "a fixed date: the binary depends on the pins only");
    assert!(s.ends_with("-X main.version=1.57.2"), "{s}");
}

#[test]
fn half_a_key_pair_is_refused_not_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let (sh, root) = (Shell::new().unwrap(), tmp.path().to_path_buf());
    let dirs = crate::services::Dirs { state: root.join("state"), cache: root.join("cache") };
    let cx = Ctx { sh: &sh, root: &root, dirs: &dirs, github: false, euid: 0, recorded: None };
    let pair = keys::Pair::at(&cx);
    std::fs::create_dir_all(&pair.dir).unwrap();
    std::fs::write(pair.public(), "pub").unwrap();
    // Never reaches cosign: the missing files are refused first.
    let err = keys::ensure(&cx, Path::new("/nonexistent/cosign")).err().unwrap().to_string();
    assert!(err.contains("part of a key pair") && err.contains("restore"), "{err}");
    assert_eq!(std::fs::read_to_string(pair.public()).unwrap(), "pub", "nothing replaced");
}
