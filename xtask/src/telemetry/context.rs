//! W3C trace context (pure but for the random ids): a `traceparent`
//! (`00-<trace id>-<parent span id>-<flags>`) parsed and written, new ids, and
//! the context a GitHub run derives from its run id and attempt, so that every
//! job and every re-run of one workflow run land in one trace.

use sha2::{Digest, Sha256};
use std::io::Read;

/// One position in a trace: the trace and the span that is the parent of what comes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// 32 lower-case hex digits, not all zero.
    pub trace_id: String,
    /// 16 lower-case hex digits, not all zero.
    pub span_id: String,
    pub sampled: bool,
}

impl Context {
    /// `00-<trace>-<span>-<flags>`, the `TRACEPARENT` children are given.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{}", self.trace_id, self.span_id, if self.sampled { "01" } else { "00" })
    }

    /// The same trace, one level down: `span` as the parent.
    pub fn child(&self, span: &str) -> Context {
        Context { span_id: span.to_string(), ..self.clone() }
    }
}

fn is_hex_id(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && s.bytes().any(|b| b != b'0')
}

/// A `traceparent` header as the W3C spec reads it: version 00 exactly four
/// fields, a later version at least four (the rest ignored); lower-case hex,
/// ids not all zero, version `ff` invalid.
pub fn parse(value: &str) -> Result<Context, String> {
    let fields: Vec<&str> = value.trim().split('-').collect();
    let bad = |why: &str| Err(format!("{why} (want 00-<32 hex>-<16 hex>-<2 hex>)"));
    let [version, trace, span, flags, rest @ ..] = fields.as_slice() else {
        return bad("not four fields");
    };
    if !(version.len() == 2 && u8::from_str_radix(version, 16).is_ok() && *version != "ff") {
        return bad("a bad version");
    }
    if *version == "00" && !rest.is_empty() {
        return bad("more than four fields for version 00");
    }
    if !is_hex_id(trace, 32) {
        return bad("a trace id that is not 32 lower-case hex digits, not all zero");
    }
    if !is_hex_id(span, 16) {
        return bad("a parent id that is not 16 lower-case hex digits, not all zero");
    }
    let Some(f) = Some(flags).filter(|f| f.len() == 2).and_then(|f| u8::from_str_radix(f, 16).ok()) else {
        return bad("flags that are not 2 hex digits");
    };
    Ok(Context { trace_id: trace.to_string(), span_id: span.to_string(), sampled: f & 1 == 1 })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `n` random bytes as hex, from the kernel's CSPRNG; should it be
/// unreadable, a hash of the clock and the process id (ids need not be secret).
pub fn random_id(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() || bytes.iter().all(|&b| b == 0) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let seed = format!("{}:{}:{n}", now.as_nanos(), std::process::id());
        bytes = Sha256::digest(seed.as_bytes())[..n].to_vec();
    }
    hex(&bytes)
}

/// A new trace: random trace id, the given span as its root.
pub fn new_trace(span_id: &str) -> Context {
    Context { trace_id: random_id(16), span_id: span_id.to_string(), sampled: true }
}

/// The context of a GitHub Actions run attempt: the trace from the
/// repository and run id (every attempt and job of a run share it, so a
/// re-run is linked), the parent span from the attempt.
pub fn github(repository: &str, run_id: &str, attempt: &str) -> Context {
    let trace = Sha256::digest(format!("github:{repository}:{run_id}").as_bytes());
    let span = Sha256::digest(format!("github:{repository}:{run_id}:{attempt}").as_bytes());
    Context { trace_id: hex(&trace[..16]), span_id: hex(&span[..8]), sampled: true }
}
