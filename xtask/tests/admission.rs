//! The admission example (`deploy/admission/cluster-image-policy.yaml`):
//! the policy Sigstore's policy-controller would enforce, checked by the real
//! API server against policy-controller's own CRD at the version the file is
//! written for (from its Go module, through the machine's Go proxy), with the
//! machine's public key in it: strict field validation refuses a field the
//! CRD does not declare, so a misspelt policy fails here, not in a user's
//! cluster. policy-controller itself (its webhook) is not run here: its build
//! is heavier than cosign's (docs say what it costs).

use crate::support;

use std::path::Path;
use std::process::Command;
use support::cluster;

const POLICY_CONTROLLER: &str = "github.com/sigstore/policy-controller@v0.13.1";
const CRD: &str = "clusterimagepolicies.policy.sigstore.dev";

/// policy-controller's ClusterImagePolicy CRD at the pinned version, its
/// conversion webhook (which runs in policy-controller) dropped: here the API
/// server only validates.
fn crd() -> String {
    let out = Command::new("go")
        .args(["mod", "download", "-json", POLICY_CONTROLLER])
        .env("GOFLAGS", "-mod=mod")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("go runs (the machine's Go toolchain)");
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let dir = info["Dir"].as_str().unwrap_or_else(|| {
        panic!(
            "go mod download {POLICY_CONTROLLER}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let text = std::fs::read_to_string(Path::new(dir).join("config/300-clusterimagepolicy.yaml")).unwrap();
    let (from, to) = (text.find("  conversion:\n").unwrap(), text.find("  group: policy.sigstore.dev").unwrap());
    format!("{}  conversion:\n    strategy: None\n{}", &text[..from], &text[to..])
}

/// The example with the machine's public key in place of its placeholder.
fn policy() -> String {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/admission/cluster-image-policy.yaml");
    let text = std::fs::read_to_string(example).unwrap();
    let key_file = support::service_var("XTASK_SIGNING_PUBLIC_KEY")
        .expect("XTASK_SIGNING_PUBLIC_KEY is not recorded: run `cargo xtask services up signing`");
    let key = std::fs::read_to_string(key_file).unwrap();
    assert!(key.contains("BEGIN PUBLIC KEY"), "{key}");
    let indented: String = key.trim().lines().map(|l| format!("          {l}\n")).collect();
    assert!(text.contains("          PUBLIC KEY\n"), "the example has no key placeholder");
    text.replace("          PUBLIC KEY\n", &indented)
}

#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn the_admission_example_is_a_valid_cluster_image_policy_for_policy_controller_with_the_machines_key() {
    let c = cluster();
    let dir = tempfile::tempdir().unwrap();
    let (crd_file, policy_file) = (dir.path().join("crd.yaml"), dir.path().join("policy.yaml"));
    std::fs::write(&crd_file, crd()).unwrap();
    let applied = c.kubectl(&["apply", "--server-side", "--force-conflicts", "-f", crd_file.to_str().unwrap()]);
    assert!(applied.status.success(), "the CRD: {}", String::from_utf8_lossy(&applied.stderr));
    let established = c.kubectl(&["wait", "--for", "condition=Established", &format!("crd/{CRD}"), "--timeout=60s"]);
    assert!(established.status.success(), "{}", String::from_utf8_lossy(&established.stderr));

    let check = |text: &str| {
        std::fs::write(&policy_file, text).unwrap();
        let args = ["apply", "--dry-run=server", "--validate=strict", "-f", policy_file.to_str().unwrap()];
        let out = c.kubectl(&args);
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let good = policy();
    let (ok, said) = check(&good);
    assert!(ok && said.contains("clusterimagepolicy.policy.sigstore.dev/mlops-signed"), "{said}");
    // A field the CRD does not declare is refused (so the check can fail).
    let (ok, said) = check(&good.replace("signatureFormat:", "signatureFormats:"));
    assert!(!ok && said.contains("unknown field"), "{said}");
    // A value of the wrong type too.
    let (ok, said) = check(&good.replace("    - glob: \"ghcr.io/mlops-platform/**\"", "    - glob: [1]"));
    assert!(!ok, "{said}");
}
