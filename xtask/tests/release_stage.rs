//! What a release manager hit, against fixture monorepos (and the real local
//! cluster, `bash .ci/kube-up`, where a test needs one): the history a
//! rollback leaves, the images a deploy runs against the images report, the
//! record of what was applied, refused credentials, and `undeploy`. The
//! tests that need the cluster are `#[ignore]`d (counted as skipped) unless
//! `cargo xtask test` runs them with a cluster configured, and always on CI;
//! the refusals that need no cluster always run.

use crate::support;

use std::process::Command;
use std::time::{Duration, Instant};
use support::deploy::{web, CONFIG};
use support::{cluster, git, Cluster, Repo, Run};

/// Two claims: one the cluster's default class provisions (reclaim policy
/// Delete), one that asks for no class and binds a pre-made volume (Retain).
const CLAIM: &str = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: web-data\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests: {storage: 1Gi}\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: web-kept\nspec:\n  storageClassName: \"\"\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests: {storage: 1Gi}\n";
const REGISTRY: &str = "127.0.0.1:5000/fx/web";
/// The image the manifests name (a release pins its own in their place).
const IMAGE: &str = "ghcr.io/fx/web:latest";

struct Fixture {
    repo: Repo,
    base: String,
    cluster: Option<Cluster>,
    /// Its images are real and signed ([`Fixture::built_signed`]): its
    /// commands verify them with the signing service's key.
    signed: std::cell::Cell<bool>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(c) = &self.cluster {
            for env in ["development", "staging", "production"] {
                let _ = c.kubectl(&["delete", "namespace", &self.namespace(env), "--wait=false"]);
            }
        }
    }
}

impl Fixture {
    /// One component `web` (its image built by us: a Dockerfile) with a
    /// ConfigMap (and a claim when asked), three overlays each deploying into
    /// a namespace of this test's own, committed on main; no images report yet.
    fn new(test: &str, cluster: Option<Cluster>, claim: bool) -> Fixture {
        let repo = Repo::new();
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() % 100_000;
        let f = Fixture { repo, base: format!("fx-{test}-{t}"), cluster, signed: false.into() };
        f.repo.component("web", &[], &[]);
        f.repo.write("components/web/Dockerfile", "FROM scratch\n");
        let claim_line = if claim { "  - data.yaml\n" } else { "" };
        f.repo.write(
            "components/web/k8s/kustomization.yaml",
            &format!("resources:\n  - deployment.yaml\n  - config.yaml\n{claim_line}"),
        );
        f.repo.write("components/web/k8s/config.yaml", CONFIG);
        f.repo.write("components/web/k8s/data.yaml", CLAIM);
        f.repo.write("components/web/k8s/deployment.yaml", &web(IMAGE, 1, None, None));
        f.repo.write("deploy/base/kustomization.yaml", "resources:\n  - ../../components/web/k8s\n");
        for env in ["development", "staging", "production"] {
            let ns = f.namespace(env);
            f.repo.write(
                &format!("deploy/overlays/{env}/kustomization.yaml"),
                &format!("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {ns}\nresources:\n  - ../../base\n  - namespace.yaml\nlabels:\n  - pairs:\n      mlops.dev/environment: {env}\n      app.kubernetes.io/managed-by: xtask\n    includeTemplates: true\n"),
            );
            f.repo.write(&format!("deploy/overlays/{env}/namespace.yaml"), &support::fixture_ns::namespace_yaml(&ns));
        }
        // Its images do not exist (kwok runs the pods): a development that deploys them unverified.
        f.repo.write("deploy/overlays/development/xtask.toml", "verify-images = false\n");
        f.repo.write(".gitignore", "target/\n");
        git(f.repo.root(), &["init", "-q", "-b", "main"]);
        f.commit("fixture");
        f
    }

    fn namespace(&self, env: &str) -> String {
        format!("{}-{}", self.base, &env[..3])
    }

