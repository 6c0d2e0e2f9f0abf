//! Turns on the cluster's one real node (2 CPUs; the platform asks for most).
//! The node suite's test files were once binaries cargo ran one after another;
//! in the one test binary their tests share its threads, so a test that puts
//! pods on the node first waits until no other file's test has pods there.
//! A file's own tests still run side by side, as they did.

use std::sync::{Condvar, Mutex};

/// Whose turn it is (a test file) and how many of its tests hold it.
static HOLDER: Mutex<(Option<&'static str>, usize)> = Mutex::new((None, 0));
static FREED: Condvar = Condvar::new();

/// The caller's file's turn on the node, held until dropped (a failing test's too).
pub struct Turn;

/// Wait for the node to be free or held by the caller's own file (the test
/// that calls this, or the helper of its file).
#[track_caller]
pub fn turn() -> Turn {
    let file = std::panic::Location::caller().file();
    let mut held = HOLDER.lock().unwrap_or_else(|e| e.into_inner());
    while held.0.is_some_and(|f| f != file) {
        held = FREED.wait(held).unwrap_or_else(|e| e.into_inner());
    }
    *held = (Some(file), held.1 + 1);
    Turn
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut held = HOLDER.lock().unwrap_or_else(|e| e.into_inner());
        held.1 -= 1;
        if held.1 == 0 {
            held.0 = None;
            FREED.notify_all();
        }
    }
}
