//! How an environment takes a release, declared beside its overlay in
//! `deploy/overlays/ENV/rollout.toml` (absent: rolling, as every Deployment
//! rolls by itself). The canary strategy names the components that take part
//! and how they are judged; the steps follow from it: N canary replicas
//! beside the stable ones, `analyses` analyses of `interval` each under a
//! bounded load, then promote (or abort, or pause). Pure: text in, strategy
//! or one line naming the file, the line and the fix out.

use serde::{Deserialize, Serialize};
use std::time::Duration;

pub const FILE: &str = "rollout.toml";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Strategy {
    Rolling,
    Canary(Canary),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    /// The components judged by canary (each a Deployment behind a Service).
    pub components: Vec<String>,
    /// Canary pods started beside the stable ones.
    #[serde(default = "one")]
    pub replicas: u32,
    /// Analyses before the promotion, each over its own window.
    #[serde(default = "three")]
    pub analyses: u32,
    /// One analysis window, e.g. "30s".
    #[serde(default = "thirty_s")]
    pub interval: String,
    /// Failed analyses that abort the canary.
    #[serde(default = "one")]
    pub failure_threshold: u32,
    /// Confidence of the Mann–Whitney test (Kayenta's default 0.98).
    #[serde(default = "confidence")]
    pub confidence: f64,
    /// How much slower (mean latency) the canary may be, as a fraction.
    #[serde(default = "tolerance")]
    pub tolerance: f64,
    /// The smallest rise of the mean latency that counts, in milliseconds:
    /// below it a significant difference is a busy node's noise, not a slower
    /// release (sub-millisecond means differ by a ratio of 2 under load).
    #[serde(default = "latency_margin_ms")]
    pub latency_margin_ms: f64,
    /// How many points the canary's 5xx rate may exceed stable's (0.01 = 1 point).
    #[serde(default = "error_tolerance")]
    pub error_tolerance: f64,
    /// Requests that must reach the canary in one window; fewer is inconclusive.
    #[serde(default = "min_requests")]
    pub min_requests: u64,
    /// Requests per second the load Job sends through the Service during analysis.
    #[serde(default = "load_rate")]
    pub load_rate: u32,
}

fn one() -> u32 {
    1
}
fn three() -> u32 {
    3
}
fn thirty_s() -> String {
    "30s".into()
}
fn confidence() -> f64 {
    0.98
}
fn tolerance() -> f64 {
    0.25
}
fn latency_margin_ms() -> f64 {
    5.0
}
fn error_tolerance() -> f64 {
    0.01
}
fn min_requests() -> u64 {
    50
}
fn load_rate() -> u32 {
    20
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    strategy: String,
    canary: Option<Canary>,
}

impl Canary {
    pub fn interval(&self) -> Duration {
        crate::kube::wait::parse_duration(&self.interval).unwrap_or(Duration::from_secs(30))
    }
}

/// The line (1-based) of byte `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// The line where `key` is set (for a range error), else 1.
fn line_of_key(text: &str, key: &str) -> usize {
    text.lines().position(|l| l.trim_start().starts_with(key) && l.contains('=')).map_or(1, |i| i + 1)
}

/// Parse `shown` (its text, `None` when there is no file).
pub fn parse(shown: &str, text: Option<&str>) -> Result<Strategy, String> {
    let Some(text) = text else { return Ok(Strategy::Rolling) };
    let file: File = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(text, s.start));
        format!(
            "{shown}:{line}: {}: write `strategy = \"rolling\"`, or `strategy = \"canary\"` with a [canary] table (docs/explanation/canary.md)",
            e.message().trim_end_matches('\n')
        )
    })?;
    match (file.strategy.as_str(), file.canary) {
        ("rolling", None) => Ok(Strategy::Rolling),
        ("rolling", Some(_)) => Err(format!(
            "{shown}:{}: a [canary] table with strategy = \"rolling\": set strategy = \"canary\" or remove the table",
            line_of_key(text, "strategy")
        )),
        ("canary", None) => Err(format!(
            "{shown}:{}: strategy = \"canary\" needs a [canary] table naming its components",
            line_of_key(text, "strategy")
        )),
        ("canary", Some(c)) => check(shown, text, c).map(Strategy::Canary),
        (other, _) => Err(format!(
            "{shown}:{}: unknown strategy \"{other}\": choose \"rolling\" or \"canary\"",
            line_of_key(text, "strategy")
        )),
    }
}

