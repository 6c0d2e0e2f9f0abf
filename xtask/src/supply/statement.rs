//! The provenance an image carries (SLSA v1's predicate, in an in-toto
//! statement cosign wraps around it) and what deploy reads back from
//! verified attestations. Pure: the facts in, JSON out, and back.

use base64::Engine;
use serde_json::{json, Value};

pub const BUILD_TYPE: &str = "https://xtask.dev/buildtypes/image/v1";
pub const BUILDER_ID: &str = "https://xtask.dev/builders/cargo-xtask";
pub const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
pub const SPDX: &str = "https://spdx.dev/Document";

/// What the image stage knows about one image's build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Build {
    pub component: String,
    /// Where the source lives (a web address, else `git+file://…` of the checkout).
    pub repository: String,
    pub commit: String,
    pub reference: Option<String>,
    /// The build command as the images report's plan ran it.
    pub command: String,
    pub dockerfile: String,
    /// (base image name, its image id `sha256:…`).
    pub bases: Vec<(String, String)>,
    /// Builder name → version (buildx/BuildKit or docker, cosign, syft).
    pub builder: Vec<(String, String)>,
    pub source_date_epoch: i64,
    pub reproducible: Option<bool>,
    pub dirty: bool,
    pub invocation: String,
    pub started: String,
    pub finished: String,
}

/// The SLSA v1 provenance predicate of `b`.
pub fn provenance(b: &Build) -> Value {
    let mut deps = vec![json!({
        "uri": format!("git+{}", b.repository),
        "digest": { "gitCommit": b.commit },
        "annotations": { "ref": b.reference },
    })];
    for (name, id) in &b.bases {
        let hex = id.strip_prefix("sha256:").unwrap_or(id);
        deps.push(json!({ "uri": format!("docker-image://{name}"), "digest": { "sha256": hex } }));
    }
    let versions: serde_json::Map<String, Value> =
        b.builder.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    json!({
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "component": b.component,
                "repository": b.repository,
                "ref": b.reference,
                "dockerfile": b.dockerfile,
                "command": b.command,
            },
            "internalParameters": {
                "SOURCE_DATE_EPOCH": b.source_date_epoch,
                "reproducible": b.reproducible,
                "dirty": b.dirty,
            },
            "resolvedDependencies": deps,
        },
        "runDetails": {
            "builder": { "id": BUILDER_ID, "version": versions },
            "metadata": { "invocationId": b.invocation, "startedOn": b.started, "finishedOn": b.finished },
        },
    })
}

/// One verified attestation: its predicate type, subject digests and predicate.
#[derive(Debug, Clone, PartialEq)]
pub struct Attestation {
    pub predicate_type: String,
    pub subjects: Vec<String>,
    pub predicate: Value,
}

/// `cosign verify-attestation`'s output (one DSSE envelope per line) read
/// back; a line that is not one is an error naming what is wrong.
pub fn attestations(output: &str) -> Result<Vec<Attestation>, String> {
    let mut out = Vec::new();
    for line in output.lines().map(str::trim).filter(|l| l.starts_with('{')) {
        let envelope: Value = serde_json::from_str(line).map_err(|e| format!("an attestation is not JSON ({e})"))?;
        let payload = envelope["payload"].as_str().ok_or("an attestation has no payload")?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(payload)
            .map_err(|e| format!("an attestation's payload is not base64 ({e})"))?;
        let st: Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("an attestation's statement is not JSON ({e})"))?;
        let subjects = st["subject"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s["digest"]["sha256"].as_str()).map(|d| format!("sha256:{d}")).collect())
            .unwrap_or_default();
        out.push(Attestation {
            predicate_type: st["predicateType"].as_str().unwrap_or_default().to_string(),
            subjects,
            predicate: st["predicate"].clone(),
        });
    }
    Ok(out)
}

/// The source repository and commit a provenance predicate names.
pub fn source_of(predicate: &Value) -> Option<(String, String)> {
    let deps = predicate["buildDefinition"]["resolvedDependencies"].as_array()?;
    deps.iter().find_map(|d| {
        let commit = d["digest"]["gitCommit"].as_str()?;
        let uri = d["uri"].as_str().unwrap_or_default();
        Some((uri.strip_prefix("git+").unwrap_or(uri).to_string(), commit.to_string()))
    })
}

#[cfg(test)]
#[path = "statement_tests.rs"]
mod tests;
