//! Every namespace a test makes carries the fixture label and its run's id
//! (`XTASK_TEST_RUN`, which `cargo xtask test` sets; a run of its own under
//! plain `cargo test`), so the test stage removes it when the run ends or is
//! interrupted, even when a signal stopped the test before its guard ran, and
//! a later run removes it once old (xtask/src/kube/sweep.rs).

use std::sync::OnceLock;

pub const FIXTURE_LABEL: &str = "xtask.dev/fixture";
pub const RUN_LABEL: &str = "xtask.dev/test-run";

/// This run's id: the test stage's, else one of this process's own.
pub fn run_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        std::env::var("XTASK_TEST_RUN")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| format!("cargo-test-{}", super::unique()))
    })
}

/// The labels' lines, `indent` spaces in.
fn lines(indent: usize) -> String {
    let pad = " ".repeat(indent);
    format!("{pad}{FIXTURE_LABEL}: \"true\"\n{pad}{RUN_LABEL}: \"{}\"\n", run_id())
}

/// A Namespace `name` labelled as this run's fixture.
pub fn namespace_yaml(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels:\n{}", lines(4))
}

/// `yaml` (one or more documents) with the fixture labels on its Namespaces,
/// with or without labels of their own (`metadata:` at two spaces).
pub fn labelled(yaml: &str) -> String {
    let head = "kind: Namespace\nmetadata:\n";
    let mut out = String::new();
    let mut rest = yaml;
    while let Some(at) = rest.find(head) {
        out.push_str(&rest[..at + head.len()]);
        rest = &rest[at + head.len()..];
        if let Some(after) = rest.strip_prefix("  labels:\n") {
            out.push_str("  labels:\n");
            rest = after;
        } else {
            out.push_str("  labels:\n");
        }
        out.push_str(&lines(4));
    }
    assert!(!out.is_empty(), "no `{head}` in the manifest to label: {yaml}");
    out.push_str(rest);
    out
}
