//! The statistics the canary judge and the performance gate share: a
//! Mann–Whitney U test (two-sided, normal approximation with tie and
//! continuity corrections, as Kayenta's judge uses), the Hodges–Lehmann
//! estimate of the shift between two samples, and a bootstrap interval on the
//! ratio of medians. Pure functions over plain samples; the resampling is
//! seeded, so a verdict is reproducible from its samples.

/// The median of a sample (None when empty).
pub fn median(xs: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// The result of a Mann–Whitney U test of `a` against `b`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// U of the first sample: how often an `a` exceeds a `b` (ties count half).
    pub u: f64,
    /// Two-sided p-value: the chance of a difference this large if both came from one distribution.
    pub p: f64,
}

/// Two-sided Mann–Whitney U test. None when either sample is empty.
pub fn mann_whitney(a: &[f64], b: &[f64]) -> Option<MannWhitney> {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    if a.is_empty() || b.is_empty() {
        return None;
    }
    // Rank the pooled sample, ties getting their average rank.
    let mut pooled: Vec<(f64, bool)> = a.iter().map(|&x| (x, true)).chain(b.iter().map(|&x| (x, false))).collect();
    pooled.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut rank_sum_a = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < pooled.len() {
        let mut j = i;
        while j + 1 < pooled.len() && pooled[j + 1].0 == pooled[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        rank_sum_a += pooled[i..=j].iter().filter(|p| p.1).count() as f64 * rank;
        i = j + 1;
    }
    let u = rank_sum_a - n1 * (n1 + 1.0) / 2.0;
    let n = n1 + n2;
    let mean = n1 * n2 / 2.0;
    let var = n1 * n2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
    if var <= 0.0 {
        // Every value equal: no evidence of any difference.
        return Some(MannWhitney { u, p: 1.0 });
    }
    let z = ((u - mean).abs() - 0.5).max(0.0) / var.sqrt();
    Some(MannWhitney { u, p: (2.0 * normal_sf(z)).min(1.0) })
}

/// The fewest samples per side at which two samples of that size that do
/// not overlap at all reach a two-sided p below `1 - confidence`: fewer can
/// never show a difference at that confidence, whatever they hold.
pub fn min_samples(confidence: f64) -> usize {
    (2..=100)
        .find(|&n| {
            let low: Vec<f64> = (0..n).map(|i| i as f64).collect();
            let high: Vec<f64> = (0..n).map(|i| (n + i) as f64).collect();
            mann_whitney(&low, &high).is_some_and(|r| r.p < 1.0 - confidence)
        })
        .unwrap_or(100)
}

/// Hodges–Lehmann estimate of the shift from `b` to `a`: the median of every `a - b`.
pub fn hodges_lehmann(a: &[f64], b: &[f64]) -> Option<f64> {
    let diffs: Vec<f64> = a.iter().flat_map(|x| b.iter().map(move |y| x - y)).collect();
    median(&diffs)
}

/// The upper tail of the standard normal distribution, P(Z > z).
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The complementary error function (Numerical Recipes' erfcc, |error| < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// A small deterministic generator (SplitMix64) for the bootstrap: no crate, same draws every run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A two-sided `confidence` bootstrap interval on median(a) / median(b), from
/// `rounds` resamples of each sample (percentile method). None when a sample
/// is empty or a resampled median of `b` is zero.
pub fn ratio_interval(a: &[f64], b: &[f64], confidence: f64, rounds: usize, seed: u64) -> Option<(f64, f64)> {
    if a.is_empty() || b.is_empty() || rounds == 0 {
        return None;
    }
    let mut rng = SplitMix(seed);
    let mut resample = |xs: &[f64]| -> f64 {
        let draw: Vec<f64> = (0..xs.len()).map(|_| xs[rng.below(xs.len())]).collect();
        median(&draw).unwrap_or(f64::NAN)
    };
    let mut ratios = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let (ma, mb) = (resample(a), resample(b));
        if mb == 0.0 {
            return None;
        }
        ratios.push(ma / mb);
    }
    ratios.sort_by(f64::total_cmp);
    let tail = (1.0 - confidence) / 2.0;
    let at = |q: f64| ratios[((q * (rounds - 1) as f64).round() as usize).min(rounds - 1)];
    Some((at(tail), at(1.0 - tail)))
}

#[cfg(test)]
#[path = "stats_tests.rs"]
mod tests;