    fn commit(&self, message: &str) -> String {
        git(self.repo.root(), &["add", "-A"]);
        git(self.repo.root(), &["commit", "-qm", message, "--allow-empty"]);
        self.head()
    }

    fn head(&self) -> String {
        git(self.repo.root(), &["rev-parse", "HEAD"]).trim().to_string()
    }

    /// The images report `image build --push` writes for HEAD: web pushed
    /// with digest `sha256:dd…` (and `version` for a release build).
    fn built(&self, d: char, version: Option<&str>) -> String {
        let head = self.head();
        let tags: Vec<String> = match version {
            Some(v) => vec![v.to_string(), "latest".into()],
            None => vec![head.clone()],
        };
        let digest = format!("sha256:{}", d.to_string().repeat(64));
        let pushed: Vec<_> =
            tags.iter().map(|t| serde_json::json!({"repository": REGISTRY, "tag": t, "digest": digest})).collect();
        let report = serde_json::json!({"format": 1, "components": {"web": {
            "image_id": format!("sha256:{}", d.to_string().repeat(64)), "repositories": [REGISTRY], "tags": tags,
            "version": version, "commit": head, "ref": "refs/heads/main", "dirty": false, "pushed": pushed,
        }}});
        self.repo.write("target/xtask/images.json", &report.to_string());
        digest
    }

    /// A real image of web (one file saying `d`) pushed by `image push` at
    /// HEAD, signed and attested ([`support::signed`]), so staging verifies
    /// it as any (kwok runs the pods: nothing pulls it). Its digest; the
    /// images report is the push's.
    fn built_signed(&self, d: char) -> String {
        let prefix = support::signed::prefix(&format!("fx-release/{}", self.base));
        let ctx = tempfile::tempdir().unwrap();
        std::fs::write(ctx.path().join("Dockerfile"), "FROM scratch\nCOPY f /f\n").unwrap();
        std::fs::write(ctx.path().join("f"), d.to_string()).unwrap();
        let local = format!("fx-release-{}-web:{d}", self.base);
        let out = Command::new("docker")
            .args(["build", "-q", "-t", &local])
            .arg(ctx.path())
            .env("DOCKER_BUILDKIT", "0")
            .output()
            .unwrap();
        assert!(out.status.success(), "docker build: {}", String::from_utf8_lossy(&out.stderr));
        self.signed.set(true);
        let head = self.head();
        let push = self.command(&["image", "push", "web", "--registry", &prefix, "--tag", &head]);
        let digest = support::signed::push(self.repo.root(), push, &local, &prefix, "web");
        let _ = Command::new("docker").args(["image", "rm", &local]).output();
        digest
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = support::deploy::command(&self.repo, self.cluster.as_ref(), args);
        if self.signed.get() {
            support::signed::env(&mut cmd);
        }
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        support::run(self.command(args))
    }

    fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(run.code, 0, "{args:?}\n{}\n{}", run.stdout, run.stderr);
        run
    }

    fn history(&self, env: &str) -> Vec<serde_json::Value> {
        let run = self.ok(&["status", env, "--json"]);
        let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        status["history"].as_array().unwrap().clone()
    }

    fn outcomes(&self, env: &str) -> Vec<(u64, String)> {
        self.history(env)
            .iter()
            .map(|r| (r["revision"].as_u64().unwrap(), r["outcome"].as_str().unwrap().to_string()))
            .collect()
    }

    fn running_image(&self, env: &str) -> String {
        let c = self.cluster.as_ref().unwrap();
        let d = c.json(&["get", "deployment", "web", "-n", &self.namespace(env), "-o", "json"]);
        d["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap().to_string()
    }
}

/// Past the guards and the images' check, a deploy of images nobody signed
/// (this fixture's do not exist) stops at their verification, before any
/// cluster is asked: staging and production cannot opt out of it.
fn stops_at_verification(run: &Run) {
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let last = run.stderr.trim().lines().last().unwrap_or_default();
    assert!(last.contains("no key to verify images with"), "{}", run.stderr);
    assert!(!run.stderr.contains("no cluster credentials"), "{}", run.stderr);
}

