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
    let k = write_private(CONFIG.as_bytes(), "KUBECONFIG_B64".into()).unwrap();
    let path = k.path.clone();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), CONFIG);
    drop(k);
    assert!(!path.exists());
}

#[test]
fn why_a_kubeconfig_is_used_names_the_flag_the_variable_or_the_services_record() {
    let none = |_: &str| None;
    let path = Source::Path("/k".into());
    assert_eq!(why(true, &path, &none), "--kubeconfig");
    let encoded = Source::Encoded("x".into(), "KUBECONFIG_B64");
    assert_eq!(why(false, &encoded, &none), "KUBECONFIG_B64 (base64) from the environment");
    let own = |k: &str| (k == "KUBECONFIG").then(|| "/home/ann/.kube/prod".to_string());
    assert_eq!(why(false, &path, &own), "KUBECONFIG from the environment");
    // After `services up`: the record filled KUBECONFIG in for a caller who set none.
    let recorded = |k: &str| match k {
        "KUBECONFIG" => Some("/var/lib/xtask-kube/kubeconfig".to_string()),
        "XTASK_SERVICES_GAVE" => Some("KUBECONFIG,XTASK_KUBECTL".to_string()),
        "XTASK_SERVICES_USED" => Some("/var/lib/xtask/services.json".to_string()),
        _ => None,
    };
    assert_eq!(
        why(false, &path, &recorded),
        "KUBECONFIG from the services record /var/lib/xtask/services.json: set KUBECONFIG or pass its flag to use another"
    );
    // The flag wins over what the record gave.
    assert_eq!(why(true, &path, &recorded), "--kubeconfig");
    assert_eq!(why(false, &Source::Default, &none), "kubectl's default: neither --kubeconfig nor KUBECONFIG is set");
}
