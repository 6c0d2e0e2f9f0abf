use super::*;
use crate::manifests::yaml::objects;

const PINNED: &str = "reg:5000/mlops/web:1.2.3@sha256:aaaa";

/// A Deployment that follows every rule, in `env`, running `image`.
fn deployment(env: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {{mlops.dev/environment: {env}, app.kubernetes.io/managed-by: xtask}}
spec:
  template:
    spec:
      securityContext: {{runAsNonRoot: true, runAsUser: 10001}}
      initContainers:
        - name: init
          image: {image}
          resources: {{requests: {{cpu: 10m, memory: 1Mi}}, limits: {{cpu: 10m, memory: 1Mi}}}}
          securityContext: {{allowPrivilegeEscalation: false}}
      containers:
        - name: web
          image: {image}
          readinessProbe: {{httpGet: {{path: /, port: 80}}}}
          livenessProbe: {{httpGet: {{path: /, port: 80}}}}
          resources: {{requests: {{cpu: 10m, memory: 1Mi}}, limits: {{cpu: 10m, memory: 1Mi}}}}
          securityContext: {{allowPrivilegeEscalation: false}}
"
    )
}

fn rules(env: &str, yaml: &str) -> Vec<(&'static str, Option<String>, String)> {
    check(env, &objects(yaml).unwrap()).into_iter().map(|v| (v.rule, v.container, v.message)).collect()
}

fn names(env: &str, yaml: &str) -> Vec<&'static str> {
    rules(env, yaml).into_iter().map(|r| r.0).collect()
}

#[test]
fn a_workload_that_follows_every_rule_passes_in_every_environment() {
    for env in ["development", "staging", "production"] {
        assert_eq!(rules(env, &deployment(env, PINNED)), []);
    }
}

#[test]
fn images_must_be_pinned_by_digest_and_not_latest_outside_development() {
    let tagged = deployment("staging", "reg/web:1.2.3");
    let found = rules("staging", &tagged);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].0, "image-digest");
    assert_eq!(found[0].1.as_deref(), Some("init"));
    assert_eq!(
        found[1].2,
        "Deployment/web container web: image reg/web:1.2.3 is not pinned by digest in staging (cargo xtask manifests update staging)"
    );
    assert_eq!(
        names("production", &deployment("production", "reg/web:latest")),
        ["image-digest", "image-latest"].repeat(2)
    );
    assert_eq!(names("production", &deployment("production", "reg/web")), ["image-digest", "image-latest"].repeat(2));
    assert_eq!(names("production", &deployment("production", "reg/web:latest@sha256:aa")), ["image-latest"; 2]);
    assert_eq!(names("production", &deployment("production", "reg/web@sha256:aa")), [] as [&str; 0]);
    // Development may run whatever was built last.
    assert_eq!(names("development", &deployment("development", "reg/web:latest")), [] as [&str; 0]);
    // So may a pull request's preview, which is development's overlay; a name only like one may not.
    assert_eq!(names("pr-12", &deployment("pr-12", "reg/web:abc")), [] as [&str; 0]);
    assert_eq!(names("pr-x", &deployment("pr-x", "reg/web:abc")), ["image-digest"; 2]);
}

#[test]
fn serving_containers_need_both_probes_jobs_do_not() {
    let yaml = deployment("staging", PINNED).replace("          livenessProbe: {httpGet: {path: /, port: 80}}\n", "");
    let found = rules("staging", &yaml);
    assert_eq!(found, [("probes", Some("web".into()), "Deployment/web container web has no livenessProbe".into())]);
    let both = yaml.replace("          readinessProbe: {httpGet: {path: /, port: 80}}\n", "");
    assert_eq!(rules("staging", &both)[0].2, "Deployment/web container web has no readinessProbe and no livenessProbe");

    let job = "kind: CronJob
metadata:
  name: nightly
  labels: {mlops.dev/environment: staging, app.kubernetes.io/managed-by: xtask}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          securityContext: {runAsNonRoot: true}
          containers:
            - name: run
              image: reg/job:1@sha256:bb
              securityContext: {allowPrivilegeEscalation: false}
";
    // No probes asked of a job, but its resources are.
    let found = rules("staging", job);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].2,
        "CronJob/nightly container run sets no resources requests.cpu, requests.memory, limits.cpu, limits.memory"
    );
}

#[test]
fn every_container_requests_and_limits_cpu_and_memory() {
    let yaml = deployment("staging", PINNED).replacen(", limits: {cpu: 10m, memory: 1Mi}", ", limits: {cpu: 10m}", 1);
    let found = rules("staging", &yaml);
    assert_eq!(
        found,
        [("resources", Some("init".into()), "Deployment/web container init sets no resources limits.memory".into())]
    );
}

#[test]
fn containers_run_as_non_root_without_privileges() {
    let as_root = deployment("staging", PINNED).replace("runAsNonRoot: true, runAsUser: 10001", "runAsUser: 0");
    let found = rules("staging", &as_root);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[1].2, "Deployment/web container web: runAsNonRoot is not true; runAsUser is 0 (root)");
    // The container's own setting wins over the pod's.
    let own = deployment("staging", PINNED).replace(
        "securityContext: {allowPrivilegeEscalation: false}\n      containers",
        "securityContext: {allowPrivilegeEscalation: false, runAsNonRoot: false}\n      containers",
    );
    assert_eq!(
        rules("staging", &own),
        [("non-root", Some("init".into()), "Deployment/web container init: runAsNonRoot is not true".into())]
    );
    let escalates = deployment("staging", PINNED).replace("allowPrivilegeEscalation: false", "privileged: true");
    let found = rules("staging", &escalates);
    assert_eq!(found[0].2, "Deployment/web container init: it is privileged; allowPrivilegeEscalation is not false");
}

#[test]
fn every_object_is_labelled_with_its_environment_and_manager() {
    let found = rules("staging", &deployment("development", PINNED));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "labels");
    assert_eq!(
        found[0].2,
        "Deployment/web is not labelled mlops.dev/environment: staging (the overlay's labels add them)"
    );
    let bare = "kind: Service\nmetadata:\n  name: web\n";
    assert_eq!(
        rules("development", bare)[0].2,
        "Service/web is not labelled mlops.dev/environment: development, app.kubernetes.io/managed-by: xtask (the overlay's labels add them)"
    );
}

#[test]
fn image_references_split_into_name_tag_and_digest() {
    let r = |s| ImageRef::parse(s);
    assert_eq!(
        r("127.0.0.1:5000/mlops/web"),
        ImageRef { name: "127.0.0.1:5000/mlops/web".into(), tag: None, digest: None }
    );
    assert_eq!(r("127.0.0.1:5000/mlops/web:abc").tag.as_deref(), Some("abc"));
    assert_eq!(r("127.0.0.1:5000/mlops/web:abc").name, "127.0.0.1:5000/mlops/web");
    let full = r("ghcr.io/o/web:1.2@sha256:ff");
    assert_eq!(
        (full.name.as_str(), full.tag.as_deref(), full.digest.as_deref()),
        ("ghcr.io/o/web", Some("1.2"), Some("sha256:ff"))
    );
    assert_eq!(r("web@sha256:ff").tag, None);
}

#[test]
fn images_lists_init_containers_and_containers_of_any_workload() {
    let objs = objects(&deployment("staging", "a:1")).unwrap();
    assert_eq!(images(&objs[0]), ["a:1", "a:1"]);
    let svc = objects("kind: Service\nmetadata: {name: s}\n").unwrap();
    assert!(images(&svc[0]).is_empty());
}
