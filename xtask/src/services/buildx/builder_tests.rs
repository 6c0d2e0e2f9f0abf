use super::*;

#[test]
fn versions_are_read_from_buildx_version() {
    assert_eq!(parse_version("github.com/docker/buildx v0.38.2 abc123\n"), Some((0, 38, 2)));
    assert_eq!(parse_version("github.com/docker/buildx v0.12.1-desktop.4 x"), Some((0, 12, 1)));
    assert_eq!(parse_version("docker: 'buildx' is not a docker command."), None);
}

#[test]
fn buildkitd_reaches_the_loopback_registry_over_http_and_mirrors_no_hub() {
    let toml = buildkitd_toml("127.0.0.1:5000", 10, (0, 0));
    // Base images come as named contexts: nothing stands in for the hub.
    assert!(!toml.contains("docker.io") && !toml.contains("mirrors"), "{toml}");
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
        privileged: false,
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

#[test]
fn the_socket_belongs_to_who_runs_services_up() {
    let toml = buildkitd_toml("127.0.0.1:5000", 4, (1001, 118));
    assert!(toml.starts_with("[grpc]\n  uid = 1001\n  gid = 118\n[worker.oci]"), "{toml}");
}

#[test]
fn on_github_the_buildkit_container_runs_as_setup_buildx_actions_driver_runs_it() {
    let spec = Spec {
        name: "xtask".into(),
        image: "local/buildkit:v1-abc".into(),
        buildkitd_config: "/home/runner/.local/state/xtask-buildx/buildkitd.toml".into(),
        privileged: true,
    };
    let args = run_args(&spec).join(" ");
    assert!(
        args.starts_with(
            "run --detach --name xtask-buildkit --network=host --privileged --init --env=BUILDKIT_SETUP_CGROUPV2_ROOT=1 "
        ),
        "{args}"
    );
    // Its own cgroup namespace and cgroup2 mount: the host's cannot take runc's processes there.
    for absent in ["/sys/fs/cgroup", "--cap-", "--security-opt", "--cgroupns"] {
        assert!(!args.contains(absent), "{absent}: {args}");
    }
    assert!(args.contains("--volume=/home/runner/.local/state/xtask-buildx/xtask-run:/run/buildkit"), "{args}");
    // A spec written before the field existed is the local kind.
    let old: Spec = serde_json::from_str(r#"{"name":"x","image":"i","buildkitd_config":"/t"}"#).unwrap();
    assert!(!old.privileged);
}
