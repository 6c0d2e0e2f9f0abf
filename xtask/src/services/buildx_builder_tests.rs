use super::*;

#[test]
fn versions_are_read_from_buildx_version() {
    assert_eq!(parse_version("github.com/docker/buildx v0.38.2 abc123\n"), Some((0, 38, 2)));
    assert_eq!(parse_version("github.com/docker/buildx v0.12.1-desktop.4 x"), Some((0, 12, 1)));
    assert_eq!(parse_version("docker: 'buildx' is not a docker command."), None);
}

#[test]
fn buildkitd_mirrors_the_hub_to_the_loopback_registry_over_http() {
    let toml = buildkitd_toml("127.0.0.1:5000", 10);
    assert!(toml.contains("[registry.\"docker.io\"]\n  mirrors = [\"127.0.0.1:5000\"]"), "{toml}");
    assert!(toml.contains("[registry.\"127.0.0.1:5000\"]\n  http = true"), "{toml}");
    assert!(toml.contains("maxUsedSpace = \"10GB\""), "{toml}");
}

#[test]
fn the_docker_config_carries_basic_credentials() {
    let json: serde_json::Value = serde_json::from_str(&docker_config("127.0.0.1:5000", "xtask", "pw")).unwrap();
    // base64("xtask:pw")
    assert_eq!(json["auths"]["127.0.0.1:5000"]["auth"], "eHRhc2s6cHc=");
}
