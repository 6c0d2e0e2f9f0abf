//! The environment's lock on the cluster: the Lease (`lease` decides) taken,
//! renewed by a thread while the work under it runs, and released however
//! the work ends; who holds it. A renewal that finds another holder sets a
//! flag the work polls (`lost`): a canary's analyses stop and undo what they
//! started.

use crate::clock::now;
use crate::kube::cluster::Session;
use crate::kube::lease::{self, Decision};
use anyhow::Result;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Who deploys (the lock's holder, the release's `deployed_by`): the GitHub
/// actor in CI, else user@host.
pub fn who() -> String {
    if let Ok(actor) = std::env::var("GITHUB_ACTOR") {
        return format!("{actor} (GitHub Actions)");
    }
    // SAFETY: getuid(2) has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| format!("uid {uid}"));
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    if host.is_empty() {
        user
    } else {
        format!("{user}@{host}")
    }
}

/// The lock holder's identity: who, and which run.
pub fn holder() -> String {
    match std::env::var("GITHUB_RUN_ID") {
        Ok(run) => format!("{} run {run}", who()),
        Err(_) => format!("{} pid {}", who(), std::process::id()),
    }
}

const TAKEN: &str = "another deploy took the lock";

/// Set when a renewal finds another holder: work under the lock (a canary's
/// analyses) stops, undoes what it started and ends.
static LOCK_LOST: AtomicBool = AtomicBool::new(false);

/// Has the lock been taken from us while we held it?
pub fn lost() -> bool {
    LOCK_LOST.load(Ordering::SeqCst)
}

/// The environment's lock, held while a closure runs and renewed meanwhile.
pub struct Lock<'a> {
    s: &'a Session,
    me: String,
    /// The Lease as our last write left it: a renewal replaces it as is (one
    /// call), and a write of anyone else's since makes that replace fail on
    /// its stale resourceVersion, so the renewal reads the Lease again.
    last: Mutex<Option<Value>>,
}

impl<'a> Lock<'a> {
    /// Take the lease, or fail naming who holds it.
    pub fn take(s: &'a Session, me: &str) -> Result<Lock<'a>> {
        for _ in 0..3 {
            let current = s.get_one("lease", lease::NAME)?;
            match lease::decide(current.as_ref(), me, now()) {
                Decision::Held { holder, remaining_s } => anyhow::bail!(
                    "{} is locked by another deploy ({holder}); its lease ends in {remaining_s}s unless renewed: wait for it to finish, then retry",
                    s.namespace
                ),
                Decision::Take => {
                    let mine = lease::held_by(me, &s.namespace, now(), current.as_ref());
                    let wrote = if current.is_none() { s.create(&mine) } else { s.replace(&mine) };
                    if let Ok(out) = wrote {
                        let last = Mutex::new(serde_json::from_str(&out).ok());
                        return Ok(Lock { s, me: me.to_string(), last });
                    }
                    // Another deploy wrote first: read again and decide again.
                }
            }
        }
        anyhow::bail!("cannot take the lock of {}: other deploys keep taking it, retry later", s.namespace)
    }

    /// Run `work` while a thread renews the lease; release it afterwards, whatever happened.
    pub fn hold<T>(self, work: impl FnOnce() -> Result<T>) -> Result<T> {
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let every = Duration::from_secs(lease::DURATION_S / 3);
                let mut last = std::time::Instant::now();
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(200));
                    if last.elapsed() >= every {
                        last = std::time::Instant::now();
                        if let Err(e) = self.renew() {
                            eprintln!("warning: cannot renew the lock: {e:#}");
                            if e.to_string().contains(TAKEN) {
                                LOCK_LOST.store(true, Ordering::SeqCst);
                            }
                        }
                    }
                }
            });
            let result = work();
            stop.store(true, Ordering::SeqCst);
            result
        })
    }

    fn renew(&self) -> Result<()> {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner()).take();
        let again = last.map(|l| self.s.replace(&lease::held_by(&self.me, &self.s.namespace, now(), Some(&l))));
        let written = match again {
            Some(Ok(out)) => out,
            // Never written, or written by someone since: read it, then renew it if it is still ours.
            _ => {
                let current: Option<Value> = self.s.get_one("lease", lease::NAME)?;
                let ours = current.as_ref().is_some_and(|l| l["spec"]["holderIdentity"] == self.me.as_str());
                anyhow::ensure!(ours, "{TAKEN}");
                self.s.replace(&lease::held_by(&self.me, &self.s.namespace, now(), current.as_ref()))?
            }
        };
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = serde_json::from_str(&written).ok();
        Ok(())
    }
}

impl Drop for Lock<'_> {
    fn drop(&mut self) {
        let ours = self
            .s
            .get_one("lease", lease::NAME)
            .ok()
            .flatten()
            .is_some_and(|l| l["spec"]["holderIdentity"] == self.me.as_str());
        if ours {
            if let Err(e) = self.s.delete("lease", lease::NAME) {
                eprintln!("warning: cannot release the lock ({e:#}): it expires in {}s", lease::DURATION_S);
            }
        }
    }
}
