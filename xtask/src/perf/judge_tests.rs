use super::*;
use crate::perf::spec::Scenario;
use std::time::Duration;

fn spec(better: Better) -> Scenario {
    Scenario {
        name: "read".into(),
        command: vec!["x".into()],
        metric: "ms".into(),
        better,
        samples: 10,
        warmup: 1,
        budget: Duration::from_secs(45),
        threshold: 0.10,
        confidence: 0.95,
    }
}

// Recorded on this project's 2-core machine with other builds running
// (`cargo xtask perf storage --scenario read`, medians in ms per read).
/// Base against an unchanged head (A/A): pair 3's head is an outlier.
const AA_BASE: [f64; 10] = [2.91, 3.80, 2.92, 3.28, 3.30, 3.00, 3.23, 3.40, 3.23, 2.88];
const AA_HEAD: [f64; 10] = [3.31, 3.52, 6.87, 3.05, 3.11, 3.07, 2.80, 3.06, 3.46, 2.79];
/// Head with a 1 ms sleep in the read handler: about a third slower.
const SLOW_BASE: [f64; 10] = [3.838, 3.07, 3.42, 2.757, 2.916, 2.915, 2.8, 3.254, 2.929, 3.502];
const SLOW_HEAD: [f64; 10] = [4.139, 4.606, 4.169, 3.992, 5.354, 3.989, 3.948, 4.035, 4.034, 4.176];
/// The same machine's write scenario in A/A runs (load average 12 to 18 on 2 cores): twice the spread.
const NOISY_BASE: [f64; 10] = [8.58, 9.55, 16.4, 13.7, 16.9, 21.3, 11.8, 16.0, 12.4, 11.0];
const NOISY_HEAD: [f64; 10] = [7.92, 11.3, 11.4, 12.6, 9.18, 12.9, 10.3, 14.6, 11.8, 11.4];
/// An A/A run whose head drew the busier moments: 13% worse, p 0.026.
const DRIFT_BASE: [f64; 10] = [7.817, 10.331, 10.903, 11.457, 10.804, 8.24, 9.09, 8.055, 11.63, 10.584];
const DRIFT_HEAD: [f64; 10] = [7.961, 13.286, 7.831, 11.912, 12.955, 11.03, 23.441, 11.707, 13.312, 11.69];

#[test]
fn a_a_noise_passes() {
    for (base, head) in [(AA_BASE, AA_HEAD), (NOISY_BASE, NOISY_HEAD), (AA_HEAD, AA_BASE), (NOISY_HEAD, NOISY_BASE)] {
        let v = judge(&base, &head, &spec(Better::Lower));
        assert_eq!(v.call, Call::Pass, "{v:?}");
    }
}

#[test]
fn an_a_a_run_that_drew_the_busy_moments_is_no_regression() {
    let v = judge(&DRIFT_BASE, &DRIFT_HEAD, &spec(Better::Lower));
    assert_eq!(v.call, Call::Pass, "the interval holds 1: {v:?}");
    assert_eq!(v.reason, "no clear change: p 0.026, but the interval holds 1");
    // At 99%, the confidence storage's write scenario asks for, it is not even significant.
    let strict = Scenario { confidence: 0.99, ..spec(Better::Lower) };
    assert_eq!(judge(&DRIFT_BASE, &DRIFT_HEAD, &strict).reason, "no significant change (p 0.03)");
}

#[test]
fn a_third_slower_fails_with_its_ratio() {
    let v = judge(&SLOW_BASE, &SLOW_HEAD, &spec(Better::Lower));
    assert_eq!(v.call, Call::Regression, "{v:?}");
    assert!((v.ratio - 1.36).abs() < 0.01, "{v:?}");
    assert!(v.interval.0 > 1.1 && v.interval.1 < 1.6, "{v:?}");
    assert!(v.p < 0.001, "{v:?}");
    assert_eq!(v.reason, "36% worse (threshold 10%, p 0.000)");
    assert!((v.shift - 1.0).abs() < 0.2, "about the 1 ms sleep: {v:?}");
}

#[test]
fn improvement_is_reported_as_such() {
    let v = judge(&SLOW_HEAD, &SLOW_BASE, &spec(Better::Lower));
    assert_eq!(v.call, Call::Improvement, "{v:?}");
    assert_eq!(v.reason, "27% better (p 0.000)");
}

#[test]
fn higher_is_better_turns_the_direction_round() {
    // The same numbers as throughput: head's larger values are the better ones.
    let v = judge(&SLOW_BASE, &SLOW_HEAD, &spec(Better::Higher));
    assert_eq!(v.call, Call::Improvement, "{v:?}");
    let v = judge(&SLOW_HEAD, &SLOW_BASE, &spec(Better::Higher));
    assert_eq!(v.call, Call::Regression, "{v:?}");
    assert!((v.worse_by - 0.36).abs() < 0.01, "{v:?}");
}

#[test]
fn a_certain_change_below_the_threshold_passes() {
    let base: Vec<f64> = (0..10).map(|i| 100.0 + f64::from(i) * 0.1).collect();
    let head: Vec<f64> = base.iter().map(|x| x * 1.05).collect();
    let v = judge(&base, &head, &spec(Better::Lower));
    assert_eq!(v.call, Call::Pass, "{v:?}");
    assert_eq!(v.reason, "5% worse, within the 10% threshold");
}

#[test]
fn too_few_samples_are_inconclusive() {
    let v = judge(&SLOW_BASE[..3], &SLOW_HEAD[..3], &spec(Better::Lower));
    assert_eq!(v.call, Call::Inconclusive, "{v:?}");
    assert_eq!(v.reason, "3 base and 3 head samples: it takes 4 each at 95% confidence");
    assert_eq!(judge(&[], &[], &spec(Better::Lower)).call, Call::Inconclusive);
}

#[test]
fn the_verdict_is_reproducible() {
    let s = spec(Better::Lower);
    assert_eq!(judge(&NOISY_BASE, &NOISY_HEAD, &s), judge(&NOISY_BASE, &NOISY_HEAD, &s));
}
