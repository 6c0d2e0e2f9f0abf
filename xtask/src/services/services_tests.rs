use super::*;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_service_comes_with_what_it_needs_in_start_order() {
    let known = ["docker", "registry", "base-images", "kube"];
    let needs = |n: &str| match n {
        "registry" | "base-images" => vec!["docker"],
        _ => vec![],
    };
    assert_eq!(select(&[], &known, &needs).unwrap(), known);
    assert_eq!(select(&strings(&["base-images"]), &known, &needs).unwrap(), ["docker", "base-images"]);
    assert_eq!(select(&strings(&["kube", "registry"]), &known, &needs).unwrap(), ["docker", "registry", "kube"]);
    assert_eq!(
        select(&strings(&["kubernetes"]), &known, &needs).unwrap_err(),
        "unknown service `kubernetes`: the services are docker, registry, base-images, kube"
    );
}

#[test]
fn the_real_services_need_only_services_before_them() {
    let names = names();
    for (i, s) in all().iter().enumerate() {
        for n in s.needs() {
            assert!(names[..i].contains(n), "{} needs {n}, which does not come before it", s.name());
        }
    }
}

#[test]
fn which_command_needs_which_service() {
    let tests = ["docker", "registry", "base-images", "buildx", "kube", "signing"];
    let cases: &[(&[&str], &[&str])] = &[
        (&["test"], &tests),
        (&["test", "--affected"], &tests),
        (&["test", "xtask"], &tests),
        (&["test", "storage"], &[]),
        (&["test", "VALUE"], &[]),
        (&["test", "--", "-k", "x"], &[]),
        (&["image", "build", "--push"], &["docker", "base-images", "buildx", "signing"]),
        (&["image", "build"], &["docker", "base-images", "buildx"]),
        (&["image", "push"], &["docker", "signing"]),
        (&["image", "sbom", "storage"], &["signing"]),
        (&["ci", "--plan"], &[]),
        (&["ci", "--only", "image"], &["docker", "base-images", "buildx", "signing"]),
        (&["ci", "--only=deploy"], &["signing"]),
        (&["ci", "--only", "verify"], &[]),
        (&["ci", "--only", "manifests,test"], &tests),
        (&["ci", "--event", "push", "--ref", "refs/heads/main"], &tests),
        (&["quality"], &[]),
        (&["deploy", "staging"], &["signing"]),
        (&["ci", "--only", "preview"], &["docker", "base-images", "buildx", "signing"]),
        (&["preview", "up", "--pr", "7", "--build"], &["docker", "base-images", "buildx", "signing"]),
        (&["preview", "up", "--pr", "7"], &["signing"]),
        (&["preview", "down", "--pr", "7"], &[]),
        (&["preview", "sweep"], &[]),
        (&["components", "--json"], &[]),
    ];
    for (args, want) in cases {
        assert_eq!(needed_by(args), *want, "cargo xtask {}", args.join(" "));
    }
}

#[test]
fn root_uses_machine_folders_and_a_user_its_own() {
    let env = |k: &str| match k {
        "HOME" => Some("/home/runner".to_string()),
        "XDG_CACHE_HOME" => Some("/cache".to_string()),
        _ => None,
    };
    assert_eq!(Dirs::decide(0, &env), Dirs { state: "/var/lib".into(), cache: "/var/cache".into() });
    assert_eq!(Dirs::decide(1001, &env), Dirs { state: "/home/runner/.local/state".into(), cache: "/cache".into() });
}
