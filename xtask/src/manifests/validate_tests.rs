use super::*;
use std::path::Path;

fn ws() -> Workspace {
    Workspace { root: PathBuf::from("/repo"), components: Vec::new(), skipped: Vec::new() }
}

fn commands(v: &Validation) -> Vec<String> {
    v.tasks.iter().map(|t| format!("{} {}: {}", t.id, t.needs.join(","), t.command_line(Path::new("/repo")))).collect()
}

#[test]
fn each_environment_gets_schema_and_rules_and_a_dry_run_only_with_a_cluster() {
    let kubectl = Path::new("/usr/bin/kubectl");
    let v = plan(&ws(), &["staging".into()], Path::new("/repo/target/debug/xtask"), kubectl, None, "1.34");
    assert_eq!(
        commands(&v),
        [
            "manifests-schema:staging .kube-validate,render:staging: target/venvs/.kube-validate/bin/kubernetes-validate --strict --quiet -k 1.34 target/xtask/manifests/staging.yaml",
            "manifests-rules:staging render:staging: target/debug/xtask manifests rules staging --rendered target/xtask/manifests/staging.yaml --json",
        ]
    );
    assert_eq!(v.envs[0].install, ["kubernetes-validate", "-c", "tools/python-tools.txt"]);
    let cluster = Cluster { flag: Some("/k/config".into()), source: "--kubeconfig /k/config".into() };
    let v = plan(&ws(), &["dev".into()], Path::new("/x"), kubectl, Some(cluster), "1.34");
    assert_eq!(
        commands(&v)[2],
        "manifests-dry-run:dev render:dev,dry-run:dev: /usr/bin/kubectl --kubeconfig /k/config apply --server-side --dry-run=server --field-manager=xtask -f target/xtask/manifests/dev.dry-run.json"
    );
    assert!(v.tasks.iter().all(|t| t.component == "manifests/dev" && t.cwd == Path::new("/repo")));
}

#[test]
fn objects_of_a_missing_namespace_are_dry_run_in_a_stand_in() {
    let text = "kind: Namespace\nmetadata: {name: mlops-dev}\n---\nkind: Service\nmetadata: {name: a, namespace: mlops-dev}\n---\nkind: Service\nmetadata: {name: b, namespace: kept}\n---\nkind: ClusterRole\nmetadata: {name: c}\n";
    let objects = yaml::objects(text).unwrap();
    let (list, moved) = dry_run_list(&objects, &["default".into(), "kept".into()]);
    assert_eq!(moved, ["mlops-dev"]);
    assert_eq!(list["kind"], "List");
    let ns: Vec<&Value> = list["items"].as_array().unwrap().iter().map(|i| &i["metadata"]["namespace"]).collect();
    assert_eq!(ns, [&Value::Null, &json!("default"), &json!("kept"), &Value::Null]);
    let (_, moved) = dry_run_list(&objects, &["mlops-dev".into(), "kept".into()]);
    assert!(moved.is_empty());
}

#[test]
fn the_preparation_names_renders_and_dry_run_files_and_prints_their_commands() {
    let v = plan(&ws(), &["dev".into()], Path::new("/x"), Path::new("/usr/bin/kubectl"), None, "1.34");
    let prep = Prep { inner: None, validation: Some(&v) };
    assert_eq!(prep.label("render:dev"), "target/xtask/manifests/dev.yaml");
    assert_eq!(prep.label("dry-run:dev"), "target/xtask/manifests/dev.dry-run.json");
    assert_eq!(
        prep.commands("render:dev"),
        ["/usr/bin/kubectl kustomize deploy/overlays/dev > target/xtask/manifests/dev.yaml"]
    );
    assert!(!prep.is_fresh("render:dev").unwrap());
    // Anything else is the virtualenvs' business.
    assert_eq!(prep.label(".kube-validate"), ".kube-validate");
    assert!(prep.is_fresh(".kube-validate").is_err());
}

#[test]
fn the_preparer_passes_fingerprints_through_so_quality_tasks_are_cached() {
    let inner = crate::exec::tests::Stamped;
    let prep = Prep { inner: Some(&inner), validation: None };
    assert_eq!(prep.fingerprint(".tools").as_deref(), Some("stamp:.tools"));
    assert!(prep.check().is_ok());
}
