use super::*;

fn out(pod: &str, text: &str) -> (String, String, String) {
    (pod.into(), "c".into(), text.into())
}

#[test]
fn lines_of_every_container_merge_in_time_order() {
    // kubectl trims trailing zeros of the fraction, so text order is not time order.
    let a = out("storage-1", "2026-12-01T10:00:00.5Z first\n2026-12-01T10:00:02.000000001Z third\n");
    let b = out("cdc-1", "2026-12-01T10:00:00.123456789Z zeroth\n2026-12-01T10:00:01Z second\n  continued\n");
    let merged = merge(&[a, b]);
    let texts: Vec<&str> = merged.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["zeroth", "first", "second\n  continued", "third"]);
    assert_eq!(merged[1].pod, "storage-1");
}

#[test]
fn json_lines_show_as_fields() {
    let l = parse(
        r#"2026-12-01T10:00:00Z {"ts": "x", "level": "info", "logger": "mlops_storage.access", "message": "GET /healthz 200", "status": 200}"#,
        "storage-1",
        "storage",
    )
    .unwrap();
    assert_eq!(
        human(&l),
        r#"2026-12-01T10:00:00Z storage-1/storage info "GET /healthz 200" logger=mlops_storage.access status=200"#
    );
    let j = as_json(&l);
    assert_eq!(j["fields"]["status"], 200);
    assert_eq!(j["pod"], "storage-1");
    let plain = parse("2026-12-01T10:00:00Z started", "p", "c").unwrap();
    assert_eq!(human(&plain), "2026-12-01T10:00:00Z p/c started");
    assert_eq!(as_json(&plain)["message"], "started");
    assert_eq!(parse("no timestamp here", "p", "c"), None);
}

#[test]
fn a_trace_is_named_by_its_id_or_a_traceparent_and_selects_its_lines_and_pods() {
    let id = "4bf92f3577b34da6a3ce929d0e0e4736";
    assert_eq!(trace_id(id).unwrap(), id);
    assert_eq!(trace_id(&format!("00-{id}-00f067aa0ba902b7-01")).unwrap(), id);
    assert_eq!(trace_id(&id.to_uppercase()).unwrap(), id);
    for bad in ["", "abc", "00000000000000000000000000000000", "zz-zz-zz-zz"] {
        assert!(trace_id(bad).unwrap_err().contains("is not a trace id"), "{bad}");
    }
    let line = |text: &str| parse(&format!("2026-12-01T10:00:00Z {text}"), "storage-1", "storage").unwrap();
    assert!(in_trace(&line(&format!(r#"{{"message":"request","trace_id":"{id}","span_id":"1111111111111111"}}"#)), id));
    assert!(!in_trace(&line(r#"{"message":"request"}"#), id));
    assert!(!in_trace(&line(id), id), "a plain line mentioning the id is not in the trace");
    let pods = serde_json::json!([
        {"metadata": {"name": "storage-1", "annotations": {"xtask.dev/traceparent": format!("00-{id}-00f067aa0ba902b7-01")}}},
        {"metadata": {"name": "cdc-1", "annotations": {"xtask.dev/traceparent": "00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}},
        {"metadata": {"name": "old-1"}}
    ]);
    assert_eq!(annotated(pods.as_array().unwrap(), id), ["storage-1"]);
}
