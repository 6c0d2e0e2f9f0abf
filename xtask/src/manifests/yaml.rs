//! Manifests read as data: YAML 1.2 documents parsed with the line each
//! starts at (serde-saphyr, duplicate keys refused), and the Kubernetes
//! objects of a multi-document file (`kube::Object`, what the cluster side
//! takes). Pure.

use crate::kube::Object;
use serde_json::Value;

/// A YAML file that does not parse: where, and what the parser said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub line: u32,
    pub message: String,
}

/// Parse one YAML document (YAML 1.2 booleans, duplicate keys refused).
pub fn parse(text: &str) -> Result<Value, Error> {
    let options = serde_saphyr::options! { strict_booleans: true, with_snippet: false };
    serde_saphyr::from_str_with_options::<Value>(text, options).map_err(|e| {
        let line = e.location().map_or(0, |l| l.line() as u32);
        let message = e.to_string();
        // The parser ends its message with the location, which the caller prints its own way.
        let message = match message.rfind(" at line ") {
            Some(at) => message[..at].to_string(),
            None => message,
        };
        Error { line, message }
    })
}

/// The objects of a multi-document manifest (as kustomize prints them, or as
/// written by hand): empty documents are skipped, a `List` is not unpacked.
pub fn objects(text: &str) -> Result<Vec<Object>, Error> {
    let mut found = Vec::new();
    for (start, doc) in documents(text) {
        let value = parse(&doc).map_err(|e| Error { line: e.line + start - 1, ..e })?;
        if value.is_null() {
            continue;
        }
        let first = doc.lines().position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        let line = start + first.unwrap_or(0) as u32;
        let field = |v: &Value| v.as_str().map(String::from);
        let kind = field(&value["kind"]).ok_or_else(|| Error { line, message: "a document has no kind".into() })?;
        let name = field(&value["metadata"]["name"])
            .ok_or_else(|| Error { line, message: format!("a {kind} has no metadata.name") })?;
        let namespace = field(&value["metadata"]["namespace"]);
        found.push(Object { kind, name, namespace, line, value });
    }
    Ok(found)
}

/// Split at `---` lines: each document with the 1-based line it starts at.
pub fn documents(text: &str) -> Vec<(u32, String)> {
    let mut docs = vec![(1u32, String::new())];
    for (i, line) in text.lines().enumerate() {
        if line == "---" || line.starts_with("--- ") {
            docs.push((i as u32 + 2, String::new()));
        } else {
            let doc = &mut docs.last_mut().expect("one document at least").1;
            doc.push_str(line);
            doc.push('\n');
        }
    }
    docs
}

#[cfg(test)]
#[path = "yaml_tests.rs"]
mod tests;
