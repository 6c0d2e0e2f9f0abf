//! A component's performance scenarios, `components/<c>/perf.toml`: the
//! service to start for each tree, and per scenario the command that prints
//! one sample, the metric, its direction, and how many samples within what
//! budget decide at which threshold and confidence. Parsing is pure; every
//! error names the file and line.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;
use toml::Spanned;

/// Where a component declares its scenarios, relative to its folder.
pub const FILE: &str = "perf.toml";

/// The placeholders a command may use, and what each becomes.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("python", "the Python of the tree under test's virtualenv"),
    ("venv", "that virtualenv's folder (its programs are in {venv}/bin)"),
    ("tree", "the root of the tree under test (base or head)"),
    ("harness", "the component's folder in head, where perf.toml and the harness scripts are"),
    ("data", "a temporary folder of this tree's own, removed after the run"),
    ("port", "a free loopback port for the service"),
    ("url", "the service's address, http://127.0.0.1:{port}"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Lower,
    Higher,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub command: Vec<String>,
    pub metric: String,
    pub better: Better,
    /// Samples per tree (base and head each).
    pub samples: usize,
    /// Samples per tree run first and thrown away.
    pub warmup: usize,
    /// The scenario's wall time, warm-up included; past it no new pair starts
    /// (the minimum the confidence needs is always taken).
    pub budget: Duration,
    /// Fail when head is worse by more than this fraction (0.10: 10%).
    pub threshold: f64,
    /// How sure the gate must be that head is worse (0.95).
    pub confidence: f64,
}

/// A process started once per tree before the scenarios, stopped after them.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub command: Vec<String>,
    /// How long it may take to listen on its port.
    pub start_timeout: Duration,
    /// Start fresh services after this many pairs (0: never): one process's
    /// luck (its core, its heap) then weighs on a few samples, not on all.
    pub restart_every: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scenarios {
    pub service: Option<Service>,
    pub scenarios: Vec<Scenario>,
}

const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(120);
const DEFAULT_SAMPLES: i64 = 6;
const DEFAULT_WARMUP: i64 = 1;
const DEFAULT_BUDGET: &str = "60s";
const DEFAULT_THRESHOLD: f64 = 0.10;
const DEFAULT_CONFIDENCE: f64 = 0.95;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Settings {
    samples: Option<Spanned<i64>>,
    warmup: Option<Spanned<i64>>,
    budget: Option<Spanned<String>>,
    threshold: Option<Spanned<f64>>,
    confidence: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Spanned<String>,
    command: Spanned<Vec<String>>,
    metric: String,
    better: Spanned<String>,
    samples: Option<Spanned<i64>>,
    warmup: Option<Spanned<i64>>,
    budget: Option<Spanned<String>>,
    threshold: Option<Spanned<f64>>,
    confidence: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    command: Spanned<Vec<String>>,
    #[serde(rename = "start-timeout")]
    start_timeout: Option<Spanned<String>>,
    #[serde(rename = "restart-every")]
    restart_every: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    service: Option<RawService>,
    #[serde(default)]
    defaults: Settings,
    #[serde(default)]
    scenario: Vec<RawScenario>,
}

/// A parse error: the line (1-based) when known, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: Option<usize>,
    pub message: String,
}

impl ParseError {
    /// One line naming the file, the line and the fix.
    pub fn describe(&self, file: &str) -> String {
        let at = self.line.map(|l| format!(" line {l}")).unwrap_or_default();
        format!("malformed {file}{at}: {} (fix the file)", self.message)
    }
}

fn line_of(text: &str, span: Range<usize>) -> usize {
    text[..span.start.min(text.len())].matches('\n').count() + 1
}

/// `90s`, `2m` or `90` (seconds).
fn parse_budget(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits.parse().ok()?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        _ => return None,
    };
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// The `{name}`s in `arg` that are not placeholders.
fn unknown_placeholders(arg: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = arg;
    while let Some(i) = rest.find('{') {
        let Some(j) = rest[i..].find('}') else { break };
        let name = &rest[i + 1..i + j];
        if !PLACEHOLDERS.iter().any(|(p, _)| *p == name) {
            out.push(format!("{{{name}}}"));
        }
        rest = &rest[i + j + 1..];
    }
    out
}

/// Replace every placeholder in `arg` with its value.
pub fn expand(arg: &str, values: &BTreeMap<&str, String>) -> String {
    values.iter().fold(arg.to_string(), |s, (k, v)| s.replace(&format!("{{{k}}}"), v))
}