fn refused(run: &Run, starts: &str) {
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    // Past the lines that say which cluster and registry (once connected), one line: the refusal.
    let said = |l: &&str| !l.starts_with("cluster: ") && !l.starts_with("registry: ");
    let lines: Vec<&str> = run.stderr.trim().lines().filter(said).collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(lines[0].starts_with(&format!("error: {starts}")), "{}", run.stderr);
}

/// Item 6: a failed revision is not put back without --force; pressing
/// rollback twice goes further back; `rolled-back` labels what was undone.
#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn rollback_goes_further_back_each_time_and_refuses_a_failed_revision() {
    let f = Fixture::new("rollback", Some(cluster()), false);
    let mut digests = Vec::new();
    for d in ['a', 'b'] {
        f.commit(&format!("build {d}"));
        digests.push(f.built(d, None));
        f.ok(&["manifests", "update", "development"]);
        f.ok(&["deploy", "development", "--timeout", "120s"]);
    }
    // A build whose web crash-loops: revision 3 fails, revision 4 puts 2 back.
    f.repo.write("components/web/k8s/deployment.yaml", &web(IMAGE, 1, Some("crash-loop"), None));
    f.commit("build c");
    f.built('c', None);
    f.ok(&["manifests", "update", "development"]);
    assert_eq!(f.run(&["deploy", "development", "--timeout", "300s"]).code, 1);
    assert_eq!(
        f.outcomes("development"),
        [(1, "succeeded".into()), (2, "succeeded".into()), (3, "failed".into()), (4, "succeeded".into())]
    );
    // The failed revision is refused without --force; nothing changes.
    let run = f.run(&["rollback", "development", "--to", "3"]);
    refused(&run, "revision 3 failed its verify (web: pod web-");
    assert!(run.stderr.contains("pass --force to apply it anyway"), "{}", run.stderr);
    assert!(f.running_image("development").ends_with(&digests[1]));
    // What runs now (revision 4 is 2's manifests) is no rollback either.
    refused(&f.run(&["rollback", "development", "--to", "2"]), "revision 2 is what runs now (as revision 4)");
    // Rollback goes to 1, not to 2 again; 2 and its copy 4 read rolled-back.
    let run = f.ok(&["rollback", "development", "--timeout", "120s"]);
    assert!(run.stdout.contains("rolled back development to revision 1 (undid 2, 4)"), "{}", run.stdout);
    assert!(f.running_image("development").ends_with(&digests[0]));
    assert_eq!(
        f.outcomes("development"),
        [
            (1, "succeeded".into()),
            (2, "rolled-back".into()),
            (3, "failed".into()),
            (4, "rolled-back".into()),
            (5, "succeeded".into())
        ]
    );
    let history = f.history("development");
    assert_eq!(history[1]["undone_by"], 5);
    assert_eq!(history[4]["source_revision"], 1);
    // Pressing it again: nothing older stands, and nothing is applied.
    refused(
        &f.run(&["rollback", "development"]),
        "nothing to roll back to: revision 5 (revision 1's manifests) runs now",
    );
    let text = f.ok(&["status", "development"]).stdout;
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with("5 ") && last.contains("  rollback to revision 1; ") && last.ends_with("; running now"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("2 ") && l.contains("rolled-back") && l.contains("rolled back by revision 5")),
        "{text}"
    );
}

