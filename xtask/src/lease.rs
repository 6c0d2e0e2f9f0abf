//! The environment lock: a `coordination.k8s.io` Lease in the environment's
//! namespace, held with a holder identity and renewed while a deploy runs.
//! A second deploy sees the holder; a crashed holder's lease expires. The
//! decision is a pure function of the Lease as read and the clock; writes go
//! through the API server's optimistic concurrency (resourceVersion), so two
//! deploys that decide at once cannot both win.

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
    let renewed = spec["renewTime"].as_str().or(spec["acquireTime"].as_str()).and_then(parse_rfc3339).unwrap_or(0);
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

/// `2026-11-27T05:00:00Z` or with fractional seconds (`.123456Z`) → Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let (date, time) = s.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.split('.').next()?;
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

/// Unix seconds → `2026-11-27T05:00:00.000000Z` (the MicroTime the API wants).
pub fn format_rfc3339(secs: u64) -> String {
    let t = secs % 86_400;
    format!("{}T{:02}:{:02}:{:02}.000000Z", crate::findings::utc_date(secs as i64), t / 3600, t % 3600 / 60, t % 60)
}

#[cfg(test)]
#[path = "lease_tests.rs"]
mod tests;
