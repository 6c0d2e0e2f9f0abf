use super::*;
use serde_json::json;

fn p(pr: u64, active: u64, busy: bool) -> Preview {
    Preview {
        pr,
        namespace: preview::namespace(pr),
        created: active,
        active,
        commit: Some("0123456789abcdef".into()),
        state: if busy { "deploying" } else { "succeeded" }.into(),
        busy,
    }
}

#[test]
fn a_namespace_is_a_preview_only_with_its_label_and_its_name() {
    let ns = json!({"metadata": {"name": "mlops-pr-7", "labels": {"xtask.dev/preview": "7"},
        "creationTimestamp": "2024-05-01T10:00:00Z"}, "status": {"phase": "Active"}});
    assert_eq!(from_namespace(&ns), Some((7, "mlops-pr-7".into(), 1_714_557_600, false)));
    let mut other = ns.clone();
    other["metadata"]["name"] = json!("mlops-development");
    assert_eq!(from_namespace(&other), None, "a label on another namespace does not make it a preview");
    let mut going = ns.clone();
    going["status"]["phase"] = json!("Terminating");
    assert!(from_namespace(&going).unwrap().3);
}

#[test]
fn room_is_made_by_removing_the_oldest_idle_preview() {
    let running = [p(1, 300, false), p(2, 100, false), p(3, 200, true)];
    assert_eq!(make_room(&running, 3, 4), Ok(vec![2]), "the oldest idle, not the older busy one");
    assert_eq!(make_room(&running, 3, 1), Ok(vec![]), "an update of one that runs needs no room");
    assert_eq!(make_room(&running, 4, 4), Ok(vec![]));
    assert_eq!(make_room(&running, 2, 4), Ok(vec![2, 1]), "a lowered limit removes enough");
    let busy = [p(1, 300, true), p(2, 100, true)];
    let e = make_room(&busy, 2, 4).unwrap_err();
    assert!(e.contains("`cargo xtask preview list`") && e.contains("`cargo xtask preview down --pr N`"), "{e}");
    assert_eq!(e.lines().count(), 1);
    let mut going = p(5, 50, true);
    going.state = "removing".into();
    assert_eq!(make_room(&[p(1, 300, false), going], 2, 4), Ok(vec![]), "one being removed frees its place");
}

#[test]
fn the_sweep_takes_idle_previews_past_the_ttl_oldest_first() {
    let ttl = Duration::from_secs(72 * 3600);
    let now = 1_000_000;
    let previews =
        [p(1, now - 73 * 3600, false), p(2, now - 100 * 3600, false), p(3, now - 80 * 3600, true), p(4, now, false)];
    assert_eq!(expired(&previews, now, ttl), vec![2, 1]);
}

#[test]
fn the_table_shows_age_idle_time_commit_and_state() {
    let now = 100_000;
    let mut a = p(7, now - 4560, false);
    a.created = now - 93_600;
    let mut b = p(12, now - 16, false);
    b.commit = None;
    b.state = "never deployed".into();
    let want = [
        "PREVIEW  NAMESPACE    AGE   IDLE   COMMIT        STATE",
        "pr-7     mlops-pr-7   1d2h  1h16m  0123456789ab  succeeded",
        "pr-12    mlops-pr-12  16s   16s    -             never deployed",
    ];
    assert_eq!(table(&[a, b], now), want.map(|l| format!("{l}\n")).concat());
}
