//! `cargo xtask workflows [--json]`: every `run:` step of the GitHub
//! workflows is one `cargo xtask` command (`workflows::thin`), and every job
//! starts the services its commands need (`workflows::jobs`).

use crate::workflows::{files, jobs, thin};
use anyhow::{Context, Result};
use std::path::Path;

/// `cargo xtask workflows`: the rules over every workflow.
pub fn run(root: &Path, json: bool) -> Result<i32> {
    let mut found = Vec::new();
    for file in files(root) {
        let text = std::fs::read_to_string(root.join(&file)).with_context(|| format!("cannot read {file}"))?;
        found.extend(thin(&file, &text));
        found.extend(jobs::services_not_started(&file, &text));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&found)?);
    } else {
        for f in &found {
            println!("{}:{}:{}: {} {}", f.file, f.line.unwrap_or(0), f.column.unwrap_or(0), f.code, f.message);
        }
        println!("{} workflow(s) checked, {} finding(s)", files(root).len(), found.len());
    }
    Ok(if found.is_empty() { 0 } else { 1 })
}
