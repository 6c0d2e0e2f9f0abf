use super::*;

fn rel(revision: u64, outcome: Outcome) -> Release {
    Release {
        revision,
        environment: "development".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        version: None,
        images: vec![Image {
            component: "storage".into(),
            reference: "r/storage:abc@sha256:00".into(),
            built_from: Some("0123456789abcdef0123456789abcdef01234567".into()),
        }],
        deployed_by: "ci".into(),
        deployed_at: "2026-11-27T05:00:00Z".into(),
        outcome,
        description: String::new(),
        source_revision: None,
        undone_by: None,
        uncommitted: Vec::new(),
        forced: false,
        canary: None,
        traceparent: None,
    }
}

/// A rollback revision: `source`'s manifests put back, verified.
fn rollback(revision: u64, source: u64) -> Release {
    Release {
        source_revision: Some(source),
        description: format!("rollback to revision {source}"),
        ..rel(revision, Outcome::Succeeded)
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
    // 3 failed its verify and the deploy put 2 back as revision 4.
    let h = [
        rel(1, Outcome::Succeeded),
        rel(2, Outcome::Succeeded),
        rel(3, Outcome::Failed),
        rollback(4, 2),
        rel(5, Outcome::Pending),
    ];
    assert_eq!(next_revision(&h), 6);
    assert_eq!(next_revision(&[]), 1);
    assert_eq!(current(&h).unwrap().revision, 4);
    // 4 runs 2's manifests: rolling back goes to 1, not to 2 again.
    let settled = &h[..4];
    assert_eq!(rollback_target(settled, None, false).unwrap().revision, 1);
    assert_eq!(rollback_target(settled, Some(1), false).unwrap().revision, 1);
    // With the pending 5 applied on top, rolling back first puts 4 back.
    assert_eq!(rollback_target(&h, None, false).unwrap().revision, 4);
    assert_eq!(
        rollback_target(&h, Some(9), false).unwrap_err(),
        "no revision 9 in this environment's history (known: 1, 2, 3, 4, 5)"
    );
    let e = rollback_target(&h[..1], None, false).unwrap_err();
    assert!(e.contains("revision 1 runs now and no earlier release stands"), "{e}");
    assert!(rollback_target(&[rel(1, Outcome::Failed)], None, false).unwrap_err().contains("was ever verified"));
}

#[test]
fn rollback_to_a_failed_or_pending_revision_needs_force() {
    let mut failed = rel(2, Outcome::Failed);
    failed.description = "web: CrashLoopBackOff".into();
    let h = [rel(1, Outcome::Succeeded), failed, rollback(3, 1), rel(4, Outcome::Pending)];
    let e = rollback_target(&h, Some(2), false).unwrap_err();
    assert_eq!(
        e,
        "revision 2 failed its verify (web: CrashLoopBackOff): `cargo xtask status` lists the verified releases; pass --force to apply it anyway"
    );
    assert_eq!(rollback_target(&h, Some(2), true).unwrap().revision, 2);
    let e = rollback_target(&h, Some(4), false).unwrap_err();
    assert!(e.starts_with("revision 4 never verified"), "{e}");
    // What runs now (3 is 1's manifests) is no rollback either, once nothing newer was applied.
    let settled = &h[..3];
    let e = rollback_target(settled, Some(1), false).unwrap_err();
    assert!(e.starts_with("revision 1 is what runs now (as revision 3)"), "{e}");
    assert!(rollback_target(settled, Some(1), true).is_ok());
    // With the pending 4 applied on top, putting 3 (or 1) back is the way out.
    assert_eq!(rollback_target(&h, Some(1), false).unwrap().revision, 1);
}

#[test]
fn pressing_rollback_twice_goes_further_back_and_labels_what_it_undid() {
    let mut h = vec![rel(1, Outcome::Succeeded), rel(2, Outcome::Succeeded), rel(3, Outcome::Succeeded)];
    // First press: back to 2; 3 is undone.
    let target = rollback_target(&h, None, false).unwrap().clone();
    assert_eq!(target.revision, 2);
    assert_eq!(undone(&h, &target), [3]);
    h[2] = mark_undone(&h[2], 4);
    h.push(rollback(4, 2));
    assert_eq!(current(&h).unwrap().revision, 4);
    // Second press: further back to 1, not 2 again nor forward to 3; 2 and its copy 4 are undone.
    let target = rollback_target(&h, None, false).unwrap().clone();
    assert_eq!(target.revision, 1);
    assert_eq!(undone(&h, &target), [2, 4]);
    for rev in [2, 4] {
        let i = h.iter().position(|r| r.revision == rev).unwrap();
        h[i] = mark_undone(&h[i], 5);
    }
    h.push(rollback(5, 1));
    // Third press: nothing older stands.
    let e = rollback_target(&h, None, false).unwrap_err();
    assert!(e.contains("revision 5 (revision 1's manifests) runs now and no earlier release stands"), "{e}");
    let outcomes: Vec<(u64, &str)> = h.iter().map(|r| (r.revision, r.outcome.label())).collect();
    assert_eq!(
        outcomes,
        [(1, "succeeded"), (2, "rolled-back"), (3, "rolled-back"), (4, "rolled-back"), (5, "succeeded")]
    );
    // Rolling forward to an undone release is allowed: it was verified.
    assert_eq!(rollback_target(&h, Some(3), false).unwrap().revision, 3);
    let table = history_table(&h);
    assert!(table.lines().nth(3).unwrap().ends_with("ci  rolled back by revision 4"), "{table}");
    assert!(table.lines().nth(5).unwrap().ends_with("ci  rollback to revision 1; running now"), "{table}");
}

#[test]
fn after_an_undeploy_nothing_runs_and_a_rollback_names_its_revision() {
    let h = [rel(1, Outcome::Succeeded), rel(2, Outcome::Undeployed)];
    assert!(current(&h).is_none());
    assert_eq!(undeployed(&h).unwrap().revision, 2);
    assert!(undeployed(&h[..1]).is_none());
    let e = rollback_target(&h, None, false).unwrap_err();
    assert!(e.starts_with("nothing runs: revision 2 undeployed this environment"), "{e}");
    assert_eq!(rollback_target(&h, Some(1), false).unwrap().revision, 1);
    assert!(rollback_target(&h, Some(2), true).unwrap_err().contains("is an undeploy"));
}

#[test]
fn records_of_the_old_meaning_of_rolled_back_read_as_running_rollbacks() {
    // Before, a verified rollback's own revision was `rolled-back` (and there was no `undone_by`).
    let old = Release { outcome: Outcome::RolledBack, ..rollback(3, 1) };
    let secret = to_secret(&old, "ns", "x").unwrap();
    let read = from_secret(&secret).unwrap();
    assert_eq!(read.outcome, Outcome::Succeeded);
    // An old record without the new fields still reads.
    let mut json: serde_json::Value = serde_json::to_value(rel(1, Outcome::Succeeded)).unwrap();
    for k in ["undone_by", "uncommitted", "forced", "canary"] {
        json.as_object_mut().unwrap().remove(k);
    }
    json["images"][0].as_object_mut().unwrap().remove("built_from");
    let r: Release = serde_json::from_value(json).unwrap();
    assert_eq!(r.images[0].built_from, None);
    assert!(!r.forced);
}

#[test]
fn the_table_says_when_what_ran_is_not_the_commit() {
    let mut r = rel(1, Outcome::Succeeded);
    r.images[0].built_from = Some("fedcba9876543210fedcba9876543210fedcba98".into());
    r.uncommitted = vec!["deploy/overlays/staging/kustomization.yaml".into()];
    r.forced = true;
    let table = history_table(&[r]);
    assert!(
        table.lines().nth(1).unwrap().ends_with(
            "ci  images built from fedcba987654; uncommitted: deploy/overlays/staging/kustomization.yaml; forced; running now"
        ),
        "{table}"
    );
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

#[test]
fn after_an_interrupted_or_unrecovered_deploy_rollback_puts_the_current_release_back() {
    // 4 was applied and never verified (Ctrl-C): the cluster may run it; 3 is the standing release.
    let h = [rel(1, Outcome::Succeeded), rel(2, Outcome::Failed), rollback(3, 1), rel(4, Outcome::Pending)];
    assert_eq!(rollback_target(&h, None, false).unwrap().revision, 3);
    assert_eq!(rollback_target(&h, Some(3), false).unwrap().revision, 3);
    assert!(undone(&h, &h[2]).is_empty());
    // A rollback that failed its own verify leaves the cluster unsettled too.
    let h =
        [rel(1, Outcome::Succeeded), rel(2, Outcome::Failed), Release { outcome: Outcome::Failed, ..rollback(3, 1) }];
    assert_eq!(rollback_target(&h, None, false).unwrap().revision, 1);
}

#[test]
fn the_last_deploys_trace_is_the_newest_revision_that_recorded_one() {
    let traced = |revision: u64, trace: &str| Release {
        traceparent: Some(format!("00-{trace}-00f067aa0ba902b7-01")),
        ..rel(revision, Outcome::Succeeded)
    };
    let a = "4bf92f3577b34da6a3ce929d0e0e4736";
    let b = "0af7651916cd43dd8448eb211c80319c";
    assert_eq!(trace_line("staging", &[rel(1, Outcome::Succeeded)]), None);
    let history = [traced(2, b), traced(1, a), rel(3, Outcome::Failed)];
    assert_eq!(
        trace_line("staging", &history).unwrap(),
        format!("trace {b} (revision 2): cargo xtask logs staging --trace {b}")
    );
}
