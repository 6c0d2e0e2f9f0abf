use super::*;

fn record(env: &[(&str, &str)], processes: Vec<Proc>) -> Record {
    Record {
        summary: "s".into(),
        env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        processes,
        identity: "id".into(),
    }
}

fn me() -> Proc {
    process::proc_of("me", std::process::id()).unwrap()
}

#[test]
fn a_record_whose_process_is_gone_is_stale_and_gives_nothing() {
    let gone = Proc { name: "registry".into(), pid: me().pid, start: me().start + 1 };
    let state = State {
        format: 1,
        services: [
            (
                "kube".to_string(),
                record(&[("XTASK_TEST_KUBECONFIG", "/k"), ("XTASK_KUBECTL", "/bin/kubectl")], vec![me()]),
            ),
            ("registry".to_string(), record(&[("XTASK_TEST_REGISTRY", "127.0.0.1:5000")], vec![gone])),
            ("base-images".to_string(), record(&[("XTASK_BASE_IMAGE", "local/python:3.11-bookworm")], vec![])),
        ]
        .into(),
    };
    let (live, stale) = live(&state);
    assert_eq!(live.keys().copied().collect::<Vec<_>>(), ["base-images", "kube"]);
    assert_eq!(stale, [format!("registry (registry pid {} is gone)", me().pid)]);
    // The caller's own setting wins.
    let vars = missing_vars(&live, &|k| k == "XTASK_KUBECTL");
    assert_eq!(
        vars,
        [
            ("XTASK_BASE_IMAGE".to_string(), "local/python:3.11-bookworm".to_string()),
            ("XTASK_TEST_KUBECONFIG".into(), "/k".into())
        ]
    );
    assert_eq!(fingerprint(&live), "base-images=id;kube=id");
}

#[test]
fn the_file_round_trips_and_a_foreign_one_reads_as_none() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(load(dir.path()), None);
    let state = State { format: 1, services: [("kube".to_string(), record(&[("A", "b")], vec![me()]))].into() };
    save(dir.path(), &state).unwrap();
    assert_eq!(load(dir.path()), Some(state));
    std::fs::write(dir.path().join(FILE), "{\"format\": 9, \"services\": {}}").unwrap();
    assert_eq!(load(dir.path()), None);
    std::fs::write(dir.path().join(FILE), "not json").unwrap();
    assert_eq!(load(dir.path()), None);
}
