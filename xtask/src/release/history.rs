//! The release records on the cluster, one Secret per revision in the
//! environment's namespace: read (with the manifests each applied, or
//! without), written, marked undone by a rollback, the oldest pruned. What a
//! record says and which one counts is `records`'s (pure).

use crate::kube::cluster::Session;
use crate::release::records::{self, Release};
use crate::release::running::Recorded;
use anyhow::{Context, Result};

/// The records of `env`'s releases.
fn selector(env: &str) -> String {
    format!("{}=true,{}={env}", records::LABEL_RELEASE, records::LABEL_ENV)
}

/// Every release recorded for `env`, unreadable ones skipped with a warning.
pub fn releases(s: &Session, env: &str) -> Result<Vec<Release>> {
    let mut out = Vec::new();
    for secret in s.get("secrets", Some(&selector(env)))? {
        match records::from_secret(&secret) {
            Ok(r) => out.push(r),
            Err(e) => eprintln!("warning: {e:#}"),
        }
    }
    out.sort_by_key(|r| r.revision);
    Ok(out)
}

/// Every release recorded for `env` with the manifests it applied, oldest
/// first; unreadable ones skipped with a warning.
pub fn recorded(s: &Session, env: &str) -> Result<Vec<Recorded>> {
    let mut out = Vec::new();
    for secret in s.get("secrets", Some(&selector(env)))? {
        match records::from_secret(&secret)
            .and_then(|r| Ok(Recorded { release: r, manifests: records::manifests_of(&secret)? }))
        {
            Ok(r) => out.push(r),
            Err(e) => eprintln!("warning: {e:#}"),
        }
    }
    out.sort_by_key(|r| r.release.revision);
    Ok(out)
}

/// Write a release's record, the manifests it applied with it.
pub fn record(s: &Session, r: &Release, manifests: &str) -> Result<()> {
    let secret = records::to_secret(r, &s.namespace, manifests)?;
    s.apply(None, Some(&secret.to_string()), false).map(|_| ()).context("cannot record the release")
}

/// Rewrite the records of `revs` as undone by the rollback `by` (their manifests kept).
pub fn mark_undone(s: &Session, history: &[Release], revs: &[u64], by: u64) -> Result<()> {
    for r in history.iter().filter(|r| revs.contains(&r.revision)) {
        let Some(secret) = s.get_one("secret", &records::secret_name(r.revision))? else { continue };
        let text = records::manifests_of(&secret)?;
        record(s, &records::mark_undone(r, by), &text)?;
    }
    Ok(())
}

/// Keep the newest [`records::KEEP`] releases.
pub fn prune(s: &Session, env: &str) -> Result<()> {
    for rev in records::to_prune(&releases(s, env)?) {
        s.delete("secret", &records::secret_name(rev))?;
    }
    Ok(())
}
