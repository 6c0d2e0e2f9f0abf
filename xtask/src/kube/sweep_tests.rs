use super::*;
use serde_json::json;

/// A namespace as `kubectl get namespaces -o json` lists it.
fn ns(name: &str, created: &str, labels: Value) -> Value {
    json!({"metadata": {"name": name, "creationTimestamp": created, "labels": labels}})
}

fn fixture(run: &str) -> Value {
    json!({FIXTURE_LABEL: "true", RUN_LABEL: run})
}

fn list(items: Vec<Value>) -> Value {
    json!({"items": items})
}

/// 2026-01-02T03:00:00Z.
const NOW: u64 = 1_767_322_800;

#[test]
fn a_run_removes_its_own_labelled_namespaces_only() {
    let l = list(vec![
        ns("fx-web-1", "2026-01-02T02:59:00Z", fixture("r1")),
        ns("node-crash-2", "2026-01-02T02:59:00Z", fixture("r1")),
        ns("fx-web-3", "2026-01-02T02:59:00Z", fixture("r2")),
        ns("fx-old-4", "2026-01-01T00:00:00Z", json!({})),
        // Labelled with the run but not as a fixture, and not named like one: someone else's.
        ns("team-a", "2026-01-02T02:59:00Z", json!({RUN_LABEL: "r1"})),
    ]);
    assert_eq!(select(&l, Which::Run("r1")), ["fx-web-1", "node-crash-2"]);
    assert_eq!(select(&l, Which::Run("r2")), ["fx-web-3"]);
    assert!(select(&l, Which::Run("")).is_empty(), "no id selects nothing, not the unlabelled");
}

#[test]
fn age_selects_fixtures_at_or_past_the_bound_labelled_or_prefixed() {
    let l = list(vec![
        ns("fx-pro-1", "2026-01-02T00:59:59Z", json!({})),
        ns("fx-pause-2", "2026-01-02T01:00:00Z", json!({})),
        ns("fx-canary-3", "2026-01-02T01:00:01Z", json!({})),
        ns("node-dns-4", "2025-12-31T00:00:00Z", fixture("r9")),
        ns("xtask-test-5", "2026-01-02T02:30:00Z", fixture("r9")),
        ns("fx-no-time", "", json!({})),
    ]);
    let old = select(&l, Which::OlderThan { now: NOW, age_s: 2 * 3600 });
    assert_eq!(old, ["fx-pause-2", "fx-pro-1", "node-dns-4"]);
}

#[test]
fn never_the_platform_the_cluster_or_an_unmarked_namespace() {
    let ancient = "2020-01-01T00:00:00Z";
    let l = list(vec![
        ns("mlops-production", ancient, fixture("r1")),
        ns("mlops-fx-staging", ancient, json!({})),
        ns("kube-system", ancient, fixture("r1")),
        ns("default", ancient, fixture("r1")),
        ns("team-b", ancient, json!({FIXTURE_LABEL: "false", RUN_LABEL: "r1"})),
        ns("ffx-web", ancient, json!({})),
    ]);
    assert!(select(&l, Which::OlderThan { now: NOW, age_s: 0 }).is_empty());
    assert!(select(&l, Which::Run("r1")).is_empty());
}

#[test]
fn a_namespace_being_deleted_is_left_to_finish() {
    let mut going = ns("fx-web-1", "2020-01-01T00:00:00Z", fixture("r1"));
    going["metadata"]["deletionTimestamp"] = "2026-01-02T02:00:00Z".into();
    let l = list(vec![going]);
    assert!(select(&l, Which::Run("r1")).is_empty());
    assert!(select(&l, Which::OlderThan { now: NOW, age_s: 0 }).is_empty());
}

#[test]
fn run_ids_are_label_values() {
    let id = run_id();
    assert!(id.len() <= 63 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "{id}");
    assert!(id.starts_with(|c: char| c.is_ascii_alphanumeric()) && id.ends_with(|c: char| c.is_ascii_alphanumeric()));
}

#[test]
fn the_line_names_what_went_or_how_to_finish() {
    let run = Which::Run("r1");
    assert_eq!(line(run, &Ok(Vec::new())), None);
    assert_eq!(
        line(run, &Ok(vec!["fx-a".into(), "fx-b".into()])).unwrap(),
        "removed 2 fixture namespace(s) of test run r1: fx-a, fx-b"
    );
    let failed = line(run, &Err(anyhow::anyhow!("cannot list the cluster's namespaces: refused"))).unwrap();
    assert!(failed.contains("kubectl delete namespace -l xtask.dev/test-run=r1"), "{failed}");
    let old = line(Which::OlderThan { now: NOW, age_s: STALE_AFTER_S }, &Ok(vec!["fx-c".into()])).unwrap();
    assert_eq!(old, "removed 1 fixture namespace(s) older than 2 h: fx-c");
}
