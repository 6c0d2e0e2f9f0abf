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
