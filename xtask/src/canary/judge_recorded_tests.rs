//! The judge's false-alarm rate and detection power, measured on analysis
//! windows recorded from real canary runs (the live code path: the fixture
//! server of `xtask/tests/canary.rs` on the real node, its load Job, the
//! scrapes through the API server) instead of live A/A loops in every test
//! run. Recorded with the live test's settings (1 canary beside 2 stable pods,
//! `interval = "5s"`, `load_rate = 30`, `min_requests = 20`) on the project's
//! 2-core machine at load average 13 to 19; each line of `testdata/windows-*.jsonl`
//! is one analysis: the stable and canary windows the judge was given.
//! `aa`: the same server released again (A/A); `slow-Nms`: a release N ms
//! slower per request (`DELAY_MS`), judged against the unchanged stable.

use super::*;
use crate::canary::metrics::{Bound, Counts};
use crate::canary::strategy::{parse, Strategy};
use serde_json::Value;

/// The live canary test's settings, the defaults for the rest (98% confidence,
/// 25% tolerance, 5 ms latency margin, 1 point of errors).
fn live() -> Canary {
    let text = "strategy = \"canary\"\n[canary]\ncomponents = [\"web\"]\nreplicas = 1\nanalyses = 2\n\
                interval = \"5s\"\nfailure_threshold = 1\nmin_requests = 20\nload_rate = 30\n";
    let Strategy::Canary(c) = parse("x", Some(text)).unwrap() else { panic!("a canary strategy") };
    c
}

fn counts(v: &Value) -> Counts {
    let bound = |b: &Value| match b.as_str().unwrap() {
        "+Inf" => f64::INFINITY,
        s => s.parse().unwrap(),
    };
    Counts {
        requests: v["requests"].as_f64().unwrap(),
        errors: v["errors"].as_f64().unwrap(),
        seconds: v["seconds"].as_f64().unwrap(),
        buckets: v["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (Bound(bound(&b[0])), b[1].as_f64().unwrap()))
            .collect(),
    }
}

/// The recorded (stable, canary) windows of one file.
fn windows(text: &str) -> Vec<(Counts, Counts)> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (counts(&v["stable"]), counts(&v["canary"]))
        })
        .collect()
}

fn aa() -> Vec<(Counts, Counts)> {
    windows(include_str!("testdata/windows-aa.jsonl"))
}

/// How many of `w` the judge calls each way: (fail, pass, no data).
fn calls(w: &[(Counts, Counts)], c: &Canary) -> (usize, usize, usize) {
    let all: Vec<Call> = w.iter().map(|(s, k)| judge(s, k, c).call).collect();
    let n = |x: Call| all.iter().filter(|c| **c == x).count();
    (n(Call::Fail), n(Call::Pass), n(Call::NoData))
}

#[test]
fn recorded_a_a_analyses_never_false_alarm_and_their_releases_are_promoted() {
    let (w, c) = (aa(), live());
    assert!(w.len() >= 40, "{} recorded A/A analyses", w.len());
    // Every window had the traffic to judge: the shortest windows still judge.
    assert!(w.iter().all(|(s, k)| s.requests >= 20.0 && k.requests >= 20.0));
    for (s, k) in &w {
        let a = judge(s, k, &c);
        println!("A/A {} against {} requests: {}", s.requests, k.requests, a.rows[2].test);
    }
    assert_eq!(calls(&w, &c), (0, w.len(), 0), "false alarms on identical releases");
    // Either way round (the canary the faster one): no alarm either.
    let swapped: Vec<(Counts, Counts)> = w.iter().map(|(s, k)| (k.clone(), s.clone())).collect();
    assert_eq!(calls(&swapped, &c).0, 0);
    // As the live test's releases: two analyses each, every one promoted.
    for pair in w.chunks_exact(2) {
        let done: Vec<Analysis> = pair.iter().map(|(s, k)| judge(s, k, &c)).collect();
        assert_eq!(decide(&done, &c), Decision::Promote, "{done:?}");
    }
}

#[test]
fn on_recorded_a_a_noise_the_margin_and_the_significance_test_are_what_keep_it_quiet() {
    // Without them (any rise of the mean beyond the tolerance fails) the same
    // windows false-alarm: the guards are load-bearing, not decoration.
    let w = aa();
    let mut loose = live();
    loose.latency_margin_ms = 0.0;
    loose.confidence = 0.5;
    let (fail, _, _) = calls(&w, &loose);
    println!("without the guards: {fail} of {} A/A analyses failed", w.len());
    assert!(fail >= w.len() / 10, "{fail} of {} failed without the guards", w.len());
}

#[test]
fn recorded_slower_releases_are_caught_at_their_first_analysis() {
    let c = live();
    for (name, text) in [
        ("150 ms", include_str!("testdata/windows-slow-150ms.jsonl")),
        ("20 ms", include_str!("testdata/windows-slow-20ms.jsonl")),
        ("10 ms", include_str!("testdata/windows-slow-10ms.jsonl")),
    ] {
        let w = windows(text);
        assert!(w.len() >= 10, "{name}: {} recorded analyses", w.len());
        // Detection power 1: every analysis fails on latency, so the first aborts.
        assert_eq!(calls(&w, &c), (w.len(), 0, 0), "{name} slower");
        for (s, k) in &w {
            let a = judge(s, k, &c);
            println!("{name} slower, {} against {} requests: {}", s.requests, k.requests, a.rows[2].test);
            assert_eq!((a.rows[1].call, a.rows[2].call), (Call::Pass, Call::Fail), "{name}: {a:?}");
            assert_eq!(decide(&[a], &c), Decision::Abort);
        }
    }
}

#[test]
fn a_slowdown_below_the_margin_is_let_through_by_design() {
    // The 10 ms release judged with a margin above its effect passes: the
    // margin is the smallest slowdown the canary is meant to catch.
    let mut c = live();
    c.latency_margin_ms = 15.0;
    let w = windows(include_str!("testdata/windows-slow-10ms.jsonl"));
    assert_eq!(calls(&w, &c).0, 0);
}
