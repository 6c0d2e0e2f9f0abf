use super::*;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

#[test]
fn a_key_secret_wins_then_keyless_on_github_then_the_machines_pair() {
    let local = env_of(&[("XTASK_SIGNING_KEY", "/k/cosign.key"), ("XTASK_SIGNING_PASSWORD_FILE", "/k/password")]);
    assert_eq!(
        Signer::decide(&local, false),
        Some(Signer::Key { key: "/k/cosign.key".into(), password_file: Some("/k/password".into()) })
    );
    let gh = env_of(&[("ACTIONS_ID_TOKEN_REQUEST_URL", "https://x"), ("XTASK_SIGNING_KEY", "/k/cosign.key")]);
    assert_eq!(
        Signer::decide(&gh, true),
        Some(Signer::Keyless),
        "the workflow's identity beats a runner's throwaway pair"
    );
    assert_eq!(Signer::decide(&gh, false).map(|s| s.describe()), Some("key /k/cosign.key".into()));
    let secret = env_of(&[("COSIGN_PRIVATE_KEY", "pem"), ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://x")]);
    assert_eq!(
        Signer::decide(&secret, true),
        Some(Signer::Key { key: "env://COSIGN_PRIVATE_KEY".into(), password_file: None })
    );
    assert_eq!(Signer::decide(&env_of(&[]), false), None);
    assert_eq!(Signer::decide(&env_of(&[("ACTIONS_ID_TOKEN_REQUEST_URL", "")]), true), None, "empty is unset");
}

#[test]
fn verification_mirrors_signing_and_pins_keyless_to_this_repositorys_workflows() {
    let gh = env_of(&[("GITHUB_REPOSITORY", "acme/ml.ops"), ("XTASK_SIGNING_PUBLIC_KEY", "/k/cosign.pub")]);
    match Verifier::decide(&gh, true).unwrap() {
        Verifier::Keyless { identity_regexp, issuer } => {
            assert_eq!(identity_regexp, "^https://github\\.com/acme/ml\\.ops/\\.github/workflows/");
            assert_eq!(issuer, GITHUB_ISSUER);
        }
        other => panic!("{other:?}"),
    }
    let v = Verifier::decide(&gh, false).unwrap();
    assert_eq!(v, Verifier::Key("/k/cosign.pub".into()));
    let public = env_of(&[("COSIGN_PUBLIC_KEY", "pem"), ("GITHUB_REPOSITORY", "acme/x")]);
    assert_eq!(Verifier::decide(&public, true), Some(Verifier::Key("env://COSIGN_PUBLIC_KEY".into())));
    assert_eq!(Verifier::decide(&env_of(&[]), false), None);
}
