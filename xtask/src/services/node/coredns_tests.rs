use super::*;

#[test]
fn the_corefile_answers_the_cluster_domain_on_the_dns_address_and_forwards_nothing() {
    let c = corefile("/state/node/xtask-coredns.kubeconfig");
    assert!(c.contains("bind 169.254.20.10\n"), "{c}");
    assert!(c.contains("kubernetes cluster.local in-addr.arpa ip6.arpa {"), "{c}");
    assert!(c.contains("kubeconfig /state/node/xtask-coredns.kubeconfig xtask\n"), "{c}");
    assert!(c.contains("health 127.0.0.1:18080\n") && c.contains("ready 127.0.0.1:18181\n"), "{c}");
    // pods' DNS traffic stays on the machine
    assert!(!c.contains("forward"), "{c}");
    assert_eq!(c.matches('{').count(), c.matches('}').count(), "{c}");
}
