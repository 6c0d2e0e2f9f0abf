use super::*;
use crate::canary::metrics::{Bound, Counts};
use crate::canary::strategy::{parse, Strategy};

fn c() -> Canary {
    let Strategy::Canary(c) =
        parse("x", Some("strategy = \"canary\"\n[canary]\ncomponents = [\"storage\"]\n")).unwrap()
    else {
        panic!()
    };
    c
}

/// A window of `n` requests, `errors` of them 5xx, latencies spread over buckets around `ms` milliseconds.
fn window(n: u64, errors: u64, ms: f64) -> Counts {
    let bounds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, f64::INFINITY];
    let mut c = Counts { requests: n as f64, errors: errors as f64, ..Counts::default() };
    let mut cumulative = 0.0;
    for (i, b) in bounds.iter().enumerate() {
        // Requests by a fixed pattern around ms: a third at each of three neighbouring buckets.
        let centre = bounds.iter().position(|x| *x >= ms / 1000.0).unwrap_or(0);
        let here = if i + 1 == centre || i == centre || i == centre + 1 { n as f64 / 3.0 } else { 0.0 };
        cumulative += here;
        c.buckets.insert(Bound(*b), cumulative.min(n as f64));
    }
    c.seconds = n as f64 * ms / 1000.0;
    c
}

#[test]
fn identical_windows_pass() {
    let a = judge(&window(300, 0, 5.0), &window(100, 0, 5.0), &c());
    assert_eq!(a.call, Call::Pass, "{a:?}");
    assert_eq!(a.rows.len(), 3);
    assert_eq!(a.rows[0].test, "canary share 25%, at least 50 each");
}

#[test]
fn too_little_canary_traffic_is_no_data_never_a_pass() {
    let a = judge(&window(300, 0, 5.0), &window(20, 0, 5.0), &c());
    assert_eq!(a.call, Call::NoData);
    assert!(a.rows.iter().all(|r| r.call == Call::NoData), "{a:?}");
    let a = judge(&window(300, 0, 5.0), &Counts::default(), &c());
    assert_eq!(a.call, Call::NoData);
}

#[test]
fn a_clearly_slower_canary_fails_latency() {
    let a = judge(&window(300, 0, 5.0), &window(100, 0, 60.0), &c());
    assert_eq!(a.call, Call::Fail);
    assert_eq!(a.rows[2].call, Call::Fail, "{a:?}");
    assert_eq!(a.rows[1].call, Call::Pass);
}

#[test]
fn errors_beyond_the_tolerance_fail_and_within_it_pass() {
    let a = judge(&window(300, 0, 5.0), &window(100, 20, 5.0), &c());
    assert_eq!(a.rows[1].call, Call::Fail, "{a:?}");
    assert_eq!(a.rows[1].stable, "0.00%");
    assert_eq!(a.rows[1].canary, "20.00%");
    // One error in a hundred against none: not significant, and within one point anyway.
    let a = judge(&window(300, 0, 5.0), &window(100, 1, 5.0), &c());
    assert_eq!(a.rows[1].call, Call::Pass, "{a:?}");
}

#[test]
fn a_small_certain_slowdown_within_tolerance_passes() {
    // The same buckets, means 10% apart: within the 25% band.
    let mut slower = window(3000, 0, 5.0);
    slower.seconds *= 1.1;
    let a = judge(&window(3000, 0, 5.0), &slower, &c());
    assert_eq!(a.rows[2].call, Call::Pass, "{a:?}");
}

#[test]
fn a_sub_millisecond_slowdown_is_noise_however_certain() {
    // Recorded on a loaded node (A/A, the same release): 0.3 ms against 0.6 ms, p 0.004.
    let (stable, mut canary) = (window(3000, 0, 0.3), window(1000, 0, 2.0));
    canary.seconds = 1000.0 * 0.0006;
    let mut c = c();
    let a = judge(&stable, &canary, &c);
    assert_eq!(a.rows[2].call, Call::Pass, "{a:?}");
    assert!(a.rows[2].test.ends_with("+0.3 ms (margin 5 ms)"), "{}", a.rows[2].test);
    // With no margin the same windows fail: the margin is what passes them.
    c.latency_margin_ms = 0.0;
    assert_eq!(judge(&stable, &canary, &c).rows[2].call, Call::Fail);
}

#[test]
fn decisions_abort_pause_promote() {
    let c = c();
    let pass = Analysis { rows: vec![], call: Call::Pass };
    let fail = Analysis { rows: vec![], call: Call::Fail };
    let none = Analysis { rows: vec![], call: Call::NoData };
    assert_eq!(decide(std::slice::from_ref(&pass), &c), Decision::Continue);
    assert_eq!(decide(&[pass.clone(), fail.clone()], &c), Decision::Abort);
    assert_eq!(decide(&[pass.clone(), none.clone(), pass.clone()], &c), Decision::Pause);
    assert_eq!(decide(&[pass.clone(), pass.clone(), pass.clone()], &c), Decision::Promote);
}

#[test]
fn the_table_is_markdown_with_every_row() {
    let t = table("storage", 2, &judge(&window(300, 0, 5.0), &window(100, 0, 5.0), &c()));
    assert!(
        t.starts_with("| storage analysis 2 | stable | canary | p-value / ratio | result |\n|---|---|---|---|---|\n")
    );
    assert_eq!(t.lines().count(), 5);
}

#[test]
fn recorded_storage_windows_judged_against_themselves_and_a_slower_copy() {
    let real = crate::canary::metrics::counts(include_str!("testdata/storage-metrics.txt"));
    let mut c = c();
    c.min_requests = 20;
    assert_eq!(judge(&real, &real, &c).call, Call::Pass);
    // The same requests each 100 ms slower: every one lands in the 0.1–0.25 s bucket.
    let mut slow = Counts {
        requests: real.requests,
        errors: 0.0,
        seconds: real.seconds + real.requests * 0.1,
        ..Counts::default()
    };
    for b in real.buckets.keys() {
        slow.buckets.insert(*b, if b.0 >= 0.25 { real.requests } else { 0.0 });
    }
    let a = judge(&real, &slow, &c);
    assert_eq!(a.rows[2].call, Call::Fail, "{a:?}");
}
