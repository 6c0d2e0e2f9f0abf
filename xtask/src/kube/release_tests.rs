use super::*;

fn rel(revision: u64, outcome: Outcome) -> Release {
    Release {
        revision,
        environment: "development".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        version: None,
        images: vec![Image { component: "storage".into(), reference: "r/storage:abc@sha256:00".into() }],
        deployed_by: "ci".into(),
        deployed_at: "2026-11-27T05:00:00Z".into(),
        outcome,
        description: String::new(),
        source_revision: None,
    }
}

#[test]
fn a_release_round_trips_through_its_secret() {
    let r = rel(3, Outcome::Succeeded);
    let manifests = "apiVersion: v1\nkind: Service\nmetadata:\n  name: storage\n".repeat(50);
    let secret = to_secret(&r, "mlops-development", &manifests).unwrap();
    assert_eq!(secret["metadata"]["name"], "mlops-release.v3");
    assert_eq!(secret["metadata"]["labels"]["mlops.dev/outcome"], "succeeded");
    assert_eq!(secret["metadata"]["labels"]["app.kubernetes.io/managed-by"], "xtask");
    assert_eq!(from_secret(&secret).unwrap(), r);
    assert_eq!(manifests_of(&secret).unwrap(), manifests);
    // Compressed: the repetitive manifests take far less room than as text.
    assert!(secret["data"]["manifests.yaml.gz"].as_str().unwrap().len() < manifests.len() / 10);
}

#[test]
fn a_damaged_secret_is_an_error_naming_it() {
    let mut secret = to_secret(&rel(1, Outcome::Succeeded), "ns", "x").unwrap();
    secret["data"]["release.json"] = "not base64!".into();
    let e = from_secret(&secret).unwrap_err();
    assert!(format!("{e:#}").starts_with("release mlops-release.v1 is unreadable"), "{e:#}");
}

#[test]
fn revisions_current_and_rollback_targets() {
    let h = [
        rel(1, Outcome::Succeeded),
        rel(2, Outcome::Succeeded),
        rel(3, Outcome::Failed),
        rel(4, Outcome::RolledBack),
        rel(5, Outcome::Pending),
    ];
    assert_eq!(next_revision(&h), 6);
    assert_eq!(next_revision(&[]), 1);
    assert_eq!(current(&h).unwrap().revision, 4);
    assert_eq!(rollback_target(&h, None).unwrap().revision, 2);
    assert_eq!(rollback_target(&h, Some(1)).unwrap().revision, 1);
    assert_eq!(
        rollback_target(&h, Some(9)).unwrap_err(),
        "no revision 9 in this environment's history (known: 1, 2, 3, 4, 5)"
    );
    let e = rollback_target(&h[..1], None).unwrap_err();
    assert!(e.contains("revision 1 is the only verified release"), "{e}");
    assert!(rollback_target(&[rel(1, Outcome::Failed)], None).unwrap_err().contains("was ever verified"));
}

#[test]
fn history_keeps_the_newest_ten() {
    let h: Vec<Release> = (1..=13).rev().map(|n| rel(n, Outcome::Succeeded)).collect();
    assert_eq!(to_prune(&h), [1, 2, 3]);
    assert!(to_prune(&h[..10]).is_empty());
}

#[test]
fn history_table_lists_oldest_first() {
    let mut failed = rel(2, Outcome::Failed);
    failed.description = "storage: CrashLoopBackOff".into();
    let table = history_table(&[failed, rel(1, Outcome::Succeeded)]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("REVISION"));
    assert!(lines[1].starts_with("1        2026-11-27T05:00:00Z  succeeded"), "{table}");
    assert!(lines[2].ends_with("ci  storage: CrashLoopBackOff"), "{table}");
}
