use super::*;

const WEB: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
---
# the server
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: ghcr.io/o/web:latest
      containers:
        - name: web
          image: ghcr.io/o/web:latest
";

const OVERLAY: &str = "kind: Kustomization
resources:
  - ../../base
images:
  - name: ghcr.io/o/web
    newName: reg/web # pinned
    newTag: abc
";

fn sources() -> Sources {
    let files = [
        ("components/web/k8s/web.yaml".to_string(), WEB.to_string()),
        ("deploy/overlays/staging/kustomization.yaml".to_string(), OVERLAY.to_string()),
        ("deploy/overlays/staging/patch.yaml".to_string(), "kind: Deployment\nmetadata:\n  name: web\n".to_string()),
    ];
    Sources::new(&files, "staging")
}

/// The rendered objects: the Deployment with the overlay's image.
fn rendered() -> Vec<Object> {
    let text = WEB
        .replace("ghcr.io/o/web:latest", "reg/web:abc")
        .replace("metadata:\n  name: web", "metadata:\n  name: web\n  namespace: s");
    yaml::objects(&text).unwrap()
}

fn at(f: &Finding) -> String {
    format!("{}:{}", f.file, f.line.map_or("-".into(), |l| l.to_string()))
}

#[test]
fn findings_point_at_the_container_the_object_or_the_overlay_entry() {
    let s = sources();
    let objs = rendered();
    assert_eq!(
        s.locate(Some(&objs[1]), "Deployment", "web", Some("web"), None),
        ("components/web/k8s/web.yaml".into(), Some(18))
    );
    assert_eq!(s.locate(Some(&objs[1]), "Deployment", "web", Some("migrate"), None).1, Some(15));
    assert_eq!(s.locate(Some(&objs[1]), "deployment", "web", None, None).1, Some(8));
    assert_eq!(s.locate(None, "Service", "web", None, None).1, Some(2));
    // An image the overlay pins is fixed at its entry there.
    let entry = s.locate(None, "Deployment", "web", Some("web"), Some("reg/web:abc"));
    assert_eq!(entry, ("deploy/overlays/staging/kustomization.yaml".into(), Some(5)));
    // An object no source defines is found in the rendered file.
    let extra = yaml::objects("kind: ConfigMap\nmetadata: {name: x}\n").unwrap();
    assert_eq!(
        s.locate(Some(&extra[0]), "ConfigMap", "x", None, None),
        ("target/xtask/manifests/staging.yaml".into(), Some(1))
    );
}

#[test]
fn rules_findings_carry_the_rule_and_where_to_fix_it() {
    let s = sources();
    let undeployed = [Deployed { component: "db".into(), resource: "../../components/db/k8s".into() }];
    let found = rules(&s, "staging", &rendered(), &undeployed, "kind: K\nresources:\n  - data.yaml\n");
    assert_eq!(at(&found[0]), "deploy/base/kustomization.yaml:2");
    assert_eq!(found[0].code, "deployed");
    assert_eq!(
        found[0].message,
        "components/db/k8s is not listed in deploy/base/kustomization.yaml, so no environment deploys db: `cargo xtask manifests update staging` adds it"
    );
    let digest = found.iter().find(|f| f.code == "image-digest").unwrap();
    assert_eq!(at(digest), "deploy/overlays/staging/kustomization.yaml:5");
    let probes = found.iter().find(|f| f.code == "probes").unwrap();
    assert_eq!(at(probes), "components/web/k8s/web.yaml:18");
    assert!(found.iter().all(|f| f.tool == "xtask"));
    // What the rules command prints, read back.
    let json = serde_json::to_string_pretty(&found).unwrap();
    assert_eq!(read_rules(&json).unwrap(), found);
    // A note on stderr before it (the task's log holds both) is no part of it.
    assert_eq!(read_rules(&format!("note: a [bracketed] note\n{json}\n")).unwrap(), found);
}

#[test]
fn kubernetes_validate_errors_become_findings_at_the_container() {
    let out = "INFO target/xtask/manifests/staging.yaml passed for resource service/web against version 1.34
ERROR target/xtask/manifests/staging.yaml did not validate for resource deployment/web against version 1.34: spec.template.spec.containers.0: Additional properties are not allowed ('bogus' was unexpected)
WARN target/xtask/manifests/staging.yaml Couldn't find schema for kind Widget with api version example.com/v1 for kubernetes version 1.34
";
    let found = kubernetes_validate(out, &sources(), &rendered());
    assert_eq!(found.len(), 2);
    assert_eq!(at(&found[0]), "components/web/k8s/web.yaml:18");
    assert_eq!(found[0].message, "Deployment/web: spec.template.spec.containers.0: Additional properties are not allowed ('bogus' was unexpected)");
    assert_eq!((found[0].code.as_str(), found[0].severity), ("schema", Severity::High));
    assert_eq!(found[1].code, "no-schema");
    assert_eq!(found[1].severity, Severity::Low);
    assert!(kubernetes_validate("FATAL kubernetes-validate does not support 9.9\n", &sources(), &rendered()).is_empty());
}

#[test]
fn dry_run_errors_name_their_object() {
    let out = "service/web serverside-applied (server dry run)
Error from server (Invalid): Service \"web\" is invalid: spec.clusterIP: Invalid value: \"x\": must be a valid IP address
Error from server (BadRequest): deployments.apps \"web\" is invalid: spec.template.spec.initContainers[0].image: Required value
The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?
The Service \"web\" is invalid: spec.clusterIPs[0]: Invalid value: \"not-an-ip\": must be a valid IP address
Error from server: failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.bogus: field not declared in schema
";
    let found = dry_run(out, &sources(), &rendered());
    assert_eq!(found.len(), 4, "{found:?}");
    assert_eq!((found[2].code.as_str(), at(&found[2])), ("Invalid", "components/web/k8s/web.yaml:2".into()));
    assert_eq!(
        found[2].message,
        "Service \"web\" is invalid: spec.clusterIPs[0]: Invalid value: \"not-an-ip\": must be a valid IP address"
    );
    assert_eq!((found[3].code.as_str(), at(&found[3])), ("dry-run", "components/web/k8s/web.yaml:8".into()));
    assert_eq!((found[0].code.as_str(), at(&found[0])), ("Invalid", "components/web/k8s/web.yaml:2".into()));
    assert_eq!(
        found[0].message,
        "Service \"web\" is invalid: spec.clusterIP: Invalid value: \"x\": must be a valid IP address"
    );
    assert_eq!(at(&found[1]), "components/web/k8s/web.yaml:15");
    assert!(dry_run(
        "Unable to connect to the server: dial tcp 127.0.0.1:1: connect: connection refused\n",
        &sources(),
        &rendered()
    )
    .is_empty());
}

#[test]
fn containers_are_found_from_a_json_path() {
    let objs = rendered();
    assert_eq!(container_at(&objs[1], "spec.template.spec.containers.0.image").as_deref(), Some("web"));
    assert_eq!(container_at(&objs[1], "spec.template.spec.initContainers.0").as_deref(), Some("migrate"));
    assert_eq!(container_at(&objs[1], "spec.replicas"), None);
}
