use super::*;

#[test]
fn rbac_refusals_name_who_the_verb_the_resource_and_the_namespace() {
    let stderr = "Error from server (Forbidden): leases.coordination.k8s.io \"mlops-deploy-lock\" is forbidden: User \"viewer\" cannot create resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"mlops-staging\"\n";
    let e = explain(stderr, "https://127.0.0.1:6443", "viewer");
    assert_eq!(crate::error::exit_code(&e), 2);
    assert_eq!(
        e.to_string(),
        "forbidden: viewer may not create leases.coordination.k8s.io in namespace mlops-staging: grant it with a Role and RoleBinding, or use credentials that may"
    );
    let core = "Error from server (Forbidden): deployments.apps is forbidden: User \"v\" cannot list resource \"pods\" in API group \"\" in the namespace \"ns\"";
    assert!(explain(core, "s", "v").to_string().starts_with("forbidden: v may not list pods in namespace ns:"));
}

#[test]
fn an_unreachable_server_is_one_line_with_its_address() {
    let stderr = "E1127 05:00:00.000000 1 memcache.go:265] \"Unhandled Error\" err=\"couldn't get current server API group list: Get \\\"https://127.0.0.1:1/api\\\": dial tcp 127.0.0.1:1: connect: connection refused\"\nThe connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?\n";
    let e = explain(stderr, "https://127.0.0.1:1", "u");
    assert_eq!(crate::error::exit_code(&e), 2);
    let line = e.to_string();
    assert!(line.starts_with("the cluster at https://127.0.0.1:1 is unreachable ("), "{line}");
    assert!(!line.contains('\n'), "{line}");
}

#[test]
fn other_failures_keep_kubectls_words() {
    let e = explain("error: the server doesn't have a resource type \"leasez\"\n", "s", "u");
    assert_eq!(crate::error::exit_code(&e), 1);
    assert_eq!(e.to_string(), "kubectl: the server doesn't have a resource type \"leasez\"");
}

/// What kubectl 1.34 prints when the API server refuses a bogus token
/// (captured from the local cluster): `version`, `get`, and `apply`'s schema download.
const UNAUTHORIZED: [&str; 3] = [
    "error: You must be logged in to the server (the server has asked for the client to provide credentials)\n",
    "error: You must be logged in to the server (Unauthorized)\n",
    "error: error validating \"STDIN\": error validating data: failed to download openapi: the server has asked for the client to provide credentials; if you choose to ignore these errors, turn validation off with --validate=false\n",
];

#[test]
fn refused_credentials_name_the_user_and_the_fix_not_an_unreachable_cluster() {
    for stderr in UNAUTHORIZED {
        let e = explain(stderr, "https://127.0.0.1:6443", "release-manager");
        assert_eq!(crate::error::exit_code(&e), 2);
        assert_eq!(
            e.to_string(),
            "the cluster at https://127.0.0.1:6443 refused the credentials of user `release-manager` (401 Unauthorized: a wrong, expired or revoked token or certificate): give user `release-manager` valid credentials in the kubeconfig (on GitHub: the KUBECONFIG secret)"
        );
    }
    // A 403 that names no permission is a refusal too, not kubectl's raw words.
    let e = explain("Error from server (Forbidden): forbidden\n", "s", "");
    assert!(e.to_string().starts_with("the cluster at s refused the kubeconfig's user (403 Forbidden: "), "{e}");
    // RBAC's own message still names the verb and the resource.
    let rbac = "Error from server (Forbidden): secrets is forbidden: User \"u\" cannot list resource \"secrets\" in API group \"\" in the namespace \"ns\"";
    assert!(explain(rbac, "s", "u").to_string().starts_with("forbidden: u may not list secrets in namespace ns:"));
}

#[test]
fn the_cluster_line_says_kubeconfig_context_server_and_why() {
    assert_eq!(
        line("/var/lib/xtask-kube/kubeconfig", "xtask", false, "https://127.0.0.1:6443", "KUBECONFIG from the environment"),
        "cluster: /var/lib/xtask-kube/kubeconfig, context xtask, server https://127.0.0.1:6443 (KUBECONFIG from the environment)"
    );
    assert_eq!(
        line("/k", "prod", true, "https://k8s.example:443", "--kubeconfig"),
        "cluster: /k, context prod (--context), server https://k8s.example:443 (--kubeconfig)"
    );
}
