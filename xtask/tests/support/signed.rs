//! Real images signed for a fixture repository: a local image retagged and
//! pushed by the fixture's own `image push COMPONENT` at its HEAD, under a
//! repository of the test's own in the local registry, so the machine's key
//! pair signs it and attests its SBOM and provenance (that commit); deploys
//! in any environment but development verify it as they would any.

use std::path::Path;
use std::process::Command;

/// What a fixture's commands need to push signed images and to verify them:
/// the signing service's tools and keys, the registry's credentials.
pub fn env(cmd: &mut Command) -> &mut Command {
    let need = |k: &str| {
        super::service_var(k).unwrap_or_else(|| panic!("{k} is not recorded: run `cargo xtask services up registry`"))
    };
    super::signing(cmd)
        .env("XTASK_REGISTRY_USERNAME", need("XTASK_TEST_REGISTRY_USER"))
        .env("XTASK_REGISTRY_PASSWORD_FILE", need("XTASK_TEST_REGISTRY_PASSWORD_FILE"))
        .env_remove("XTASK_REGISTRY_PASSWORD")
}

/// `<registry>/<under>`: the repository prefix of a test's own pushes.
pub fn prefix(under: &str) -> String {
    let registry = super::service_var("XTASK_TEST_REGISTRY")
        .expect("XTASK_TEST_REGISTRY is not recorded: run `cargo xtask services up registry`");
    format!("{registry}/{under}")
}

/// `local` tagged `<prefix>/<component>:<HEAD of root>` and pushed by
/// `command` (the fixture's `image push COMPONENT --registry PREFIX --tag
/// HEAD`, with [`env`]); its digest. The retag is removed after (the registry has it).
pub fn push(root: &Path, command: Command, local: &str, prefix: &str, component: &str) -> String {
    let head = super::git::head(root);
    let name = format!("{prefix}/{component}:{head}");
    let tag = Command::new("docker").args(["tag", local, &name]).output().unwrap();
    assert!(tag.status.success(), "docker tag {local}: {}", String::from_utf8_lossy(&tag.stderr));
    let run = super::run(command);
    let _ = Command::new("docker").args(["image", "rm", &name]).output();
    assert_eq!(run.code, 0, "image push: {}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("provenance (commit"), "not signed and attested: {}", run.stdout);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("target/xtask/images.json")).unwrap()).unwrap();
    report["components"][component]["pushed"][0]["digest"].as_str().expect("pushed with a digest").to_string()
}