/// Item 7: tag v9.9.9 at HEAD and its images pushed, but the overlay still
/// pins another commit's images: production refuses them, dry run or not.
#[test]
fn production_refuses_pins_that_are_not_the_releases_images() {
    let f = Fixture::new("release", None, false);
    // An earlier build pinned and committed.
    f.built('a', None);
    f.ok(&["manifests", "update", "production"]);
    f.commit("pin build a");
    // The release: tagged, its images built and pushed, `manifests update production` not run.
    f.commit("release 9.9.9");
    git(f.repo.root(), &["tag", "v9.9.9"]);
    let release = f.built('9', Some("9.9.9"));
    let run = f.run(&["deploy", "production", "--dry-run", "--confirm"]);
    refused(&run, "production's pins are not the release's images: web runs 127.0.0.1:5000/fx/web:");
    assert!(
        run.stderr.contains("pin the release's images (cargo xtask manifests update production)"),
        "{}",
        run.stderr
    );
    // --force does not let a release run other images.
    let run = f.run(&["deploy", "production", "--dry-run", "--confirm", "--force"]);
    refused(&run, "production's pins are not the release's images");
    // Pinned from the release's report, the guard passes: the dry run goes on to verify the images.
    f.ok(&["manifests", "update", "production"]);
    let rendered = f.ok(&["manifests", "render", "production"]).stdout;
    assert!(rendered.contains(&release), "{rendered}");
    stops_at_verification(&f.run(&["deploy", "production", "--dry-run", "--confirm"]));
}

/// Item 8, what needs no cluster: staging refuses pins of another commit's
/// images, naming both commits, unless --force.
#[test]
fn staging_refuses_images_not_built_from_the_commit_it_deploys() {
    let f = Fixture::new("pins", None, false);
    let old = f.head();
    f.built('a', None);
    f.ok(&["manifests", "update", "staging"]);
    let head = f.commit("pins of build a, then more work");
    let run = f.run(&["deploy", "staging"]);
    refused(&run, "staging's pins are not this commit's images: web runs 127.0.0.1:5000/fx/web:");
    assert!(run.stderr.contains(&format!("built from {}, not HEAD {}", &old[..12], &head[..12])), "{}", run.stderr);
    assert!(run.stderr.contains("or pass --force to deploy them anyway"), "{}", run.stderr);
    // --force lets them through the pins' check (to the images' verification, which fails here).
    let run = f.run(&["deploy", "staging", "--force"]);
    stops_at_verification(&run);
    assert!(run.stderr.contains("warning (--force): web runs"), "{}", run.stderr);
    // The CI path: this commit's images pinned by `manifests update`.
    f.built('b', None);
    f.ok(&["manifests", "update", "staging"]);
    stops_at_verification(&f.run(&["deploy", "staging"]));
}

/// Item 8: the record says what ran (HEAD, each image's commit, uncommitted
/// files, forced); the CI path (`manifests update` from this commit's report) passes.
#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn the_record_says_what_was_applied() {
    let f = Fixture::new("records", Some(cluster()), false);
    let old = f.head();
    // Staging verifies what it deploys: real images, signed.
    f.built_signed('a');
    f.ok(&["manifests", "update", "staging"]);
    f.ok(&["manifests", "update", "development"]);
    let head = f.commit("pins of build a, then more work");
    refused(&f.run(&["deploy", "staging"]), "staging's pins are not this commit's images");
    // Development takes them, and its record says where they came from.
    f.ok(&["deploy", "development", "--timeout", "120s"]);
    let r = &f.history("development")[0];
    assert_eq!(r["commit"], head.as_str());
    assert_eq!(r["images"][0]["built_from"], old.as_str());
    assert_eq!(r["forced"], false);
    // Staging with --force: deployed and recorded as forced.
    let run = f.ok(&["deploy", "staging", "--force", "--timeout", "120s"]);
    assert!(run.stderr.contains("warning (--force): web runs"), "{}", run.stderr);
    let r = &f.history("staging")[0];
    assert_eq!(
        (r["commit"].as_str(), r["images"][0]["built_from"].as_str()),
        (Some(head.as_str()), Some(old.as_str()))
    );
    assert_eq!(r["forced"], true);
    // The pins live in this workspace (`manifests update`), not in git: the record says so.
    assert_eq!(r["uncommitted"], serde_json::json!(["target/xtask/overlays/staging/kustomization.yaml"]));
    // The CI path: this commit's images built and pinned by `manifests update` (uncommitted), then deploy.
    let digest = f.built_signed('b');
    f.ok(&["manifests", "update", "staging"]);
    f.ok(&["deploy", "staging", "--timeout", "120s"]);
    let r = &f.history("staging")[1];
    assert_eq!(r["images"][0]["built_from"], head.as_str());
    assert!(r["images"][0]["reference"].as_str().unwrap().ends_with(&digest), "{r}");
    assert_eq!(r["forced"], false);
    assert_eq!(r["uncommitted"], serde_json::json!(["target/xtask/overlays/staging/kustomization.yaml"]));
    let text = f.ok(&["status", "staging"]).stdout;
    assert!(
        text.contains(&format!(
            "images built from {}; uncommitted: target/xtask/overlays/staging/kustomization.yaml; forced",
            &old[..12]
        )),
        "{text}"
    );
    assert!(text.contains("uncommitted: target/xtask/overlays/staging/kustomization.yaml; running now"), "{text}");
}

