use super::*;

const CONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n  name: local\nusers:\n- name: admin\n  user:\n    token: s3cr3t-token\n";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn where_the_kubeconfig_comes_from() {
    let none = |_: &Path| false;
    let flag = Path::new("/etc/k");
    assert_eq!(source(Some(flag), Some("x"), Some("y"), none), Source::Path(flag.into()));
    assert_eq!(source(None, Some("/a/b"), Some("abc"), none), Source::Encoded("abc".into(), "KUBECONFIG_B64"));
    assert_eq!(source(None, Some("/root/.kube/config"), None, none), Source::Path("/root/.kube/config".into()));
    assert_eq!(source(None, Some("a:b"), None, none), Source::Path("a:b".into()));
    assert_eq!(source(None, Some("kubeconfig"), None, |_| true), Source::Path("kubeconfig".into()));
    let enc = b64(CONFIG);
    assert_eq!(source(None, Some(&enc), None, none), Source::Encoded(enc.clone(), "KUBECONFIG"));
    // Base64 often holds `/`: it still counts as encoded when it decodes to a kubeconfig.
    let slashed = b64(&format!("{CONFIG}# ?>?>?>\n"));
    assert!(slashed.contains('/'), "{slashed}");
    assert_eq!(source(None, Some(&slashed), None, none), Source::Encoded(slashed.clone(), "KUBECONFIG"));
    assert_eq!(source(None, Some(""), Some(" "), none), Source::Default);
    assert_eq!(source(None, None, None, none), Source::Default);
}

#[test]
fn decoding_accepts_wrapped_base64_and_refuses_what_is_not_a_kubeconfig() {
    let enc = b64(CONFIG);
    let wrapped: String = enc.as_bytes().chunks(60).map(|c| format!("{}\n", std::str::from_utf8(c).unwrap())).collect();
    assert_eq!(decode(&wrapped, "KUBECONFIG_B64").unwrap(), CONFIG.as_bytes());
    let e = decode("not base64 at all!", "KUBECONFIG_B64").unwrap_err();
    assert_eq!(crate::error::exit_code(&e), 2);
    assert!(format!("{e:#}").starts_with("KUBECONFIG_B64 is neither an existing file nor valid base64"), "{e:#}");
    let e = decode(&b64("hello"), "KUBECONFIG").unwrap_err();
    assert!(format!("{e:#}").contains("not a kubeconfig"), "{e:#}");
}

#[test]
fn secrets_in_a_kubeconfig_are_found_for_masking() {
    let with_key = format!("{CONFIG}    client-key-data: \"QUJD\"\n    password: pw\n");
    assert_eq!(secrets_in(&with_key), ["s3cr3t-token", "QUJD", "pw"]);
    // An auth provider's tokens and an OIDC client's secret are secrets too.
    let provider = "users:\n- name: u\n  user:\n    auth-provider:\n      config:\n        access-token: at1\n        refresh-token: 'rt2'\n        client-secret: \"cs3\"\n        client-id: public\n";
    assert_eq!(secrets_in(provider), ["at1", "rt2", "cs3"]);
}

#[test]
fn a_decoded_kubeconfig_is_private_and_removed_on_drop() {
    use std::os::unix::fs::PermissionsExt;
    let k = write_private(CONFIG.as_bytes()).unwrap();
    let path = k.path.clone();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), CONFIG);
    drop(k);
    assert!(!path.exists());
}
