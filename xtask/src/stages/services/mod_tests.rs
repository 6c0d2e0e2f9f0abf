use super::*;

#[test]
fn a_cold_up_says_each_services_share_largest_first_and_a_warm_one_says_nothing() {
    let took = |t: &[(&str, f64)]| t.iter().map(|(n, s)| (n.to_string(), *s)).collect::<Vec<_>>();
    let cold =
        took(&[("docker", 0.2), ("kube's build", 540.0), ("buildx", 300.0), ("registry", 0.4), ("otelcol", 60.0)]);
    assert_eq!(
        shares(&cold, 900.0).as_deref(),
        Some("  where the time went: kube's build 540s (60%), buildx 300s (33%), otelcol 60s (7%)")
    );
    // Everything found running: no share worth saying.
    assert_eq!(shares(&took(&[("kube", 13.7), ("buildx", 25.0)]), 41.9), None);
}