/// Thresholds in range, each refusal naming its line.
fn check(shown: &str, text: &str, c: Canary) -> Result<Canary, String> {
    let bad = |key: &str, why: &str| Err(format!("{shown}:{}: {key} {why}", line_of_key(text, key)));
    if c.components.is_empty() {
        return bad("components", "is empty: name the components judged by canary (e.g. [\"storage\"])");
    }
    if !(c.confidence > 0.5 && c.confidence < 1.0) {
        return bad(
            "confidence",
            &format!("= {} is out of range: give a value between 0.5 and 1 (0.98 is Kayenta's)", c.confidence),
        );
    }
    if !(c.tolerance > 0.0 && c.tolerance <= 10.0) {
        return bad(
            "tolerance",
            &format!("= {} is out of range: give a fraction above 0 and at most 10 (0.25 = 25% slower)", c.tolerance),
        );
    }
    if !(0.0..=10_000.0).contains(&c.latency_margin_ms) {
        return bad(
            "latency_margin_ms",
            &format!("= {} is out of range: give 0 to 10000 milliseconds (5 = 5 ms)", c.latency_margin_ms),
        );
    }
    if !(0.0..1.0).contains(&c.error_tolerance) {
        return bad(
            "error_tolerance",
            &format!("= {} is out of range: give a fraction from 0 below 1 (0.01 = one point)", c.error_tolerance),
        );
    }
    match crate::kube::wait::parse_duration(&c.interval) {
        Ok(d) if d >= Duration::from_secs(5) && d <= Duration::from_secs(3600) => {}
        Ok(_) => return bad("interval", &format!("= \"{}\" is out of range: give 5s to 1h", c.interval)),
        Err(why) => return bad("interval", &format!("= \"{}\": {why}", c.interval)),
    }
    if c.replicas == 0 || c.replicas > 10 {
        return bad("replicas", &format!("= {} is out of range: give 1 to 10 canary pods", c.replicas));
    }
    if c.analyses == 0 || c.analyses > 20 {
        return bad("analyses", &format!("= {} is out of range: give 1 to 20", c.analyses));
    }
    if c.failure_threshold == 0 || c.failure_threshold > c.analyses {
        return bad(
            "failure_threshold",
            &format!("= {} is out of range: give 1 to analyses ({})", c.failure_threshold, c.analyses),
        );
    }
    if c.min_requests < 10 {
        return bad("min_requests", &format!("= {} is too few to judge: give at least 10", c.min_requests));
    }
    if c.load_rate == 0 || c.load_rate > 200 {
        return bad("load_rate", &format!("= {} is out of range: give 1 to 200 requests per second", c.load_rate));
    }
    Ok(c)
}

/// What a canary component looks like in the render: its stable replicas
/// and whether a Service selects it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub component: String,
    pub replicas: Option<u32>,
    pub has_service: bool,
}

/// Each canary component must exist, serve through a Service and run at least
/// two stable replicas (with one, a canary beside it takes half the traffic
/// and a promotion leaves nothing proven beside it).
pub fn check_targets(shown: &str, env: &str, c: &Canary, targets: &[Target]) -> Result<(), String> {
    for name in &c.components {
        let Some(t) = targets.iter().find(|t| &t.component == name) else {
            return Err(format!(
                "{shown}: canary for {name}, which {env} deploys as no Deployment: name a component with a Deployment"
            ));
        };
        if !t.has_service {
            return Err(format!(
                "{shown}: canary for {name}, which has no Service: a canary is judged on traffic through a Service; give {name} one or leave it out of `components`"
            ));
        }
        let n = t.replicas.unwrap_or(1);
        if n < 2 {
            return Err(format!(
                "{shown}: canary for {name}, which runs {n} replica in total: a canary needs at least 2 stable replicas beside it; raise {name}'s replicas in {env}'s overlay or leave it out of `components`"
            ));
        }
    }
    Ok(())
}

/// The steps, as the dry run and `status` show them, with the real split.
pub fn steps(c: &Canary, targets: &[Target]) -> Vec<String> {
    let mut out = Vec::new();
    for name in &c.components {
        let stable = targets.iter().find(|t| &t.component == name).and_then(|t| t.replicas).unwrap_or(1);
        let total = stable + c.replicas;
        out.push(format!(
            "canary   {name}: {} canary pod(s) beside {stable} stable: {}",
            c.replicas,
            split_words(c.replicas, total)
        ));
    }
    out.push(format!(
        "analyse  {} × {} under {} req/s through the Service; each judged on error rate and latency (Mann–Whitney U, {:.0}% confidence, tolerance {:.0}% latency / {:.1} points 5xx; fewer than {} canary requests is inconclusive)",
        c.analyses,
        c.interval,
        c.load_rate,
        c.confidence * 100.0,
        c.tolerance * 100.0,
        c.error_tolerance * 100.0,
        c.min_requests
    ));
    out.push(format!(
        "decide   {} failed analysis(es) abort; any inconclusive one pauses (cargo xtask canary ENV promote|abort); all passed promote",
        c.failure_threshold
    ));
    out.push("promote  the canary goes, the stable Deployment takes the new template (a rolling update)".into());
    out
}

/// The split replica counts give (kube-proxy spreads connections evenly over ready pods).
pub fn split_words(canary: u32, total: u32) -> String {
    let pct = if total == 0 { 0.0 } else { f64::from(canary) * 100.0 / f64::from(total) };
    format!("{canary} of {total} pods = {pct:.0}% of the traffic expected")
}

/// Where `env`'s strategy is declared (shown in messages).
pub fn file_of(env: &str) -> String {
    format!("deploy/overlays/{env}/{FILE}")
}

/// Read and parse `env`'s strategy (rolling when the file does not exist).
pub fn read(root: &std::path::Path, env: &str) -> Result<Strategy, String> {
    let shown = file_of(env);
    match std::fs::read_to_string(root.join(&shown)) {
        Ok(text) => parse(&shown, Some(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Strategy::Rolling),
        Err(e) => Err(format!("cannot read {shown} ({e}): make it readable or remove it")),
    }
}

#[cfg(test)]
#[path = "strategy_tests.rs"]
mod tests;
