//! An environment's logs as one stream (pure): `kubectl logs --timestamps`
//! lines of every pod and container, merged in time order, and JSON log lines
//! (storage's and cdc's access and application logs) shown as fields.

use serde_json::{json, Map, Value};

/// One log line of one container.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Unix seconds and nanoseconds of kubectl's timestamp (for ordering).
    pub at: (u64, u32),
    /// The timestamp as kubectl printed it.
    pub time: String,
    pub pod: String,
    pub container: String,
    pub text: String,
}

/// `2026-12-01T23:55:00.123456789Z text` → the time and the text; a line
/// without a timestamp (a continuation kubectl split) has none.
pub fn parse(raw: &str, pod: &str, container: &str) -> Option<Line> {
    let (time, text) = raw.split_once(' ').unwrap_or((raw, ""));
    let secs = crate::clock::parse_rfc3339(time)?;
    let nanos = time
        .split_once('.')
        .map(|(_, f)| f.trim_end_matches('Z'))
        .map(|f| format!("{f:0<9}")[..9].parse::<u32>().unwrap_or(0))
        .unwrap_or(0);
    Some(Line { at: (secs, nanos), time: time.into(), pod: pod.into(), container: container.into(), text: text.into() })
}

/// Every container's lines (`kubectl logs --timestamps` output), in time order;
/// equal times keep their container's order.
pub fn merge(outputs: &[(String, String, String)]) -> Vec<Line> {
    let mut all: Vec<Line> = Vec::new();
    for (pod, container, text) in outputs {
        let mut last: Option<Line> = None;
        for raw in text.lines() {
            match parse(raw, pod, container) {
                Some(l) => {
                    all.extend(last.take());
                    last = Some(l);
                }
                // A line without a timestamp belongs to the one before it.
                None => {
                    if let Some(l) = last.as_mut() {
                        l.text.push('\n');
                        l.text.push_str(raw);
                    }
                }
            }
        }
        all.extend(last);
    }
    all.sort_by_key(|l| l.at);
    all
}

/// A JSON object line's fields, when the text is one.
pub fn fields(text: &str) -> Option<Map<String, Value>> {
    match serde_json::from_str::<Value>(text.trim()) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// The line for a reader: `TIME pod/container LEVEL message key=value …`.
pub fn human(l: &Line) -> String {
    let who = format!("{}/{}", l.pod, l.container);
    let Some(mut f) = fields(&l.text) else { return format!("{} {who} {}", l.time, l.text) };
    let mut parts = Vec::new();
    for key in ["level", "message"] {
        if let Some(v) = f.remove(key) {
            parts.push(plain(&v));
        }
    }
    f.remove("ts");
    parts.extend(f.iter().map(|(k, v)| format!("{k}={}", plain(v))));
    format!("{} {who} {}", l.time, parts.join(" "))
}

/// The line as one JSON object: time, pod, container and the log's own fields
/// (or `message` for a plain line).
pub fn as_json(l: &Line) -> Value {
    let mut out = json!({"time": l.time, "pod": l.pod, "container": l.container});
    match fields(&l.text) {
        Some(f) => out["fields"] = Value::Object(f),
        None => out["message"] = Value::String(l.text.clone()),
    }
    out
}

/// The trace id `--trace` names: 32 lower-case hex digits, or a W3C
/// `traceparent` (its trace id); anything else is refused with the fix.
pub fn trace_id(given: &str) -> Result<String, String> {
    let g = given.trim().to_ascii_lowercase();
    let id = match g.split('-').collect::<Vec<_>>().as_slice() {
        [_, trace, _, _, ..] => trace.to_string(),
        _ => g.clone(),
    };
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) && id.bytes().any(|b| b != b'0') {
        Ok(id)
    } else {
        Err(format!(
            "--trace {given:?} is not a trace id: give its 32 hex digits (events.jsonl's trace_id) or a traceparent"
        ))
    }
}

/// Whether a log line was written inside the trace (its JSON `trace_id`).
pub fn in_trace(l: &Line, trace: &str) -> bool {
    fields(&l.text).is_some_and(|f| f.get("trace_id").and_then(Value::as_str) == Some(trace))
}

/// The pods whose trace annotation (`xtask.dev/traceparent`) is in the trace: what its deploy started or ran.
pub fn annotated(pods: &[Value], trace: &str) -> Vec<String> {
    pods.iter()
        .filter(|p| {
            p["metadata"]["annotations"][crate::telemetry::TRACE_ANNOTATION]
                .as_str()
                .is_some_and(|tp| tp.split('-').nth(1) == Some(trace))
        })
        .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
        .collect()
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) if !s.contains(' ') && !s.is_empty() => s.clone(),
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[path = "logs_tests.rs"]
mod tests;
