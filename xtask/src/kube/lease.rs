//! The environment lock: a `coordination.k8s.io` Lease in the environment's
//! namespace, held with a holder identity and renewed while a deploy runs.
//! A second deploy sees the holder; a crashed holder's lease expires. The
//! decision is a pure function of the Lease as read and the clock; writes go
//! through the API server's optimistic concurrency (resourceVersion), so two
//! deploys that decide at once cannot both win.

use crate::clock;
use serde_json::{json, Value};

pub const NAME: &str = "mlops-deploy-lock";
/// How long a lease lives without renewal; renewed every third of it.
pub const DURATION_S: u64 = 30;

#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Free, expired, or already ours: write it with us as holder.
    Take,
    /// Someone else holds it for this many more seconds.
    Held { holder: String, remaining_s: u64 },
}

/// May `me` take the lease as read (`None`: it does not exist) at `now` (Unix seconds)?
pub fn decide(lease: Option<&Value>, me: &str, now: u64) -> Decision {
    let Some(spec) = lease.map(|l| &l["spec"]) else { return Decision::Take };
    let holder = spec["holderIdentity"].as_str().unwrap_or_default();
    if holder.is_empty() || holder == me {
        return Decision::Take;
    }
    let duration = spec["leaseDurationSeconds"].as_u64().unwrap_or(DURATION_S);
    let renewed =
        spec["renewTime"].as_str().or(spec["acquireTime"].as_str()).and_then(clock::parse_rfc3339).unwrap_or(0);
    let expires = renewed + duration;
    if now >= expires {
        Decision::Take
    } else {
        Decision::Held { holder: holder.to_string(), remaining_s: expires - now }
    }
}

/// The Lease naming `me` as holder, renewed `now`; `previous` carries the
/// resourceVersion to replace and the original acquire time when we held it.
pub fn held_by(me: &str, namespace: &str, now: u64, previous: Option<&Value>) -> Value {
    let stamp = format_rfc3339(now);
    let ours = previous.is_some_and(|p| p["spec"]["holderIdentity"] == me);
    let acquired =
        if ours { previous.and_then(|p| p["spec"]["acquireTime"].as_str()).unwrap_or(&stamp) } else { &stamp };
    let mut lease = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": NAME,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "xtask"},
        },
        "spec": {
            "holderIdentity": me,
            "leaseDurationSeconds": DURATION_S,
            "acquireTime": acquired,
            "renewTime": stamp,
        },
    });
    if let Some(rv) = previous.and_then(|p| p["metadata"]["resourceVersion"].as_str()) {
        lease["metadata"]["resourceVersion"] = rv.into();
    }
    lease
}

/// Unix seconds → `2026-11-27T05:00:00.000000Z` (the MicroTime the API wants).
fn format_rfc3339(secs: u64) -> String {
    format!("{}.000000Z", clock::rfc3339(secs as i64).trim_end_matches('Z'))
}

#[cfg(test)]
#[path = "lease_tests.rs"]
mod tests;
