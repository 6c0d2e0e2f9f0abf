//! `target/xtask/events.jsonl`: one JSON object a line for the run's start
//! and end, each task and each deploy step as it ends, with the trace ids
//! and the OpenTelemetry CI/CD conventions' attribute names. Each line is one
//! `write` to a file opened for appending, so the processes of one run
//! (`ci` and its stages) add to the same file without tearing lines.

use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

pub const FILE: &str = "target/xtask/events.jsonl";

/// One span's record: what a line of the file says and what OTLP exports.
#[derive(Debug, Clone)]
pub struct Event {
    /// `run.start`, `run.end`, `task.end`, `step.end` (`task`/`step` while open).
    pub kind: String,
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent: Option<String>,
    pub start: SystemTime,
    pub end: SystemTime,
    /// The conventions' attributes, in the order set (a key set twice keeps its last value).
    pub attrs: Vec<(String, String)>,
}

impl Event {
    pub fn new(kind: &str, name: &str, trace_id: &str, span_id: &str, parent: Option<String>) -> Event {
        let now = SystemTime::now();
        Event {
            kind: kind.into(),
            name: name.into(),
            trace_id: trace_id.into(),
            span_id: span_id.into(),
            parent,
            start: now,
            end: now,
            attrs: Vec::new(),
        }
    }

    pub fn attr(&mut self, key: &str, value: &str) {
        self.attrs.retain(|(k, _)| k != key);
        self.attrs.push((key.into(), value.into()));
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn finish(&mut self) {
        self.end = SystemTime::now();
    }

    pub fn seconds(&self) -> f64 {
        self.end.duration_since(self.start).map_or(0.0, |d| d.as_secs_f64())
    }

    /// The line: time, event, name, ids, duration, then the attributes as top-level keys.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("time".into(), json!(rfc3339_millis(self.end)));
        m.insert("event".into(), json!(self.kind));
        m.insert("name".into(), json!(self.name));
        m.insert("trace_id".into(), json!(self.trace_id));
        m.insert("span_id".into(), json!(self.span_id));
        if let Some(p) = &self.parent {
            m.insert("parent_span_id".into(), json!(p));
        }
        if self.kind.ends_with(".end") {
            m.insert("duration_s".into(), json!((self.seconds() * 1000.0).round() / 1000.0));
        }
        for (k, v) in &self.attrs {
            m.insert(k.clone(), json!(v));
        }
        Value::Object(m)
    }
}

/// `2026-01-02T03:04:05.678Z`.
pub fn rfc3339_millis(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let whole = crate::clock::rfc3339(d.as_secs() as i64);
    format!("{}.{:03}Z", whole.trim_end_matches('Z'), d.subsec_millis())
}

/// Append one event. Best effort and silent: a file this user cannot write
/// (a root-owned `target/`) must not add lines to a command's one-line errors.
pub fn append(path: &Path, e: &Event) {
    let mut line = e.to_json().to_string();
    line.push('\n');
    let _ = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|_| std::fs::OpenOptions::new().create(true).append(true).open(path))
        .and_then(|mut f| f.write_all(line.as_bytes()));
}
