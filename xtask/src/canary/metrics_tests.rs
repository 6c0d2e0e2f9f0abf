use super::*;

/// A scrape of storage's `/metrics` as the client library writes it (abridged).
const SCRAPE: &str = r#"# HELP http_requests_total Multiprocess metric
# TYPE http_requests_total counter
http_requests_total{method="GET",route="/datasets",status="200"} 40.0
http_requests_total{method="GET",route="/datasets/{name}",status="404"} 10.0
http_requests_total{method="PUT",route="/datasets/{name}",status="500"} 2.0
http_requests_total{method="GET",route="/healthz",status="200"} 99.0
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.005",method="GET",route="/datasets"} 30.0
http_request_duration_seconds_bucket{le="0.01",method="GET",route="/datasets"} 40.0
http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/datasets"} 40.0
http_request_duration_seconds_sum{method="GET",route="/datasets"} 0.2
http_request_duration_seconds_count{method="GET",route="/datasets"} 40.0
http_request_duration_seconds_bucket{le="0.005",method="GET",route="/healthz"} 99.0
http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/healthz"} 99.0
http_request_duration_seconds_sum{method="GET",route="/healthz"} 0.1
"#;

#[test]
fn sample_lines_parse_with_labels_and_escapes() {
    let (name, labels, v) = sample(r#"x_total{a="1",b="q\"uo\\te"} 3.5"#).unwrap();
    assert_eq!((name.as_str(), v), ("x_total", 3.5));
    assert_eq!(labels["b"], "q\"uo\\te");
    assert_eq!(sample("up 1").unwrap().2, 1.0);
    assert_eq!(sample("# HELP x"), None);
    assert_eq!(sample("bad{a=1} 2"), None);
}

#[test]
fn counts_leave_probes_out() {
    let c = counts(SCRAPE);
    assert_eq!((c.requests, c.errors), (52.0, 2.0));
    assert_eq!(c.buckets[&Bound(0.005)], 30.0);
    assert_eq!(c.buckets[&Bound(f64::INFINITY)], 40.0);
    assert!((c.seconds - 0.2).abs() < 1e-9);
    assert_eq!(latencies(&c).len(), 40);
    assert_eq!(latencies(&c)[0], 0.0025);
    assert_eq!(latencies(&c)[39], 0.0075);
}

#[test]
fn a_window_is_the_growth_and_a_restart_counts_from_zero() {
    let before = counts(SCRAPE);
    let after = counts(&SCRAPE.replace("} 40.0", "} 50.0"));
    let w = window(&before, &after);
    assert_eq!(w.requests, 10.0);
    assert_eq!(w.buckets[&Bound(f64::INFINITY)], 10.0);
    let restarted = counts(&SCRAPE.replace("} 40.0", "} 5.0"));
    assert_eq!(window(&before, &restarted), restarted);
    assert_eq!(sum([&w, &w]).requests, 20.0);
}

#[test]
fn integer_values_and_a_root_route_count() {
    let c = counts("http_requests_total{method=\"GET\",route=\"/\",status=\"200\"} 91\nhttp_request_duration_seconds_bucket{le=\"0.001\",method=\"GET\",route=\"/\"} 17\n");
    assert_eq!(c.requests, 91.0);
    assert_eq!(c.buckets[&Bound(0.001)], 17.0);
}

/// Recorded from the storage image (two forked workers, the client library's
/// multiprocess mode): a probe, 30 listings, 30 reads of a missing dataset and
/// a refused write.
const RECORDED: &str = include_str!("testdata/storage-metrics.txt");

#[test]
fn a_recorded_storage_scrape_reads_as_61_requests_without_the_probe() {
    let c = counts(RECORDED);
    assert_eq!((c.requests, c.errors), (61.0, 0.0));
    assert_eq!(c.buckets[&Bound(f64::INFINITY)], 61.0);
    assert_eq!(latencies(&c).len(), 61);
    assert!((c.seconds - (0.09160412499841186 + 0.1281937059993652 + 0.008293904000311159)).abs() < 1e-9);
}
