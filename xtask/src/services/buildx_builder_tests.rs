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

#[test]
fn the_buildkit_container_is_privileged_less_sys_resource_on_the_hosts_network() {
    let spec = Spec {
        name: "xtask".into(),
        image: "local/buildkit:v1-abc".into(),
        buildkitd_config: "/s/buildkitd.toml".into(),
    };
    assert_eq!(spec.container(), "xtask-buildkit");
    assert_eq!(spec.endpoint(), "unix:///s/xtask-run/buildkitd.sock");
    let args = run_args(&spec).join(" ");
    for part in [
        "run --detach --name xtask-buildkit --network=host --cap-add=ALL --cap-drop=SYS_RESOURCE",
        "--volume=/s/xtask-run:/run/buildkit --volume=/s/buildkitd.toml:/etc/buildkit/buildkitd.toml:ro",
        "--volume=xtask-buildkit-state:/var/lib/buildkit local/buildkit:v1-abc --addr unix:///run/buildkit/buildkitd.sock",
    ] {
        assert!(args.contains(part), "{part}: {args}");
    }
    assert!(!args.contains("--privileged"), "{args}");
}
