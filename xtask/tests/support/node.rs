//! Room on the cluster's one real node (2 CPUs; development's platform and
//! other runs' pods may be there too), shared by the node suite's tests so
//! they run at once: each test that puts pods there first takes a share of
//! the node's CPU, the peak of what its pods request (surge and Jobs
//! included), and gives it back when dropped (a failing test's too). A share
//! waits while the shares held would pass what the node had free when the
//! first was asked for; a test that needs the whole node says so
//! ([`whole`]) and runs alone. Requests, not use: they are what the
//! scheduler places pods by, so shares within them never leave a pod Pending.

use std::sync::{Condvar, Mutex, OnceLock};

/// Millicores held by the shares out, and whether a test waits for the whole node.
static HELD: Mutex<Held> = Mutex::new(Held { millicores: 0, holders: 0, whole_waiting: 0 });
static FREED: Condvar = Condvar::new();

pub struct Held {
    pub millicores: u32,
    pub holders: u32,
    /// Tests waiting for the whole node: no new share starts before them (no starving).
    pub whole_waiting: u32,
}

/// A share of the node, held until dropped.
#[must_use = "the share is given back when dropped: bind it to a variable for the test's length"]
pub struct Share {
    millicores: u32,
}

/// What the node had free for this run: its allocatable CPU less what the
/// pods already on it request, read once.
fn capacity() -> u32 {
    static FREE: OnceLock<u32> = OnceLock::new();
    *FREE.get_or_init(|| {
        let c = super::cluster();
        let node = c.json(&["get", "nodes", "-l", "xtask.dev/real-node=true", "-o", "json"]);
        let node = &node["items"][0];
        let name = node["metadata"]["name"].as_str().expect("the cluster has a real node (cargo xtask services up)");
        let allocatable = millicores(node["status"]["allocatable"]["cpu"].as_str().unwrap_or("0"));
        let selector = format!("spec.nodeName={name},status.phase!=Succeeded,status.phase!=Failed");
        let pods = c.json(&["get", "pods", "-A", "--field-selector", &selector, "-o", "json"]);
        let requested: u32 = pods["items"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["spec"]["containers"].as_array().into_iter().flatten())
            .map(|c| millicores(c["resources"]["requests"]["cpu"].as_str().unwrap_or("0")))
            .sum();
        let free = allocatable.saturating_sub(requested);
        eprintln!("node {name}: {allocatable}m allocatable, {requested}m requested already: {free}m for the tests");
        free
    })
}

/// A Kubernetes CPU quantity (`2`, `1.5`, `250m`) in millicores.
pub fn millicores(q: &str) -> u32 {
    match q.strip_suffix('m') {
        Some(m) => m.parse().unwrap_or(0),
        None => q.parse::<f64>().map(|c| (c * 1000.0).round() as u32).unwrap_or(0),
    }
}

/// Whether a share of `want` may start now, with `free` millicores for the tests.
/// Alone on the node it always may (a test asking more than there is runs by itself).
pub fn fits(held: &Held, want: u32, free: u32) -> bool {
    held.whole_waiting == 0 && (held.holders == 0 || held.millicores + want <= free)
}

/// Wait for `millicores` of the node's CPU (the peak its pods request).
pub fn share(millicores: u32) -> Share {
    let free = capacity();
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    while !fits(&held, millicores, free) {
        held = FREED.wait(held).unwrap_or_else(|e| e.into_inner());
    }
    held.millicores += millicores;
    held.holders += 1;
    Share { millicores }
}

/// Wait for the whole node: no other test has pods there while it is held.
pub fn whole() -> Share {
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    held.whole_waiting += 1;
    while held.holders > 0 {
        held = FREED.wait(held).unwrap_or_else(|e| e.into_inner());
    }
    held.whole_waiting -= 1;
    // Held as the whole: nothing fits beside it.
    let all = u32::MAX / 2;
    held.millicores += all;
    held.holders += 1;
    Share { millicores: all }
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        held.millicores -= self.millicores;
        held.holders -= 1;
        FREED.notify_all();
    }
}
