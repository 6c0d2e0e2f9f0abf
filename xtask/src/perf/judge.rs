//! The verdict on one scenario from its base and head samples (pure).
//!
//! Head is a regression when it is worse with the scenario's confidence and
//! by more than its threshold: the Mann–Whitney p is below 1 − confidence,
//! the bootstrap interval on the ratio of medians lies wholly on the worse
//! side of 1, and the ratio itself is beyond the threshold. An improvement is
//! the mirror image. Anything else passes: noise, or a change too small to
//! matter. Kayenta's judge works the same way (a significance test plus a
//! tolerance band), so a tiny but certain change does not fail a build and a
//! large but noisy one is not called without evidence.

use crate::perf::spec::{Better, Scenario};
use crate::stats;
use serde::Serialize;

/// Bootstrap resamples: enough for a stable 95% interval, a few ms to draw.
const ROUNDS: usize = 4000;
/// The resampling seed: the same samples always give the same verdict.
const SEED: u64 = 0x5eed_0f9e_5f00;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Call {
    Pass,
    Regression,
    Improvement,
    /// Too few samples to judge (a sample failed, or none were taken).
    Inconclusive,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub call: Call,
    pub base_median: f64,
    pub head_median: f64,
    /// median(head) / median(base), in the metric's own direction.
    pub ratio: f64,
    /// The bootstrap interval on that ratio at the scenario's confidence.
    pub interval: (f64, f64),
    /// Two-sided Mann–Whitney p-value.
    pub p: f64,
    /// The Hodges–Lehmann shift from base to head, in the metric's units.
    pub shift: f64,
    /// How much worse head is, as a fraction: 0.33 is a third worse, −0.2 a fifth better.
    pub worse_by: f64,
    /// The verdict in words, e.g. `34% worse (threshold 10%, p 0.002)`.
    pub reason: String,
}

/// How much worse `ratio` (head / base) is for a metric in direction `better`.
fn cost(ratio: f64, better: Better) -> f64 {
    match better {
        Better::Lower => ratio,
        Better::Higher => 1.0 / ratio,
    }
}

/// Judge `head` against `base` by the scenario's direction, threshold and confidence.
pub fn judge(base: &[f64], head: &[f64], spec: &Scenario) -> Verdict {
    let least = stats::min_samples(spec.confidence);
    let (bm, hm) = (stats::median(base).unwrap_or(f64::NAN), stats::median(head).unwrap_or(f64::NAN));
    let ratio = hm / bm;
    let interval = stats::ratio_interval(head, base, spec.confidence, ROUNDS, SEED).unwrap_or((f64::NAN, f64::NAN));
    let p = stats::mann_whitney(head, base).map(|r| r.p).unwrap_or(f64::NAN);
    let mut v = Verdict {
        call: Call::Pass,
        base_median: bm,
        head_median: hm,
        ratio,
        interval,
        p,
        shift: stats::hodges_lehmann(head, base).unwrap_or(f64::NAN),
        worse_by: cost(ratio, spec.better) - 1.0,
        reason: String::new(),
    };
    if base.len() < least || head.len() < least || !ratio.is_finite() {
        v.call = Call::Inconclusive;
        v.reason = format!(
            "{} base and {} head samples: it takes {least} each at {:.0}% confidence",
            base.len(),
            head.len(),
            spec.confidence * 100.0
        );
        return v;
    }
    // The interval in cost terms: (best case, worst case) for head.
    let (a, b) = (cost(interval.0, spec.better), cost(interval.1, spec.better));
    let (lo, hi) = (a.min(b), a.max(b));
    let significant = p < 1.0 - spec.confidence;
    let c = cost(ratio, spec.better);
    let pct = |x: f64| format!("{:.0}%", x * 100.0);
    let threshold = pct(spec.threshold);
    if significant && lo > 1.0 && c > 1.0 + spec.threshold {
        v.call = Call::Regression;
        v.reason = format!("{} worse (threshold {threshold}, p {p:.3})", pct(c - 1.0));
    } else if significant && hi < 1.0 && c < 1.0 - spec.threshold {
        v.call = Call::Improvement;
        v.reason = format!("{} better (p {p:.3})", pct(1.0 - c));
    } else if significant && (lo > 1.0 || hi < 1.0) {
        let way = if c > 1.0 { "worse" } else { "better" };
        v.reason = format!("{} {way}, within the {threshold} threshold", pct((c - 1.0).abs()));
    } else if significant {
        v.reason = format!("no clear change: p {p:.3}, but the interval holds 1");
    } else {
        v.reason = format!("no significant change (p {p:.2})");
    }
    v
}

#[cfg(test)]
#[path = "judge_tests.rs"]
mod tests;
