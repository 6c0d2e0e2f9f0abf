//! Exit codes: 0 all good, 1 a task failed, 2 bad usage or input.
//! Bad input is a [`UsageError`] anywhere in the error chain.

use std::fmt;

#[derive(Debug)]
pub struct UsageError(String);

impl UsageError {
    #[allow(clippy::new_ret_no_self)] // it is always wanted as an anyhow error
    pub fn new(msg: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(UsageError(msg.into()))
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The exit code an error ends the program with.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if err.chain().any(|e| e.is::<UsageError>()) {
        2
    } else {
        1
    }
}
