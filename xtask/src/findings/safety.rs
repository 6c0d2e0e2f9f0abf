//! safety 2.3.5: its JSON report, pointed at the requirement's line; the offline database's identity.

use super::from_brace;
use super::{finding, Finding, Severity};
use crate::clock::utc_date;
use anyhow::{Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct SafetyReport {
    vulnerabilities: Vec<SafetyVuln>,
    #[serde(default)]
    affected_packages: BTreeMap<String, SafetyPackage>,
}

#[derive(Deserialize)]
struct SafetyVuln {
    vulnerability_id: String,
    package_name: String,
    analyzed_version: String,
    vulnerable_spec: String,
    advisory: String,
    #[serde(rename = "CVE")]
    cve: Option<String>,
    more_info_url: Option<String>,
}

#[derive(Deserialize)]
struct SafetyPackage {
    found: Option<String>,
}

/// `safety check --json` stdout. `requirements` holds (path as passed to `-r`, file text) for
/// each requirements file: safety names the file a package came from but not the line, so the
/// line is looked up in the text. Code = the CVE, or `PYUP-<id>` for advisories without one.
pub fn safety(json: &str, requirements: &[(&str, &str)]) -> Result<Vec<Finding>> {
    let report: SafetyReport = serde_json::from_str(from_brace(json)).context("parsing safety's JSON report")?;
    // affected_packages is keyed by the name as written in the file, vulnerabilities by its
    // canonical form.
    let found_in: BTreeMap<String, String> =
        report.affected_packages.into_iter().filter_map(|(name, p)| Some((canonical(&name), p.found?))).collect();
    let mut found = Vec::new();
    for v in report.vulnerabilities {
        let pkg = canonical(&v.package_name);
        let file = found_in.get(&pkg).map(String::as_str).or(requirements.first().map(|r| r.0)).unwrap_or("");
        let text = requirements.iter().find(|r| r.0 == file).map(|r| r.1);
        let line = text.and_then(|t| requirement_line(t, &pkg));
        let code = v.cve.filter(|c| !c.is_empty()).unwrap_or_else(|| format!("PYUP-{}", v.vulnerability_id));
        let mut message =
            format!("{} {} is vulnerable ({}): {}", v.package_name, v.analyzed_version, v.vulnerable_spec, v.advisory);
        if let Some(url) = v.more_info_url.filter(|u| !u.is_empty()) {
            message += &format!(" More info: {url}");
        }
        found.push(finding("safety", file, line, None, &code, &message, Severity::High));
    }
    Ok(found)
}

/// The offline database's identity, from `$meta` of tools/safety-db/insecure_full.json:
/// safety itself reports only the folder, never the data's date.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SafetyDb {
    pub advisory: String,
    pub timestamp: i64,
    /// The timestamp's UTC day, `YYYY-MM-DD`.
    pub date: String,
}

pub fn safety_db(insecure_full_json: &str) -> Result<SafetyDb> {
    let db: serde_json::Value = serde_json::from_str(insecure_full_json).context("parsing the safety database")?;
    let meta = &db["$meta"];
    let timestamp = meta["timestamp"].as_i64().context("the safety database has no $meta.timestamp")?;
    let advisory = meta["advisory"].as_str().unwrap_or_default().to_string();
    Ok(SafetyDb { advisory, date: utc_date(timestamp), timestamp })
}

/// PEP 503 name normalization: lowercase, runs of `-`, `_`, `.` become one `-`.
fn canonical(name: &str) -> String {
    let mut out = String::new();
    for part in name.split(['-', '_', '.']).filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(&part.to_ascii_lowercase());
    }
    out
}

/// 1-based line of the requirement naming `package` (canonical), ignoring comments and options.
fn requirement_line(text: &str, package: &str) -> Option<u32> {
    text.lines()
        .position(|l| {
            let l = l.split('#').next().unwrap_or("").trim();
            let name: String = l.chars().take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
            !l.starts_with('-') && !name.is_empty() && canonical(&name) == package
        })
        .map(|i| i as u32 + 1)
}
