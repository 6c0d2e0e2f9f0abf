//! bandit: its JSON report, issues and the files it could not scan.

use super::from_brace;
use super::{finding, Finding, Severity};
use anyhow::{Context, Result};
use serde::Deserialize;

#[derive(Deserialize)]
struct BanditReport {
    #[serde(default)]
    errors: Vec<BanditError>,
    results: Vec<BanditIssue>,
}

#[derive(Deserialize)]
struct BanditError {
    filename: String,
    reason: String,
}

#[derive(Deserialize)]
struct BanditIssue {
    filename: String,
    line_number: u32,
    col_offset: Option<u32>,
    test_id: String,
    test_name: String,
    issue_text: String,
    issue_severity: String,
    issue_confidence: String,
}

/// `bandit -f json` stdout. Files bandit could not scan become Medium findings (code `error`):
/// bandit itself exits 0 for them.
pub fn bandit(json: &str) -> Result<Vec<Finding>> {
    let report: BanditReport = serde_json::from_str(from_brace(json)).context("parsing bandit's JSON report")?;
    let mut found = Vec::new();
    for i in report.results {
        let severity = match i.issue_severity.as_str() {
            "HIGH" => Severity::High,
            "MEDIUM" => Severity::Medium,
            _ => Severity::Low,
        };
        let message = format!("{} [{}, confidence {}]", i.issue_text, i.test_name, i.issue_confidence.to_lowercase());
        // bandit's col_offset is 0-based (Python's ast); annotations count from 1.
        let column = i.col_offset.map(|c| c + 1);
        found.push(finding("bandit", &i.filename, Some(i.line_number), column, &i.test_id, &message, severity));
    }
    for e in report.errors {
        let message = format!("not scanned: {}", e.reason);
        found.push(finding("bandit", &e.filename, None, None, "error", &message, Severity::Medium));
    }
    Ok(found)
}
