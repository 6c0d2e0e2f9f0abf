//! A pod's Prometheus metrics (the text format of `GET /metrics`, read
//! through the API server's pod proxy) reduced to what the judge needs: the
//! requests, the 5xx answers and the latency histogram over the routes real
//! traffic takes (probes on `/healthz` and the scrapes themselves are left
//! out: they are no evidence about the release). Two scrapes make a window.
//! Pure.

use std::collections::BTreeMap;

const REQUESTS: &str = "http_requests_total";
const LATENCY: &str = "http_request_duration_seconds";
/// Routes that are not traffic: the probes and the scrape.
const NOT_TRAFFIC: [&str; 2] = ["/healthz", "/metrics"];

/// Counters of one pod at one moment, or their growth over a window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub requests: f64,
    /// Answers with a 5xx status.
    pub errors: f64,
    /// Cumulative histogram: upper bound (seconds, +Inf last) → requests at or below it.
    pub buckets: BTreeMap<Bound, f64>,
    /// Sum of the latencies (seconds).
    pub seconds: f64,
}

/// A bucket's upper bound, ordered (+Inf last).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound(pub f64);
impl Eq for Bound {}
impl PartialOrd for Bound {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Bound {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// One sample line: name, labels, value (None for comments, blank lines and what does not parse).
pub fn sample(line: &str) -> Option<(String, BTreeMap<String, String>, f64)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (name, rest) = match line.find('{') {
        Some(i) => (&line[..i], &line[i..]),
        None => {
            let (n, r) = line.split_once(' ')?;
            (n, r)
        }
    };
    let mut labels = BTreeMap::new();
    let rest = if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let mut end = None;
        loop {
            while chars.peek().is_some_and(|(_, c)| *c == ',' || *c == ' ') {
                chars.next();
            }
            match chars.peek() {
                Some((i, '}')) => {
                    end = Some(*i);
                    break;
                }
                None => break,
                _ => {}
            }
            let mut key = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return None;
            }
            let mut value = String::new();
            let mut escaped = false;
            for (_, c) in chars.by_ref() {
                match (escaped, c) {
                    (true, 'n') => (value.push('\n'), escaped = false).1,
                    (true, c) => (value.push(c), escaped = false).1,
                    (false, '\\') => escaped = true,
                    (false, '"') => break,
                    (false, c) => value.push(c),
                }
            }
            labels.insert(key.trim().to_string(), value);
        }
        &body[end? + 1..]
    } else {
        rest
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some((name.to_string(), labels, value))
}

/// The counters of one scrape over the routes that are traffic.
pub fn counts(text: &str) -> Counts {
    let mut c = Counts::default();
    for (name, labels, value) in text.lines().filter_map(sample) {
        if labels.get("route").is_some_and(|r| NOT_TRAFFIC.contains(&r.as_str())) {
            continue;
        }
        if name == REQUESTS {
            c.requests += value;
            if labels.get("status").is_some_and(|s| s.starts_with('5')) {
                c.errors += value;
            }
        } else if name == format!("{LATENCY}_bucket") {
            let le = match labels.get("le").map(String::as_str) {
                Some("+Inf") => f64::INFINITY,
                Some(v) => match v.parse() {
                    Ok(v) => v,
                    Err(_) => continue,
                },
                None => continue,
            };
            *c.buckets.entry(Bound(le)).or_default() += value;
        } else if name == format!("{LATENCY}_sum") {
            c.seconds += value;
        }
    }
    c
}

/// What grew between two scrapes of one pod. A counter that went down means
/// the process restarted in between: then everything since the restart counts.
pub fn window(before: &Counts, after: &Counts) -> Counts {
    let restarted = after.requests < before.requests
        || after.buckets.iter().any(|(b, v)| *v < before.buckets.get(b).copied().unwrap_or(0.0));
    if restarted {
        return after.clone();
    }
    Counts {
        requests: after.requests - before.requests,
        errors: (after.errors - before.errors).max(0.0),
        buckets: after.buckets.iter().map(|(b, v)| (*b, v - before.buckets.get(b).copied().unwrap_or(0.0))).collect(),
        seconds: (after.seconds - before.seconds).max(0.0),
    }
}

/// Several pods' windows added up (one track: stable or canary).
pub fn sum<'a>(windows: impl IntoIterator<Item = &'a Counts>) -> Counts {
    let mut total = Counts::default();
    for w in windows {
        total.requests += w.requests;
        total.errors += w.errors;
        total.seconds += w.seconds;
        for (b, v) in &w.buckets {
            *total.buckets.entry(*b).or_default() += v;
        }
    }
    total
}

/// The histogram as one latency per request (each at its bucket's midpoint;
/// above the last finite bound, twice that bound): the Mann–Whitney test
/// ranks these, ties and all.
pub fn latencies(c: &Counts) -> Vec<f64> {
    let mut out = Vec::new();
    let (mut lower, mut below) = (0.0, 0.0);
    for (Bound(le), cumulative) in &c.buckets {
        let n = (cumulative - below).max(0.0).round() as usize;
        let at = if le.is_finite() { (lower + le) / 2.0 } else { lower * 2.0 };
        out.extend(std::iter::repeat_n(at, n));
        below = *cumulative;
        if le.is_finite() {
            lower = *le;
        }
    }
    out
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
