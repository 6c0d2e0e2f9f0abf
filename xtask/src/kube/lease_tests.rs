use super::*;

const NOW: u64 = 1_795_755_600; // 2026-11-27T05:00:00Z

#[test]
fn time_round_trips_through_the_api_format() {
    use crate::clock::parse_rfc3339;
    assert_eq!(parse_rfc3339("2026-11-27T05:00:00Z"), Some(NOW));
    assert_eq!(parse_rfc3339("2026-11-27T05:00:00.123456Z"), Some(NOW));
    assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(parse_rfc3339("2024-02-29T12:00:00Z"), Some(1_709_208_000));
    assert_eq!(parse_rfc3339("yesterday"), None);
    assert_eq!(format_rfc3339(NOW), "2026-11-27T05:00:00.000000Z");
}

#[test]
fn a_free_expired_or_own_lease_is_taken_and_a_live_one_is_not() {
    assert_eq!(decide(None, "me", NOW), Decision::Take);
    let lease = held_by("ci-run-7", "mlops-staging", NOW - 10, None);
    assert_eq!(decide(Some(&lease), "ci-run-7", NOW), Decision::Take);
    assert_eq!(
        decide(Some(&lease), "laptop", NOW),
        Decision::Held { holder: "ci-run-7".into(), remaining_s: DURATION_S - 10 }
    );
    // A crashed holder stops renewing: its lease expires.
    assert_eq!(decide(Some(&lease), "laptop", NOW - 10 + DURATION_S), Decision::Take);
    let released = serde_json::json!({"spec": {"holderIdentity": ""}});
    assert_eq!(decide(Some(&released), "laptop", NOW), Decision::Take);
}

#[test]
fn renewing_keeps_the_acquire_time_and_the_resource_version() {
    let mut first = held_by("me", "ns", NOW, None);
    assert!(first["metadata"]["resourceVersion"].is_null());
    first["metadata"]["resourceVersion"] = "42".into();
    let renewed = held_by("me", "ns", NOW + 10, Some(&first));
    assert_eq!(renewed["spec"]["acquireTime"], "2026-11-27T05:00:00.000000Z");
    assert_eq!(renewed["spec"]["renewTime"], "2026-11-27T05:00:10.000000Z");
    assert_eq!(renewed["metadata"]["resourceVersion"], "42");
    let taken = held_by("other", "ns", NOW + 99, Some(&first));
    assert_eq!(taken["spec"]["acquireTime"], taken["spec"]["renewTime"]);
}
