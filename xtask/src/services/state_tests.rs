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
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("machine/services.json");
    assert_eq!(load_at(&file), None);
    let state = State { format: 1, services: [("kube".to_string(), record(&[("A", "b")], vec![me()]))].into() };
    let at = Located { path: file.clone(), why: Why::Machine };
    save_at(&at, &state).unwrap();
    assert_eq!(load_at(&file), Some(state));
    // Readable by every user, writable by its owner only: the file and its folder.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&file), mode(file.parent().unwrap())), (0o644, 0o755));
    assert_eq!(location::fact(super::super::euid(), &file), location::Fact::Trusted);
    std::fs::write(&file, "{\"format\": 9, \"services\": {}}").unwrap();
    assert_eq!(load_at(&file), None);
    std::fs::write(&file, "not json").unwrap();
    assert_eq!(load_at(&file), None);
}

#[test]
fn a_variable_is_said_to_come_from_the_record_only_when_the_record_filled_it_in() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    };
    let from_record = env(&[
        ("KUBECONFIG", "/var/lib/xtask-kube/kubeconfig"),
        ("XTASK_REGISTRY", "r:5000/x"),
        (GAVE, "KUBECONFIG,XTASK_TEST_REGISTRY"),
        (USED, "/var/lib/xtask/services.json"),
    ]);
    assert_eq!(
        origin("KUBECONFIG", &from_record).unwrap(),
        "KUBECONFIG from the services record /var/lib/xtask/services.json: set KUBECONFIG or pass its flag to use another"
    );
    // XTASK_TEST_REGISTRY is no prefix of XTASK_REGISTRY: the caller set it.
    assert_eq!(origin("XTASK_REGISTRY", &from_record).unwrap(), "XTASK_REGISTRY from the environment");
    assert_eq!(origin("KUBECONFIG_B64", &from_record), None);
    let own = env(&[("KUBECONFIG", "/home/ann/.kube/prod")]);
    assert_eq!(origin("KUBECONFIG", &own).unwrap(), "KUBECONFIG from the environment");
}
