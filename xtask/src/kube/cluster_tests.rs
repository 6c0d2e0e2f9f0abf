use super::*;

#[test]
fn rbac_refusals_name_who_the_verb_the_resource_and_the_namespace() {
    let stderr = "Error from server (Forbidden): leases.coordination.k8s.io \"mlops-deploy-lock\" is forbidden: User \"viewer\" cannot create resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"mlops-staging\"\n";
    let e = explain(stderr, "https://127.0.0.1:6443");
    assert_eq!(crate::error::exit_code(&e), 2);
    assert_eq!(
        e.to_string(),
        "forbidden: viewer may not create leases.coordination.k8s.io in namespace mlops-staging: grant it with a Role and RoleBinding, or use credentials that may"
    );
    let core = "Error from server (Forbidden): deployments.apps is forbidden: User \"v\" cannot list resource \"pods\" in API group \"\" in the namespace \"ns\"";
    assert!(explain(core, "s").to_string().starts_with("forbidden: v may not list pods in namespace ns:"));
}

#[test]
fn an_unreachable_server_is_one_line_with_its_address() {
    let stderr = "E1127 05:00:00.000000 1 memcache.go:265] \"Unhandled Error\" err=\"couldn't get current server API group list: Get \\\"https://127.0.0.1:1/api\\\": dial tcp 127.0.0.1:1: connect: connection refused\"\nThe connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?\n";
    let e = explain(stderr, "https://127.0.0.1:1");
    assert_eq!(crate::error::exit_code(&e), 2);
    let line = e.to_string();
    assert!(line.starts_with("the cluster at https://127.0.0.1:1 is unreachable ("), "{line}");
    assert!(!line.contains('\n'), "{line}");
}

#[test]
fn other_failures_keep_kubectls_words() {
    let e = explain("error: the server doesn't have a resource type \"leasez\"\n", "s");
    assert_eq!(crate::error::exit_code(&e), 1);
    assert_eq!(e.to_string(), "kubectl: the server doesn't have a resource type \"leasez\"");
}