/// Parse a perf.toml's text.
pub fn parse(text: &str) -> Result<Scenarios, ParseError> {
    let raw: Raw = toml::from_str(text).map_err(|e| ParseError {
        line: e.span().map(|s| line_of(text, s)),
        message: e.message().trim().to_string(),
    })?;
    let err = |span: Range<usize>, message: String| ParseError { line: Some(line_of(text, span)), message };
    let command = |c: &Spanned<Vec<String>>, what: &str| -> Result<Vec<String>, ParseError> {
        if c.get_ref().is_empty() {
            return Err(err(c.span(), format!("{what} is empty: give the program and its arguments")));
        }
        let unknown: Vec<String> = c.get_ref().iter().flat_map(|a| unknown_placeholders(a)).collect();
        if !unknown.is_empty() {
            let known: Vec<String> = PLACEHOLDERS.iter().map(|(p, _)| format!("{{{p}}}")).collect();
            return Err(err(
                c.span(),
                format!("{what} uses {}: the placeholders are {}", unknown.join(", "), known.join(", ")),
            ));
        }
        Ok(c.get_ref().clone())
    };
    let service = match &raw.service {
        None => None,
        Some(s) => Some(Service {
            command: command(&s.command, "the service's command")?,
            start_timeout: match &s.start_timeout {
                None => DEFAULT_START_TIMEOUT,
                Some(t) => parse_budget(t.get_ref()).ok_or_else(|| {
                    err(t.span(), format!("start-timeout = \"{}\": write it like \"90s\" or \"5m\"", t.get_ref()))
                })?,
            },
            restart_every: match &s.restart_every {
                None => 0,
                Some(n) if (0..=100).contains(n.get_ref()) => *n.get_ref() as usize,
                Some(n) => {
                    return Err(err(n.span(), format!("restart-every = {}: use 0 (never) to 100 pairs", n.get_ref())))
                }
            },
        }),
    };
    if raw.scenario.is_empty() {
        return Err(ParseError { line: None, message: "no [[scenario]]: declare at least one".into() });
    }
    let d = &raw.defaults;
    let mut scenarios: Vec<Scenario> = Vec::new();
    for s in &raw.scenario {
        let name = s.name.get_ref().clone();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            return Err(err(s.name.span(), format!("scenario name `{name}`: use letters, digits, `-`, `_` and `.`")));
        }
        if scenarios.iter().any(|o| o.name == name) {
            return Err(err(s.name.span(), format!("a second scenario named `{name}`: names are unique")));
        }
        let better = match s.better.get_ref().as_str() {
            "lower" => Better::Lower,
            "higher" => Better::Higher,
            other => return Err(err(s.better.span(), format!("better = \"{other}\": write \"lower\" or \"higher\""))),
        };
        let pick_f = |own: &Option<Spanned<f64>>, dflt: &Option<Spanned<f64>>, fallback: f64| {
            own.as_ref().or(dflt.as_ref()).map(|v| (*v.get_ref(), v.span())).unwrap_or((fallback, 0..0))
        };
        let pick_i = |own: &Option<Spanned<i64>>, dflt: &Option<Spanned<i64>>, fallback: i64| {
            own.as_ref().or(dflt.as_ref()).map(|v| (*v.get_ref(), v.span())).unwrap_or((fallback, 0..0))
        };
        let (confidence, at) = pick_f(&s.confidence, &d.confidence, DEFAULT_CONFIDENCE);
        if !(0.5..=0.999).contains(&confidence) {
            return Err(err(at, format!("confidence = {confidence}: use a value from 0.5 to 0.999, e.g. 0.95")));
        }
        let (threshold, at) = pick_f(&s.threshold, &d.threshold, DEFAULT_THRESHOLD);
        if !(threshold > 0.0 && threshold < 1.0) {
            return Err(err(at, format!("threshold = {threshold}: use a fraction above 0 and below 1, e.g. 0.10")));
        }
        let (samples, at) = pick_i(&s.samples, &d.samples, DEFAULT_SAMPLES);
        let least = crate::stats::min_samples(confidence) as i64;
        if samples < least || samples > 100 {
            return Err(err(
                at,
                format!(
                    "samples = {samples}: at {:.0}% confidence it takes {least} to 100 samples per tree",
                    confidence * 100.0
                ),
            ));
        }
        let (warmup, at) = pick_i(&s.warmup, &d.warmup, DEFAULT_WARMUP);
        if !(0..=10).contains(&warmup) {
            return Err(err(at, format!("warmup = {warmup}: use 0 to 10 samples")));
        }
        let budget_text = s.budget.as_ref().or(d.budget.as_ref());
        let budget = match budget_text {
            None => parse_budget(DEFAULT_BUDGET).expect("the default parses"),
            Some(b) => parse_budget(b.get_ref()).ok_or_else(|| {
                err(b.span(), format!("budget = \"{}\": write it like \"90s\" or \"2m\"", b.get_ref()))
            })?,
        };
        scenarios.push(Scenario {
            name,
            command: command(&s.command, "the scenario's command")?,
            metric: s.metric.clone(),
            better,
            samples: samples as usize,
            warmup: warmup as usize,
            budget,
            threshold,
            confidence,
        });
    }
    Ok(Scenarios { service, scenarios })
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
