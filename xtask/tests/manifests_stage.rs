//! The manifests stage against a fixture monorepo: two components with
//! manifests (a Deployment and a CronJob), one without, a base and two
//! overlays, and an images report like the image stage writes.

use crate::support;

use support::git;

use std::path::Path;
use std::process::Command;
use support::{Repo, Run};

const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app.kubernetes.io/name: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/name: web}
  template:
    metadata:
      labels: {app.kubernetes.io/name: web}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 10001}
      containers:
        - name: web
          image: ghcr.io/o/web:latest
          ports: [{containerPort: 8080}]
          readinessProbe: {httpGet: {path: /healthz, port: 8080}}
          livenessProbe: {httpGet: {path: /healthz, port: 8080}}
          resources:
            requests: {cpu: 10m, memory: 32Mi}
            limits: {cpu: 100m, memory: 64Mi}
          securityContext: {allowPrivilegeEscalation: false}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app.kubernetes.io/name: web}
  ports: [{port: 80, targetPort: 8080}]
";

const JOB: &str = "apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  schedule: \"0 2 * * *\"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          securityContext: {runAsNonRoot: true, runAsUser: 10001}
          containers:
            - name: run
              image: ghcr.io/o/job:latest
              resources:
                requests: {cpu: 10m, memory: 32Mi}
                limits: {cpu: 100m, memory: 64Mi}
              securityContext: {allowPrivilegeEscalation: false}
";

fn overlay(env: &str) -> String {
    format!(
        "# {env}, for the tests: keep this comment.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: fx-{env}
resources:
  - ../../base
labels:
  - pairs:
      mlops.dev/environment: {env}
      app.kubernetes.io/managed-by: xtask
    includeTemplates: true
"
    )
}

