use super::*;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn medians() {
    assert_eq!(median(&[]), None);
    assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
}

#[test]
fn the_normal_tail_matches_known_values() {
    assert!(close(normal_sf(0.0), 0.5, 1e-7));
    assert!(close(normal_sf(1.959_964), 0.025, 1e-6));
    assert!(close(normal_sf(2.326_348), 0.01, 1e-6));
    assert!(close(normal_sf(-1.0), 0.841_344_7, 1e-6));
}

/// Checked against scipy.stats.mannwhitneyu(a, b, alternative="two-sided",
/// method="asymptotic", use_continuity=True).
#[test]
#[allow(clippy::approx_constant)] // 3.14 is a sample, not π
fn mann_whitney_matches_the_reference_implementation() {
    let a = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30];
    let b = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29];
    let r = mann_whitney(&a, &b).unwrap();
    assert_eq!(r.u, 58.0);
    assert!(close(r.p, 0.1329, 5e-4), "{r:?}");
    // Disjoint samples of 10 are as different as samples of 10 can be.
    let low: Vec<f64> = (0..10).map(f64::from).collect();
    let high: Vec<f64> = (100..110).map(f64::from).collect();
    let r = mann_whitney(&low, &high).unwrap();
    assert_eq!(r.u, 0.0);
    assert!(close(r.p, 0.000_182_7, 2e-6), "{r:?}");
}

#[test]
fn ties_and_identical_samples_are_no_evidence() {
    let same = [5.0; 8];
    assert_eq!(mann_whitney(&same, &same).unwrap().p, 1.0);
    let a = [1.0, 2.0, 2.0, 3.0];
    let r = mann_whitney(&a, &a).unwrap();
    assert!(r.p > 0.9, "{r:?}");
    assert_eq!(mann_whitney(&[], &a), None);
}

#[test]
fn hodges_lehmann_is_the_median_shift() {
    let a = [11.0, 12.0, 13.0];
    let b = [1.0, 2.0, 3.0];
    assert_eq!(hodges_lehmann(&a, &b), Some(10.0));
    assert_eq!(hodges_lehmann(&[], &b), None);
}

#[test]
fn the_ratio_interval_covers_the_true_ratio_and_is_reproducible() {
    let base = [100.0, 102.0, 98.0, 101.0, 99.0, 100.5, 99.5, 100.2];
    let slower: Vec<f64> = base.iter().map(|x| x * 1.35).collect();
    let (lo, hi) = ratio_interval(&slower, &base, 0.95, 2000, 7).unwrap();
    assert!(lo > 1.25 && hi < 1.45 && lo <= 1.35 && 1.35 <= hi, "({lo}, {hi})");
    assert_eq!(ratio_interval(&slower, &base, 0.95, 2000, 7), Some((lo, hi)));
    let (lo, hi) = ratio_interval(&base, &base, 0.95, 2000, 7).unwrap();
    assert!(lo < 1.0 && hi > 1.0, "an A/A interval holds 1: ({lo}, {hi})");
    assert_eq!(ratio_interval(&base, &[0.0, 0.0], 0.95, 100, 1), None);
}

#[test]
fn the_fewest_samples_that_can_show_a_difference() {
    // Two separated samples of 3 give p = 0.081 at best: never significant at 95%.
    assert_eq!(min_samples(0.95), 4);
    assert_eq!(min_samples(0.99), 6);
    assert_eq!(min_samples(0.90), 3);
}
