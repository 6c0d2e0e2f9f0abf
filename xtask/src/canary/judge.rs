//! One analysis: the canary's window against the stable pods' window of the
//! same time, under the same load (pure, unit-tested on recorded scrapes).
//!
//! Three rows, as Kayenta judges each metric and then combines them:
//! - traffic: fewer than `min_requests` reaching the canary (or the stable
//!   pods) is `no data`, and no data is never a pass (Flagger's users' most
//!   common failure is a canary promoted on no values at all);
//! - error rate (5xx): each request a 0/1 sample, Mann–Whitney U; it fails
//!   when significant at `confidence` and the canary's rate is more than
//!   `error_tolerance` above stable's;
//! - latency: each request at its histogram bucket, Mann–Whitney U; it fails
//!   when significant and the canary's mean (exact, from the histogram's sum)
//!   is more than `tolerance` above stable's and more than
//!   `latency_margin_ms` above it (Kayenta's effect size: 0.3 against 0.6 ms
//!   is a busy node, not a slower release).
//!
//! A significant but small difference passes (the tolerance band), a large
//! but noisy one is not called without evidence.

use crate::canary::metrics::{self, Counts};
use crate::canary::strategy::Canary;
use crate::stats;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Call {
    Pass,
    Fail,
    /// Too little traffic to tell.
    NoData,
}

impl Call {
    pub fn label(self) -> &'static str {
        match self {
            Call::Pass => "pass",
            Call::Fail => "FAIL",
            Call::NoData => "no data",
        }
    }
}

/// One row of the verdict table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub metric: String,
    pub stable: String,
    pub canary: String,
    /// The p-value or ratio that decided it.
    pub test: String,
    pub call: Call,
}

/// An analysis: its rows and what they come to (any fail fails, else any no data is no data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub rows: Vec<Row>,
    pub call: Call,
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

fn ms(seconds: f64) -> String {
    format!("{:.1} ms", seconds * 1000.0)
}

/// Judge one window of `canary` against `stable`.
pub fn judge(stable: &Counts, canary: &Counts, c: &Canary) -> Analysis {
    let (ns, nc) = (stable.requests.round() as u64, canary.requests.round() as u64);
    let total = ns + nc;
    let share = if total == 0 { 0.0 } else { nc as f64 / total as f64 };
    let enough = nc >= c.min_requests && ns >= c.min_requests;
    let mut rows = vec![Row {
        metric: "requests".into(),
        stable: ns.to_string(),
        canary: nc.to_string(),
        test: format!("canary share {:.0}%, at least {} each", share * 100.0, c.min_requests),
        call: if enough { Call::Pass } else { Call::NoData },
    }];
    let alpha = 1.0 - c.confidence;

    // Error rate: 0/1 per request.
    let (es, ec) = (stable.errors.round() as u64, canary.errors.round() as u64);
    let (rs, rc) = (es as f64 / ns.max(1) as f64, ec as f64 / nc.max(1) as f64);
    let bits = |n: u64, e: u64| -> Vec<f64> { (0..n).map(|i| if i < e { 1.0 } else { 0.0 }).collect() };
    let p = stats::mann_whitney(&bits(nc, ec), &bits(ns, es)).map_or(1.0, |r| r.p);
    let call = if !enough {
        Call::NoData
    } else if p < alpha && rc - rs > c.error_tolerance {
        Call::Fail
    } else {
        Call::Pass
    };
    rows.push(Row {
        metric: "error rate (5xx)".into(),
        stable: pct(rs),
        canary: pct(rc),
        test: format!("p {p:.3}, +{:.2} points (tolerance {:.2})", (rc - rs) * 100.0, c.error_tolerance * 100.0),
        call,
    });

    // Latency: a sample per request from the histograms, means from the sums.
    let (ls, lc) = (metrics::latencies(stable), metrics::latencies(canary));
    let (ms_, mc) = (stable.seconds / ns.max(1) as f64, canary.seconds / nc.max(1) as f64);
    let ratio = if ms_ > 0.0 { mc / ms_ } else { f64::NAN };
    let p = stats::mann_whitney(&lc, &ls).map_or(1.0, |r| r.p);
    let call = if !enough || ls.is_empty() || lc.is_empty() || !ratio.is_finite() {
        Call::NoData
    } else if p < alpha && ratio > 1.0 + c.tolerance && (mc - ms_) * 1000.0 > c.latency_margin_ms {
        Call::Fail
    } else {
        Call::Pass
    };
    rows.push(Row {
        metric: "latency (mean)".into(),
        stable: ms(ms_),
        canary: ms(mc),
        test: format!(
            "p {p:.3}, ratio {ratio:.2} (tolerance {:.2}), {:+.1} ms (margin {} ms)",
            1.0 + c.tolerance,
            (mc - ms_) * 1000.0,
            c.latency_margin_ms
        ),
        call,
    });

    let call = if rows.iter().any(|r| r.call == Call::Fail) {
        Call::Fail
    } else if rows.iter().any(|r| r.call == Call::NoData) {
        Call::NoData
    } else {
        Call::Pass
    };
    Analysis { rows, call }
}

/// What a canary's analyses come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Keep analysing.
    Continue,
    Promote,
    /// `failure_threshold` analyses failed.
    Abort,
    /// Every analysis done, one at least without data: a person decides.
    Pause,
}

/// The decision after the analyses so far (of `c.analyses`).
pub fn decide(done: &[Analysis], c: &Canary) -> Decision {
    let failed = done.iter().filter(|a| a.call == Call::Fail).count() as u32;
    if failed >= c.failure_threshold {
        return Decision::Abort;
    }
    if (done.len() as u32) < c.analyses {
        return Decision::Continue;
    }
    if done.iter().any(|a| a.call == Call::NoData) {
        return Decision::Pause;
    }
    Decision::Promote
}

/// The verdict table, as printed and in the step summary (markdown).
pub fn table(component: &str, n: usize, a: &Analysis) -> String {
    let mut out =
        format!("| {component} analysis {n} | stable | canary | p-value / ratio | result |\n|---|---|---|---|---|\n");
    for r in &a.rows {
        out.push_str(&format!("| {} | {} | {} | {} | {} |\n", r.metric, r.stable, r.canary, r.test, r.call.label()));
    }
    out
}

#[cfg(test)]
#[path = "judge_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "judge_recorded_tests.rs"]
mod recorded_tests;