/// The fixture, committed; returns it and its HEAD.
fn fixture() -> (Repo, String) {
    let repo = Repo::new();
    for (name, file, text) in [("web", "deployment.yaml", WEB), ("job", "cronjob.yaml", JOB)] {
        repo.component(name, &[], &[]);
        repo.write(&format!("components/{name}/Dockerfile"), "FROM scratch\n");
        repo.write(&format!("components/{name}/k8s/{file}"), text);
        repo.write(&format!("components/{name}/k8s/kustomization.yaml"), &format!("resources:\n  - {file}\n"));
    }
    repo.component("lib", &[], &[]);
    repo.write(
        "deploy/base/kustomization.yaml",
        "resources:\n  - ../../components/job/k8s\n  - ../../components/web/k8s\n",
    );
    for env in ["development", "staging"] {
        repo.write(&format!("deploy/overlays/{env}/kustomization.yaml"), &overlay(env));
    }
    git(repo.root(), &["init", "-q"]);
    git(repo.root(), &["add", "-A"]);
    git(repo.root(), &["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "fixture"]);
    let head = git(repo.root(), &["rev-parse", "HEAD"]).trim().to_string();
    (repo, head)
}

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

/// An images report as `image build --push` writes it, for `components`.
fn report(repo: &Repo, revision: &str, components: &[(&str, char)]) {
    let entries: serde_json::Map<String, serde_json::Value> = components
        .iter()
        .map(|(c, d)| {
            let entry = serde_json::json!({
                "repositories": [format!("reg.test/fx/{c}")], "tags": [revision, &revision[..7]],
                "version": null, "commit": revision, "ref": "refs/heads/main", "dirty": false, "image_id": "sha256:id",
                "pushed": [{"repository": format!("reg.test/fx/{c}"), "tag": revision, "digest": digest(*d)},
                           {"repository": format!("reg.test/fx/{c}"), "tag": &revision[..7], "digest": digest(*d)}],
            });
            (c.to_string(), entry)
        })
        .collect();
    repo.write("target/xtask/images.json", &serde_json::json!({ "format": 1, "components": entries }).to_string());
}

/// Run the xtask with no cluster configured, whatever the caller's environment.
fn offline(repo: &Repo, args: &[&str]) -> Run {
    let mut cmd = repo.command(args);
    cmd.env_remove("KUBECONFIG");
    support::run(cmd)
}

const STAGING: &str = "deploy/overlays/staging/kustomization.yaml";
/// Where `manifests update staging` pins: this workspace, not the tree.
const PINNED: &str = "target/xtask/overlays/staging/kustomization.yaml";

#[test]
fn update_pins_every_image_by_tag_and_digest_once_in_the_workspace() {
    let (repo, head) = fixture();
    report(&repo, &head, &[("web", 'a'), ("job", 'b')]);
    let run = offline(&repo, &["manifests", "update", "staging"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains(&format!("updated {PINNED}")), "{}", run.stdout);
    assert_eq!(repo.read(STAGING), overlay("staging"), "the committed overlay stays as it is");
    assert_eq!(git(repo.root(), &["status", "--porcelain", "--untracked-files=no"]), "", "a run leaves the tree clean");
    let pinned = repo.read(PINNED);
    let web = format!(
        "  - name: ghcr.io/o/web\n    newName: reg.test/fx/web\n    newTag: {head}\n    digest: {}\n",
        digest('a')
    );
    assert!(pinned.contains("resources:\n  - ../../../../deploy/overlays/staging\n"), "{pinned}");
    assert!(pinned.contains(&web), "{pinned}");
    assert!(pinned.contains(&format!("newName: reg.test/fx/job\n    newTag: {head}\n    digest: {}", digest('b'))));
    assert!(!pinned.contains("lib"), "a component without manifests is not pinned");

    // Idempotent: nothing to do the second time, and --check agrees.
    let run = offline(&repo, &["manifests", "update", "staging"]);
    assert_eq!((run.code, run.stdout.contains(&format!("{PINNED} is up to date"))), (0, true));
    assert_eq!(repo.read(PINNED), pinned);
    assert_eq!(offline(&repo, &["manifests", "update", "staging", "--check"]).code, 0);

    // A new push: --check shows what would change and changes nothing.
    report(&repo, &head, &[("web", 'c'), ("job", 'b')]);
    let run = offline(&repo, &["manifests", "update", "staging", "--check"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains(&format!("{PINNED} is out of date:")), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("-    digest: {}\n+    digest: {}\n", digest('a'), digest('c'))));
    assert!(run.stdout.contains("run `cargo xtask manifests update staging` to bring it up to date"));
    assert_eq!(repo.read(PINNED), pinned);
}

#[test]
fn commit_puts_the_pins_on_a_branch_of_their_own_and_leaves_the_checkout_alone() {
    let (repo, head) = fixture();
    report(&repo, &head, &[("web", 'a'), ("job", 'b')]);
    let run = offline(&repo, &["manifests", "update", "staging", "--commit"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let branch = format!("xtask/pins/staging-{}", &head[..12]);
    assert!(
        run.stdout.contains(&format!("on branch {branch} (not pushed): `git push origin {branch}`")),
        "{}",
        run.stdout
    );
    assert_eq!(git(repo.root(), &["rev-parse", "HEAD"]).trim(), head, "HEAD stays");
    assert_eq!(git(repo.root(), &["status", "--porcelain", "--untracked-files=no"]), "", "nothing staged or changed");
    assert_eq!(git(repo.root(), &["rev-parse", &format!("{branch}^")]).trim(), head, "one commit over HEAD");
    let changed = git(repo.root(), &["diff", "--name-only", &head, &branch]);
    assert_eq!(changed, format!("{STAGING}\n"));
    let committed = git(repo.root(), &["show", &format!("{branch}:{STAGING}")]);
    assert!(committed.starts_with(&overlay("staging")), "comments and order kept: {committed}");
    assert!(committed.contains(&format!("newName: reg.test/fx/web\n    newTag: {head}\n    digest: {}", digest('a'))));
    // The workspace has the same pins, so this checkout deploys what was committed.
    assert!(repo.read(PINNED).contains(&format!("digest: {}", digest('a'))));
    // A branch whose committed overlay renames the images: the workspace pins match the new names.
    git(repo.root(), &["checkout", "-q", &branch]);
    report(&repo, git(repo.root(), &["rev-parse", "HEAD"]).trim(), &[("web", 'c'), ("job", 'd')]);
    assert_eq!(offline(&repo, &["manifests", "update", "staging"]).code, 0);
    assert!(repo.read(PINNED).contains("  - name: reg.test/fx/web\n"), "{}", repo.read(PINNED));
    let run = offline(&repo, &["manifests", "render", "staging"]);
    assert!(run.stdout.contains(&format!("@{}", digest('c'))), "{}", run.stdout);
}

#[test]
fn the_committed_overlay_is_checked_as_a_template_until_the_workspace_pins_it() {
    let (repo, _) = fixture();
    let run = offline(&repo, &["manifests", "rules", "staging"]);
    assert_eq!((run.code, run.last_line()), (0, "0 finding(s) in staging"), "{}", run.stdout);
    assert!(run.stdout.contains("note: staging is checked as committed: ghcr.io/o/job, ghcr.io/o/web are pinned by `cargo xtask manifests update staging` before a deploy"), "{}", run.stdout);
    // A third-party image is no placeholder: it must be pinned in git.
    let sidecar = "        - name: proxy\n          image: docker.io/library/nginx:1.27\n---\n";
    repo.write("components/web/k8s/deployment.yaml", &WEB.replacen("---\n", sidecar, 1));
    let run = offline(&repo, &["manifests", "rules", "staging"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("image docker.io/library/nginx:1.27 is not pinned by digest in staging"),
        "{}",
        run.stdout
    );
    repo.write("components/web/k8s/deployment.yaml", WEB);
    // Pinned in the workspace by tag only: a deploy would refuse it, and so do the rules.
    assert_eq!(offline(&repo, &["manifests", "update", "staging", "--tag", "1.2.3"]).code, 0);
    let run = offline(&repo, &["manifests", "rules", "staging"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains(&format!("{PINNED}:")) && run.stdout.contains("image-digest"), "{}", run.stdout);
}

#[test]
fn a_component_missing_from_the_report_is_named_unless_partial() {
    let (repo, head) = fixture();
    report(&repo, &head, &[("web", 'a')]);
    let run = offline(&repo, &["manifests", "update", "staging"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr.trim(),
        "error: target/xtask/images.json has no image of job: build and push it (cargo xtask image build --push), or pass --partial to leave it as it is"
    );
    let run = offline(&repo, &["manifests", "update", "staging", "--partial"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("job: not in the images report, left as it is (--partial)"));
    let pinned = repo.read(PINNED);
    assert!(pinned.contains("reg.test/fx/web") && !pinned.contains("ghcr.io/o/job"), "{pinned}");
}

#[test]
fn a_missing_malformed_or_foreign_report_is_one_line_naming_the_fix() {
    let (repo, head) = fixture();
    let one_line = |run: &Run, needle: &str| {
        assert_eq!(run.code, 2);
        assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
        assert!(run.stderr.contains(needle), "{}", run.stderr);
        assert!(run.stderr.contains("(cargo xtask image build --push)"), "{}", run.stderr);
    };
    one_line(
        &offline(&repo, &["manifests", "update", "staging"]),
        "cannot read the images report target/xtask/images.json",
    );
    repo.write("target/xtask/images.json", "{\"format\": 1, \"components\": {\"web\": {}}}");
    one_line(
        &offline(&repo, &["manifests", "update", "staging"]),
        "the images report target/xtask/images.json is malformed (missing field `commit`",
    );
    report(&repo, "0123456789abcdef0123456789abcdef01234567", &[("web", 'a'), ("job", 'b')]);
    let expected = format!("is from commit 0123456789ab, but HEAD is {}", &head[..12]);
    one_line(&offline(&repo, &["manifests", "update", "staging"]), &expected);
    // Another report file can be named.
    report(&repo, &head, &[("web", 'a'), ("job", 'b')]);
    std::fs::rename(repo.path("target/xtask/images.json"), repo.path("elsewhere.json")).unwrap();
    assert_eq!(offline(&repo, &["manifests", "update", "staging", "--images", "elsewhere.json"]).code, 0);
}

#[test]
fn a_tag_pins_every_image_without_a_digest() {
    let (repo, head) = fixture();
    report(&repo, &head, &[("web", 'a'), ("job", 'b')]);
    assert_eq!(offline(&repo, &["manifests", "update", "staging"]).code, 0);
    let run = offline(&repo, &["manifests", "update", "staging", "--tag", "1.2.3"]);
    assert_eq!(run.code, 0);
    let pinned = repo.read(PINNED);
    assert!(pinned.ends_with("  - name: ghcr.io/o/web\n    newTag: \"1.2.3\"\n"), "{pinned}");
    assert!(!pinned.contains("digest:"), "{pinned}");
}

#[test]
fn unknown_environments_list_the_known_ones() {
    let (repo, _) = fixture();
    for args in [&["update", "prod"][..], &["render", "prod"], &["validate", "prod"], &["rules", "prod"]] {
        let args: Vec<&str> = std::iter::once("manifests").chain(args.iter().copied()).collect();
        let run = offline(&repo, &args);
        assert_eq!(run.code, 2, "{args:?}");
        assert_eq!(
            run.stderr.trim(),
            "error: unknown environment `prod`: known environments are development, staging (folders under deploy/overlays)"
        );
    }
}

#[test]
fn an_overlay_that_does_not_parse_or_render_says_where_and_why() {
    let (repo, head) = fixture();
    report(&repo, &head, &[("web", 'a'), ("job", 'b')]);
    repo.write(
        STAGING,
        &overlay("staging").replace("namespace: fx-staging\n", "namespace: fx-staging\nnamespace: again\n"),
    );
    let run = offline(&repo, &["manifests", "update", "staging"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.starts_with(&format!("error: {STAGING} line 5: duplicate mapping key")), "{}", run.stderr);
    assert!(run.stderr.trim_end().ends_with("(fix the file)"), "{}", run.stderr);

    // kustomize's own message, not a backtrace.
    repo.write(STAGING, &format!("{}patches:\n  - path: missing.yaml\n", overlay("staging")));
    let run = offline(&repo, &["manifests", "render", "staging"]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.starts_with("error: kustomize cannot render deploy/overlays/staging: "), "{}", run.stderr);
    assert!(run.stderr.contains("missing.yaml"), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked") && !run.stderr.contains("run.go"), "{}", run.stderr);
    assert!(!repo.path("target/xtask/manifests/staging.yaml").exists());
    let run = offline(&repo, &["manifests", "validate", "staging"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.starts_with("error: kustomize cannot render deploy/overlays/staging: "), "{}", run.stderr);
}

#[test]
fn render_writes_the_objects_an_environment_deploys_labelled_and_pinned() {
    let (repo, head) = fixture();
    report(&repo, &head, &[("web", 'a'), ("job", 'b')]);
    assert_eq!(offline(&repo, &["manifests", "update", "staging"]).code, 0);
    let run = offline(&repo, &["manifests", "render", "staging"]);
    assert_eq!(run.code, 0);
    let image = format!("reg.test/fx/web:{head}@{}", digest('a'));
    assert!(run.stdout.contains(&format!("  Deployment/web (fx-staging)\n      {image}\n")), "{}", run.stdout);
    assert!(
        run.stdout.starts_with("target/xtask/manifests/staging.yaml: 3 objects (from target/xtask/overlays/staging)"),
        "{}",
        run.stdout
    );
    let rendered = repo.read("target/xtask/manifests/staging.yaml");
    assert_eq!(rendered.matches("mlops.dev/environment: staging").count(), 6, "objects and pod templates: {rendered}");
    assert_eq!(rendered.matches("app.kubernetes.io/managed-by: xtask").count(), 6);
    assert!(rendered.contains(&format!("image: {image}")));
}

#[test]
fn a_component_whose_manifests_are_not_deployed_fails_the_rules_until_update_lists_it() {
    let (repo, _) = fixture();
    repo.component("extra", &[], &[]);
    repo.write("components/extra/Dockerfile", "FROM scratch\n");
    repo.write("components/extra/k8s/kustomization.yaml", "resources:\n  - deployment.yaml\n");
    repo.write("components/extra/k8s/deployment.yaml", &WEB.replace("web", "extra"));
    let run = offline(&repo, &["manifests", "render", "development"]);
    assert_eq!(run.code, 0);
    assert!(run.stderr.contains("warning: deploy/base/kustomization.yaml does not list ../../components/extra/k8s, so development does not deploy extra"), "{}", run.stderr);
    let run = offline(&repo, &["manifests", "rules", "development"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("deploy/base/kustomization.yaml:1: deployed components/extra/k8s is not listed"),
        "{}",
        run.stdout
    );
    assert_eq!(offline(&repo, &["manifests", "update", "development", "--tag", "dev"]).code, 0);
    assert!(repo
        .read("deploy/base/kustomization.yaml")
        .ends_with("  - ../../components/web/k8s\n  - ../../components/extra/k8s\n"));
    let run = offline(&repo, &["manifests", "rules", "development"]);
    assert_eq!((run.code, run.last_line()), (0, "0 finding(s) in development"));
}

/// The fixture pinned for staging, rendered and validated offline.
fn validate(repo: &Repo) -> Run {
    offline(repo, &["manifests", "validate", "staging"])
}

#[test]
fn validate_passes_then_fails_on_a_removed_digest_probe_limit_or_unknown_field() {
    let (repo, head) = fixture();
    report(&repo, &head, &[("web", 'a'), ("job", 'b')]);
    assert_eq!(offline(&repo, &["manifests", "update", "staging"]).code, 0);
    let run = validate(&repo);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("no cluster configured (--kubeconfig or KUBECONFIG)"), "{}", run.stdout);
    assert_eq!(run.last_line(), "2 passed, 0 failed, 0 skipped");

    let pinned = repo.read(PINNED);
    let finding = |run: &Run, needle: &str| {
        assert_eq!(run.code, 1);
        assert!(run.stdout.lines().any(|l| l.trim_start().starts_with(needle)), "no `{needle}` in {}", run.stdout);
    };
    repo.write(PINNED, &pinned.replace(&format!("    digest: {}\n", digest('a')), ""));
    finding(&validate(&repo), &format!("{PINNED}:15: xtask image-digest [Medium] Deployment/web container web: image reg.test/fx/web:{head} is not pinned by digest in staging"));
    repo.write(PINNED, &pinned);

    let file = "components/web/k8s/deployment.yaml";
    repo.write(file, &WEB.replace("          livenessProbe: {httpGet: {path: /healthz, port: 8080}}\n", ""));
    finding(
        &validate(&repo),
        &format!("{file}:16: xtask probes [Medium] Deployment/web container web has no livenessProbe"),
    );
    repo.write(file, &WEB.replace("limits: {cpu: 100m, memory: 64Mi}", "limits: {cpu: 100m}"));
    finding(
        &validate(&repo),
        &format!("{file}:16: xtask resources [Medium] Deployment/web container web sets no resources limits.memory"),
    );
    repo.write(file, &WEB.replace("          ports:", "          bogus: 1\n          ports:"));
    finding(&validate(&repo), &format!("{file}:16: kubernetes-validate schema [High] Deployment/web: spec.template.spec.containers.0: Additional properties are not allowed ('bogus' was unexpected)"));
    let report: serde_json::Value = serde_json::from_str(&repo.read("target/xtask/report.json")).unwrap();
    assert_eq!(report["stage"], "manifests validate");

    // The plan, as commands.
    let run = offline(&repo, &["manifests", "validate", "staging", "--dry-run"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.contains("kustomize target/xtask/overlays/staging > target/xtask/manifests/staging.yaml"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("target/venvs/.kube-validate/bin/kubernetes-validate --strict --quiet -k 1.34 target/xtask/manifests/staging.yaml"));
    assert!(run.stdout.contains("manifests rules staging --rendered target/xtask/manifests/staging.yaml --json"));
}

#[test]
fn a_configured_cluster_that_does_not_answer_is_one_line_with_its_address_and_the_fix() {
    let (repo, _) = fixture();
    let config = "apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: 'https://127.0.0.1:9'}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: gone, user: u}}]
current-context: c
";
    repo.write("kubeconfig", config);
    let kubeconfig = repo.path("kubeconfig");
    let run = offline(&repo, &["manifests", "validate", "development", "--kubeconfig", kubeconfig.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr.trim(),
        format!("error: the cluster at https://127.0.0.1:9 (--kubeconfig {}) is unreachable: start it (cargo xtask services up kube) or point --kubeconfig/KUBECONFIG at a running one", kubeconfig.display())
    );
    // KUBECONFIG configures it too.
    let mut cmd = repo.command(&["manifests", "validate", "development"]);
    cmd.env("KUBECONFIG", &kubeconfig);
    let run = support::run(cmd);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("the cluster at https://127.0.0.1:9 (KUBECONFIG="), "{}", run.stderr);
    let missing = offline(&repo, &["manifests", "validate", "--kubeconfig", "nowhere"]);
    assert_eq!(
        (missing.code, missing.stderr.trim()),
        (2, "error: --kubeconfig nowhere does not exist: pass the cluster's kubeconfig file")
    );
    // A file that is not YAML says so, and where, rather than "names no cluster".
    repo.write("garbled", "apiVersion: v1\nclusters: [\n  - this: is: not yaml\n");
    let garbled = repo.path("garbled");
    let run = offline(&repo, &["manifests", "validate", "development", "--kubeconfig", garbled.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("cannot be parsed (yaml: line "), "{}", run.stderr);
}

#[test]
fn quality_plans_the_manifests_checks_of_every_environment() {
    let (repo, _) = fixture();
    let run = offline(&repo, &["quality", "--dry-run"]);
    assert_eq!(run.code, 0);
    for env in ["development", "staging"] {
        assert!(
            run.stdout
                .contains(&format!("kubernetes-validate --strict --quiet -k 1.34 target/xtask/manifests/{env}.yaml")),
            "{}",
            run.stdout
        );
        assert!(run.stdout.contains(&format!("manifests rules {env} --rendered")));
    }
    // Naming components checks those components only.
    let run = offline(&repo, &["quality", "web", "--dry-run"]);
    assert!(!run.stdout.contains("manifests"), "{}", run.stdout);
}

#[test]
fn tidy_every_components_manifests_are_deployed() {
    // The real monorepo: deploy/base lists every component's manifests folder.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(["--root", root.to_str().unwrap(), "manifests", "rules", "development", "--json"]);
    let run = support::run(cmd);
    let found: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    let undeployed: Vec<&serde_json::Value> = found.iter().filter(|f| f["code"] == "deployed").collect();
    assert!(undeployed.is_empty(), "run `cargo xtask manifests update development`: {undeployed:#?}");
}