/// Item 9: a token the API server refuses is said as such, naming the user.
#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn a_refused_token_names_the_user_and_the_fix_not_an_unreachable_cluster() {
    let f = Fixture::new("token", Some(cluster()), false);
    f.built('a', None);
    let c = f.cluster.as_ref().unwrap();
    let real = std::fs::read_to_string(&c.kubeconfig).unwrap();
    let bogus: String = real
        .lines()
        .map(|l| match l.find("token:") {
            Some(i) => format!("{}token: not-a-valid-token", &l[..i]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let user = c.text(&["config", "view", "--minify", "-o", "jsonpath={.contexts[0].context.user}"]);
    let path = f.repo.root().join("bogus.kubeconfig");
    std::fs::write(&path, bogus).unwrap();
    for args in [
        vec!["deploy", "development", "--kubeconfig", path.to_str().unwrap()],
        vec!["status", "development", "--kubeconfig", path.to_str().unwrap()],
        vec!["manifests", "validate", "development", "--kubeconfig", path.to_str().unwrap()],
    ] {
        let run = f.run(&args);
        assert_eq!(run.code, 2, "{args:?}\n{}\n{}", run.stdout, run.stderr);
        let line = run.stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_default();
        assert!(
            line.contains(&format!("refused the credentials of user `{}` (401 Unauthorized", user.trim())),
            "{args:?}: {}",
            run.stderr
        );
        assert!(line.contains("give user `") && line.contains("valid credentials in the kubeconfig"), "{line}");
        assert!(!run.stderr.contains("unreachable") && !run.stderr.contains("not-a-valid-token"), "{}", run.stderr);
    }
}

/// `undeploy`: what the releases applied is deleted; a claim's volume kept
/// by its policy (Retain) is Available again (not left Released), one the
/// cluster provisioned (Delete) is deleted by it; the history stays;
/// production needs --confirm.
#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn undeploy_deletes_what_the_releases_applied_and_frees_the_volumes() {
    let f = Fixture::new("undeploy", Some(cluster()), true);
    let c = f.cluster.as_ref().unwrap();
    let ns = f.namespace("development");
    f.built('a', None);
    f.ok(&["manifests", "update", "development"]);
    f.ok(&["deploy", "development", "--timeout", "120s"]);
    // web-data gets a volume of its own, web-kept binds one of the pre-made volumes.
    let deadline = Instant::now() + Duration::from_secs(60);
    let bound = |claim: &str| loop {
        let pvc = c.json(&["get", "pvc", claim, "-n", &ns, "-o", "json"]);
        if pvc["status"]["phase"] == "Bound" {
            break pvc["spec"]["volumeName"].as_str().unwrap().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "the claim never bound (the provisioner down, or no pre-made volume Available? `cargo xtask services up`): {pvc}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let (provisioned, volume) = (bound("web-data"), bound("web-kept"));
    let run = f.ok(&["undeploy", "development"]);
    for what in
        ["Deployment/web", "ConfigMap/web-settings", "PersistentVolumeClaim/web-data", "PersistentVolumeClaim/web-kept"]
    {
        assert!(run.stdout.contains(&format!("  delete   {what}")), "{}", run.stdout);
    }
    assert!(run.stdout.contains(&format!("volume   {volume}: Available again")), "{}", run.stdout);
    // Said as the volume was found once the claim was gone: still there, or deleted already.
    let reclaimed = format!("volume   {provisioned}: the cluster reclaims it (reclaim policy Delete)");
    let deleted = format!("volume   {provisioned}: deleted by the cluster already (with its claim)");
    assert!(run.stdout.contains(&reclaimed) || run.stdout.contains(&deleted), "{}", run.stdout);
    let delete_order: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("  delete")).collect();
    assert!(delete_order.first().unwrap().contains("Deployment/web"), "{}", run.stdout);
    assert!(delete_order.last().unwrap().contains("PersistentVolumeClaim/web-"), "{}", run.stdout);
    for kind in ["deployment/web", "configmap/web-settings", "pvc/web-data", "pvc/web-kept"] {
        let out = c.kubectl(&["get", kind, "-n", &ns, "--ignore-not-found", "-o", "name"]);
        assert!(String::from_utf8_lossy(&out.stdout).trim().is_empty(), "{kind} is still there");
    }
    let pv = c.json(&["get", "pv", &volume, "-o", "json"]);
    assert_eq!(pv["status"]["phase"], "Available", "{pv}");
    assert!(pv["spec"]["claimRef"].is_null(), "{pv}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while c.kubectl(&["get", "pv", &provisioned]).status.success() {
        assert!(Instant::now() < deadline, "the provisioned volume {provisioned} was not deleted");
        std::thread::sleep(Duration::from_millis(300));
    }
    // The namespace and the history stay; the lock is released.
    assert!(c.has_namespace(&ns));
    assert_eq!(f.outcomes("development"), [(1, "succeeded".into()), (2, "undeployed".into())]);
    let text = f.ok(&["status", "development"]).stdout;
    assert!(text.contains("nothing runs: revision 2 undeployed development"), "{text}");
    let all = f.ok(&["status"]).stdout;
    assert!(all.lines().any(|l| l.starts_with("development") && l.contains("undeployed (2)")), "{all}");
    assert!(!c.kubectl(&["get", "lease", "mlops-deploy-lock", "-n", &ns]).status.success());
    // Again: nothing to do. Then a release comes back with rollback --to.
    assert!(f.ok(&["undeploy", "development"]).stdout.contains("nothing to undeploy"));
    refused(&f.run(&["rollback", "development"]), "nothing runs: revision 2 undeployed this environment");
    f.ok(&["rollback", "development", "--to", "1", "--timeout", "120s"]);
    assert!(c.kubectl(&["get", "deployment", "web", "-n", &ns]).status.success());
    // Undeployed again, the volume goes back to the pool rather than staying Released with the namespace.
    f.ok(&["undeploy", "development"]);
}

/// An overlay named otherwise than the three is guarded like production, and
/// undeploying a `release`-guarded environment needs --confirm.
#[test]
fn another_overlay_without_settings_is_guarded_like_production() {
    let f = Fixture::new("qa", None, false);
    let text =
        f.repo.read("deploy/overlays/staging/kustomization.yaml").replace("environment: staging", "environment: qa");
    f.repo.write("deploy/overlays/qa/kustomization.yaml", &text);
    f.repo.write("deploy/overlays/qa/namespace.yaml", &f.repo.read("deploy/overlays/staging/namespace.yaml"));
    f.built('a', None);
    f.ok(&["manifests", "update", "qa"]);
    f.commit("qa pinned");
    refused(&f.run(&["deploy", "qa"]), "qa is deployed only from a release");
    refused(&f.run(&["undeploy", "qa"]), "undeploying qa needs --confirm");
    refused(&f.run(&["undeploy", "production"]), "undeploying production needs --confirm");
    f.repo.write("deploy/overlays/qa/xtask.toml", "guard = \"main\"\n");
    // Now staging's rule: main is fine, and the images must be this commit's.
    refused(&f.run(&["deploy", "qa"]), "qa's pins are not this commit's images");
}

/// Issue #31, item 5: a claim the render no longer has is not pruned (nor is
/// anything else applied) unless `--allow-data-loss` names it; a
/// NetworkPolicy the render dropped is pruned.
#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn prune_deletes_a_claim_only_when_allow_data_loss_names_it() {
    let f = Fixture::new("prunepvc", Some(cluster()), true);
    let c = f.cluster.as_ref().unwrap();
    let ns = f.namespace("development");
    // One claim the cluster's default class provisions (no pre-made volume taken), and a policy.
    let claim = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: web-data\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests: {storage: 1Gi}\n";
    let policy = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: web-policy\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n";
    f.repo.write("components/web/k8s/data.yaml", claim);
    f.repo.write("components/web/k8s/policy.yaml", policy);
    f.repo.write(
        "components/web/k8s/kustomization.yaml",
        "resources:\n  - deployment.yaml\n  - config.yaml\n  - data.yaml\n  - policy.yaml\n",
    );
    f.commit("claim and policy");
    f.built('a', None);
    f.ok(&["manifests", "update", "development"]);
    f.ok(&["deploy", "development", "--timeout", "60s"]);
    assert!(c.kubectl(&["get", "networkpolicy", "web-policy", "-n", &ns]).status.success());

    // The next render drops both: refused before anything changes, naming the claim and the flag.
    f.repo.write("components/web/k8s/kustomization.yaml", "resources:\n  - deployment.yaml\n  - config.yaml\n");
    f.commit("no claim, no policy");
    f.built('b', None);
    f.ok(&["manifests", "update", "development"]);
    let run = f.run(&["deploy", "development", "--timeout", "60s"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let last = run.stderr.trim().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: deploy development would prune PersistentVolumeClaim/web-data (a claim: its volume and data may go with it), which the render no longer has: put it back in the render, or pass --allow-data-loss web-data to delete it"),
        "{}",
        run.stderr
    );
    assert!(c.kubectl(&["get", "pvc", "web-data", "-n", &ns]).status.success(), "the claim was deleted");
    assert!(c.kubectl(&["get", "networkpolicy", "web-policy", "-n", &ns]).status.success(), "a refused deploy pruned");
    assert_eq!(f.outcomes("development"), [(1, "succeeded".to_string())]);

    // Named, it goes, with the policy.
    let run = f.ok(&["deploy", "development", "--timeout", "60s", "--allow-data-loss", "web-data"]);
    assert!(run.stdout.contains("  prune    PersistentVolumeClaim/web-data (no longer rendered)"), "{}", run.stdout);
    assert!(run.stdout.contains("  prune    NetworkPolicy/web-policy (no longer rendered)"), "{}", run.stdout);
    assert!(!c.kubectl(&["get", "networkpolicy", "web-policy", "-n", &ns]).status.success());
    let gone = c.kubectl(&["get", "pvc", "web-data", "-n", &ns, "--ignore-not-found", "-o", "name"]);
    assert!(
        String::from_utf8_lossy(&gone.stdout).trim().is_empty() || {
            // Deleted, held only by its finalizer until the volume is released.
            let pvc = c.json(&["get", "pvc", "web-data", "-n", &ns, "-o", "json"]);
            pvc["metadata"]["deletionTimestamp"].is_string()
        }
    );
}
