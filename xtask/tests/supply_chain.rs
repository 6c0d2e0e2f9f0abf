//! The supply chain on real images in the local registry (under a prefix of
//! this test's own, `supply-test/…`): `image push` signs and attests what it
//! pushes with the machine's key pair (`services up signing`); deploy
//! verifies before anything is applied and refuses, one line per image, an
//! unsigned digest pushed by hand under the pinned tag, provenance naming a
//! commit that is not the deployed one's ancestor, a wrong key, an
//! unreachable registry and a corrupt attestation. No secret is ever printed.
//! No cluster: a verified deploy goes on to the cluster, which is missing.

use crate::support;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::{git, service_var, Repo, Run};

struct Env {
    registry: String,
    user: String,
    password_file: String,
    signing: Vec<(&'static str, String)>,
    kubectl: String,
}

/// What the machine's services recorded; a missing one fails, saying what to start.
fn env() -> Env {
    let need = |k: &str, service: &str| {
        service_var(k).unwrap_or_else(|| panic!("{k} is not recorded: run `cargo xtask services up {service}`"))
    };
    let signing =
        ["XTASK_COSIGN", "XTASK_SYFT", "XTASK_SIGNING_KEY", "XTASK_SIGNING_PASSWORD_FILE", "XTASK_SIGNING_PUBLIC_KEY"]
            .map(|k| (k, need(k, "signing")))
            .to_vec();
    Env {
        registry: need("XTASK_TEST_REGISTRY", "registry"),
        user: need("XTASK_TEST_REGISTRY_USER", "registry"),
        password_file: need("XTASK_TEST_REGISTRY_PASSWORD_FILE", "registry"),
        signing,
        kubectl: service_var("XTASK_KUBECTL").unwrap_or_else(|| "kubectl".into()),
    }
}

/// docker with a config of the test's own (never the user's logins).
fn docker(config: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut cmd = Command::new("docker");
    cmd.arg("--config").arg(config).args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().expect("docker runs (cargo xtask services up docker)");
    if let Some(s) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Fx {
    repo: Repo,
    env: Env,
    /// `<registry>/supply-test/<unique>`.
    prefix: String,
    config: tempfile::TempDir,
    secrets: Vec<String>,
}

impl Fx {
    fn new() -> Fx {
        Fx::in_namespace("supply-test")
    }

    fn in_namespace(namespace: &str) -> Fx {
        let env = env();
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
        let prefix = format!("{}/supply-test/{}-{t}", env.registry, std::process::id());
        let repo = Repo::new();
        repo.component("web", &[], &[]);
        repo.write("components/web/Dockerfile", "FROM scratch\n");
        repo.write("components/web/k8s/kustomization.yaml", "resources:\n  - deployment.yaml\n");
        repo.write("deploy/base/kustomization.yaml", "resources:\n  - ../../components/web/k8s\n");
        repo.write(
            "deploy/overlays/development/kustomization.yaml",
            &format!("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {namespace}\nresources:\n  - ../../base\n  - namespace.yaml\nlabels:\n  - pairs:\n      mlops.dev/environment: development\n      app.kubernetes.io/managed-by: xtask\n    includeTemplates: true\n"),
        );
        repo.write(
            "deploy/overlays/development/namespace.yaml",
            &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n"),
        );
        repo.write(".gitignore", "/target/\n");
        let config = tempfile::tempdir().unwrap();
        let password = std::fs::read_to_string(&env.password_file).unwrap().trim().to_string();
        let key_password =
            std::fs::read_to_string(&env.signing.iter().find(|(k, _)| *k == "XTASK_SIGNING_PASSWORD_FILE").unwrap().1)
                .unwrap();
        docker(config.path(), &["login", &env.registry, "--username", &env.user, "--password-stdin"], Some(&password));
        let fx = Fx { repo, env, prefix, config, secrets: vec![password, key_password] };
        fx.deployment(&format!("{}/web:none", fx.prefix));
        git(fx.repo.root(), &["init", "-q", "-b", "main"]);
        fx.commit("start");
        fx
    }

    fn commit(&self, msg: &str) -> String {
        git(self.repo.root(), &["add", "-A"]);
        git(self.repo.root(), &["commit", "-qm", msg, "--allow-empty"]);
        git(self.repo.root(), &["rev-parse", "HEAD"]).trim().to_string()
    }

    fn deployment(&self, image: &str) {
        self.repo.write("components/web/k8s/deployment.yaml", &support::deploy::web(image, 2, None, Some(600)));
    }

    /// A tiny image (one file saying `text`) tagged `<prefix>/web:<tag>`; its local id.
    fn image(&self, text: &str, tag: &str) -> String {
        let ctx = tempfile::tempdir().unwrap();
        std::fs::write(ctx.path().join("Dockerfile"), "FROM scratch\nCOPY f /f\n").unwrap();
        std::fs::write(ctx.path().join("f"), text).unwrap();
        let name = format!("{}/web:{tag}", self.prefix);
        let mut cmd = Command::new("docker");
        cmd.args(["build", "-q", "-t", &name]).arg(ctx.path()).env("DOCKER_BUILDKIT", "0");
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "docker build: {}", String::from_utf8_lossy(&out.stderr));
        name
    }

    fn xtask(&self, args: &[&str], with: &[(&str, String)]) -> Run {
        let mut cmd = self.repo.command(args);
        cmd.env("XTASK_REGISTRY_USERNAME", &self.env.user)
            .env("XTASK_REGISTRY_PASSWORD_FILE", &self.env.password_file)
            .env("XTASK_KUBECTL", &self.env.kubectl)
            .env("HOME", self.repo.root())
            .env_remove("KUBECONFIG")
            .env_remove("CI");
        for (k, v) in &self.env.signing {
            cmd.env(k, v);
        }
        for (k, v) in with {
            cmd.env(k, v);
        }
        let run = support::run(cmd);
        for s in &self.secrets {
            assert!(
                !run.stdout.contains(s.as_str()) && !run.stderr.contains(s.as_str()),
                "a secret was printed: {args:?}"
            );
        }
        run
    }

    /// `image push web --tag TAG` of the image tagged so: signed and attested; its digest.
    fn push_signed(&self, tag: &str) -> String {
        let run = self.xtask(&["image", "push", "web", "--registry", &self.prefix, "--tag", tag, "--allow-dirty"], &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let line = run.stdout.lines().find(|l| l.starts_with("signed ")).expect("a signed line");
        assert!(line.contains("sbom (") && line.contains("provenance (commit") && line.contains("signature"), "{line}");
        let digest = line.split('@').nth(1).unwrap().split(':').take(2).collect::<Vec<_>>().join(":");
        digest.trim_end_matches(':').to_string()
    }

    fn deploy(&self, with: &[(&str, String)]) -> Run {
        self.xtask(&["deploy", "development"], with)
    }
}

fn refused(run: &Run, needles: &[&str]) {
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("failed verification, nothing applied"), "{}", run.stderr);
    for n in needles {
        assert!(run.stderr.contains(n), "no `{n}` in: {}", run.stderr);
    }
    assert!(!run.stdout.contains("apply revision"), "nothing is applied");
}

/// Verified, the deploy goes on to the cluster (none here): nothing applied either.
fn verified(run: &Run, commit: &str) {
    assert!(
        run.stdout.contains(&format!("web: verified: signature, provenance (commit {}), sbom", &commit[..12])),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("no cluster credentials"), "{}", run.stderr);
}

#[test]
#[ignore = "needs the registry and the signing service (cargo xtask services up registry signing)"]
fn deploy_verifies_real_images_and_refuses_each_bad_input_in_one_line() {
    let fx = Fx::new();
    let name = fx.image("signed", "t1");
    let built_from = git(fx.repo.root(), &["rev-parse", "HEAD"]).trim().to_string();
    let digest = fx.push_signed("t1");

    // The same digest pushed again (a release retagging it): its SBOM is not made twice.
    let again = format!("{}/web:t1-again", fx.prefix);
    assert!(Command::new("docker").args(["tag", &name, &again]).status().unwrap().success());
    let run = fx.xtask(&["image", "push", "web", "--registry", &fx.prefix, "--tag", "t1-again", "--allow-dirty"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let line = run.stdout.lines().find(|l| l.starts_with("signed ")).expect("a signed line");
    assert!(line.contains(&digest) && line.contains("made earlier for this digest"), "{line}");

    // The summary of the attached SBOM, verified.
    let run = fx.xtask(&["image", "sbom", "web"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("(signature verified)") && run.stdout.contains("packages"), "{}", run.stdout);

    // Pinned by digest, at a later commit: the provenance's commit is an ancestor.
    fx.deployment(&format!("{}/web@{digest}", fx.prefix));
    fx.commit("pin");
    let first = fx.deploy(&[]);
    verified(&first, &built_from);
    assert!(!first.stdout.contains("as verified before"), "a new digest is checked by cosign: {}", first.stdout);
    // Again, nothing changed: cosign's checks are the earlier ones (the verdict runs again).
    let again = fx.deploy(&[]);
    verified(&again, &built_from);
    assert!(
        again.stdout.contains("(1 as verified before: the same digest, signatures and attestations)"),
        "{}",
        again.stdout
    );

    // A wrong key: one line, nothing applied.
    let other = tempfile::tempdir().unwrap();
    let cosign = &fx.env.signing[0].1;
    let mut gen = Command::new(cosign);
    gen.arg("generate-key-pair").current_dir(other.path()).env_remove("COSIGN_PASSWORD").stdin(Stdio::piped());
    gen.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = gen.spawn().unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    let wrong: PathBuf = other.path().join("cosign.pub");
    let run = fx.deploy(&[("XTASK_SIGNING_PUBLIC_KEY", wrong.display().to_string())]);
    refused(&run, &[&digest, "does not verify with this key"]);

    // Pinned by tag, and the tag moved by hand to an unsigned image: refused, naming the new digest.
    fx.deployment(&format!("{}/web:t1", fx.prefix));
    fx.commit("pin by tag");
    verified(&fx.deploy(&[]), &built_from);
    let unsigned = fx.image("pushed by hand", "t1");
    let out = docker(fx.config.path(), &["push", &unsigned], None);
    let hand = out.split_whitespace().skip_while(|w| *w != "digest:").nth(1).unwrap().to_string();
    assert_ne!(hand, digest);
    refused(&fx.deploy(&[]), &[&format!("web@{hand}"), "not signed"]);

    // Signed, but built from a commit the deployed one does not descend from.
    git(fx.repo.root(), &["checkout", "-q", "--orphan", "elsewhere"]);
    fx.commit("elsewhere");
    fx.image("elsewhere", "t2");
    let stray = fx.push_signed("t2");
    git(fx.repo.root(), &["checkout", "-q", "-f", "main"]);
    fx.deployment(&format!("{}/web@{stray}", fx.prefix));
    fx.commit("pin the stray");
    refused(&fx.deploy(&[]), &[&stray, "provenance names", "not", "at an ancestor of"]);

    // An unreachable registry: the image is ours (our manifests name it), its host answers nothing.
    fx.deployment(&format!("127.0.0.1:9/supply-test/web@{digest}"));
    fx.commit("unreachable");
    refused(&fx.deploy(&[]), &["registry unreachable"]);

    // A corrupt attestation: the signed digest's attachments replaced by something else.
    fx.deployment(&format!("{}/web@{digest}", fx.prefix));
    fx.commit("back");
    let attachments = format!("{}/web:{}", fx.prefix, digest.replace(':', "-"));
    docker(fx.config.path(), &["tag", &name, &attachments], None);
    docker(fx.config.path(), &["push", &attachments], None);
    let run = fx.deploy(&[]);
    refused(&run, &[&digest]);
    let failures = run.stderr.lines().filter(|l| l.starts_with("web: ")).count();
    assert_eq!(failures, 1, "one line for the image: {}", run.stderr);

    // Development may opt out; the deploy then says so.
    fx.repo.write("deploy/overlays/development/xtask.toml", "verify-images = false\n");
    let run = fx.deploy(&[]);
    assert!(run.stdout.contains("images not verified (verify-images = false"), "{}", run.stdout);
}

/// On the local cluster (kwok runs the pods: the image need not run), a
/// verified deploy, then `status` with each running image's verification.
#[test]
#[ignore = "needs the local cluster, the registry and the signing service (cargo xtask services up)"]
fn status_shows_each_running_images_verification() {
    let cluster = support::cluster();
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() % 100_000;
    let namespace = format!("fx-supply-{t}");
    let _cleanup = support::deploy::cleanup(Some(&cluster), &namespace);
    let fx = Fx::in_namespace(&namespace);
    fx.image("running", "t1");
    let built_from = git(fx.repo.root(), &["rev-parse", "HEAD"]).trim().to_string();
    let digest = fx.push_signed("t1");
    fx.deployment(&format!("{}/web@{digest}", fx.prefix));
    fx.commit("pin");
    let kube = [
        ("KUBECONFIG", cluster.kubeconfig.display().to_string()),
        ("XTASK_KUBECTL", cluster.kubectl.display().to_string()),
    ];
    let run = fx.xtask(&["deploy", "development", "--timeout", "120s"], &kube);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(&format!("web: verified: signature, provenance (commit {})", &built_from[..12])),
        "{}",
        run.stdout
    );
    let run = fx.xtask(&["status", "development"], &kube);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("images:\n  web: verified: signature, provenance (commit"), "{}", run.stdout);
    let run = fx.xtask(&["status", "development", "--json"], &kube);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["verification"][0]["verified"], true, "{doc}");
}
