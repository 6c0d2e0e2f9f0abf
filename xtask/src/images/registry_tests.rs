use super::*;
use std::collections::BTreeMap;

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: BTreeMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |k| map.get(k).cloned()
}

#[test]
fn github_repository_means_ghcr_with_the_token() {
    let t = targets(
        None,
        &env(&[("GITHUB_REPOSITORY", "MLOps-Org/platform"), ("GITHUB_TOKEN", "s3cret"), ("GITHUB_ACTOR", "bot")]),
    )
    .unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].prefix, "ghcr.io/mlops-org");
    assert_eq!(t[0].host, "ghcr.io");
    let c = t[0].credentials.as_ref().unwrap();
    assert_eq!((c.user.as_str(), c.password.as_str()), ("bot", "s3cret"));
    assert!(!format!("{:?}", t).contains("s3cret"), "debug output never shows the secret");
}

#[test]
fn docker_hub_is_added_when_its_credentials_are_set() {
    let e = env(&[("GITHUB_REPOSITORY", "o/r"), ("DOCKER_HUB_USERNAME", "Me"), ("DOCKER_HUB_PASSWORD", "pw")]);
    let t = targets(None, &e).unwrap();
    let prefixes: Vec<_> = t.iter().map(|t| t.prefix.as_str()).collect();
    assert_eq!(prefixes, ["ghcr.io/o", "docker.io/me"]);
    assert!(targets(None, &env(&[("DOCKER_HUB_USERNAME", "me")])).is_err());
    assert!(targets(None, &env(&[("DOCKER_HUB_USERNAME", "")])).unwrap().is_empty(), "empty means unset");
}

#[test]
fn registry_flag_or_variable_overrides() {
    let e = env(&[("GITHUB_REPOSITORY", "o/r"), ("XTASK_REGISTRY", "localhost:5000/team/")]);
    let t = targets(None, &e).unwrap();
    assert_eq!((t[0].host.as_str(), t[0].prefix.as_str()), ("localhost:5000", "localhost:5000/team"));
    assert!(t[0].credentials.is_none());
    let t = targets(Some("127.0.0.1:5000"), &e).unwrap();
    assert_eq!(t[0].prefix, "127.0.0.1:5000");
    let e = env(&[("XTASK_REGISTRY_USERNAME", "u"), ("XTASK_REGISTRY_PASSWORD", "p")]);
    assert_eq!(targets(Some("r:1"), &e).unwrap()[0].credentials.as_ref().unwrap().user, "u");
    assert!(targets(Some("r:1"), &env(&[("XTASK_REGISTRY_PASSWORD", "p")])).is_err());
}

#[test]
fn registry_problems_are_classified() {
    assert_eq!(classify("Error response from daemon: login attempt to http://127.0.0.1:5000/v2/ failed with status: 401 Unauthorized"), Some(Problem::Auth));
    assert_eq!(classify("dial tcp 127.0.0.1:5999: connect: connection refused"), Some(Problem::Unreachable));
    assert_eq!(classify("something else"), None);
}

#[test]
fn a_runs_docker_config_is_private_holds_the_plugin_and_goes_with_the_run() {
    let sh = Shell::new().unwrap();
    let anonymous = [Target { host: "r:1".into(), prefix: "r:1/x".into(), credentials: None }];
    assert!(RunConfig::login_all(&sh, &anonymous, None).unwrap().is_none(), "no credentials, no config of its own");
    assert!(!RunConfig::path().exists());
    let config = RunConfig::new(Some(Path::new("/opt/buildx/docker-buildx"))).unwrap();
    let dir = config.dir().to_path_buf();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(
        std::fs::read_link(dir.join("cli-plugins/docker-buildx")).unwrap(),
        Path::new("/opt/buildx/docker-buildx")
    );
    drop(config);
    assert!(!dir.exists(), "removed when the run ends");
}

#[test]
fn the_registry_line_says_which_and_why() {
    let recorded = |k: &str| match k {
        "XTASK_REGISTRY" => Some("127.0.0.1:5000/mlops".to_string()),
        "XTASK_SERVICES_GAVE" => Some("KUBECONFIG,XTASK_REGISTRY".to_string()),
        "XTASK_SERVICES_USED" => Some("/var/lib/xtask/services.json".to_string()),
        _ => None,
    };
    assert_eq!(
        line(None, &recorded),
        "registry: 127.0.0.1:5000/mlops (XTASK_REGISTRY from the services record /var/lib/xtask/services.json: set XTASK_REGISTRY or pass its flag to use another)"
    );
    assert_eq!(line(Some("ghcr.io/me"), &recorded), "registry: ghcr.io/me (--registry)");
    let own = |k: &str| (k == "XTASK_REGISTRY").then(|| "reg.example/team".to_string());
    assert_eq!(line(None, &own), "registry: reg.example/team (XTASK_REGISTRY from the environment)");
    assert_eq!(
        line(None, &|_| None),
        "registry: none set: --registry or XTASK_REGISTRY names the one images are pushed to"
    );
}
