//! `cargo xtask services` against this machine, without touching what runs
//! here: the registry cases use a registry of their own (a free port, a
//! temp folder for its password and storage) in a fixture repo, and a
//! machine record in a temp folder (`XTASK_SERVICES_MACHINE_DIR`) or the
//! fixture's own `target/xtask/services.json` (`XTASK_SERVICES_FILE`).

use crate::support;

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{alive, free_port, Repo, Run};

/// A fixture repo anyone may read (a non-root run must find its root).
fn open_repo() -> Repo {
    use std::os::unix::fs::PermissionsExt;
    let repo = Repo::new();
    for dir in [repo.root().to_path_buf(), repo.path("components")] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    repo
}

/// The services command on `repo` with a registry of its own at `port`.
fn services(repo: &Repo, port: u16, args: &[&str]) -> Run {
    let mut cmd = repo.command(&[&["services"], args].concat());
    cmd.env("XTASK_REGISTRY_ADDR", format!("127.0.0.1:{port}")).env("XTASK_REGISTRY_DIR", repo.path("registry"));
    support::run(cmd)
}

/// `args` on `repo` reading and writing the machine record in `machine`
/// (no override), with the registry of `port` kept in `registry`.
fn on_machine(repo: &Repo, machine: &Path, port: u16, registry: &Path, args: &[&str]) -> Run {
    let mut cmd = repo.command(args);
    cmd.env_remove("XTASK_SERVICES_FILE").env("XTASK_SERVICES_MACHINE_DIR", machine);
    cmd.env("XTASK_REGISTRY_ADDR", format!("127.0.0.1:{port}")).env("XTASK_REGISTRY_DIR", registry);
    support::run(cmd)
}

/// A checkout with the repo's layout that runs the xtask's own tests.
fn checkout() -> Repo {
    let repo = open_repo();
    repo.write("Cargo.toml", "[workspace]\n");
    repo.write("xtask/tests/image_stage.rs", "");
    repo.write("xtask/tests/lib.rs", "mod image_stage;\n");
    repo
}

fn one_line_error(run: &Run) -> &str {
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    run.stderr.trim()
}

fn recorded_pid(repo: &Repo, service: &str) -> u32 {
    let state: serde_json::Value = serde_json::from_str(&repo.read("target/xtask/services.json")).unwrap();
    state["services"][service]["processes"][0]["pid"].as_u64().unwrap() as u32
}

/// Stops the fixture's own registry however the test ends.
struct Down<'a>(&'a Repo, u16);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        services(self.0, self.1, &["down", "registry"]);
    }
}

#[test]
fn a_stale_record_is_detected_not_trusted_and_the_service_started_again_then_down_twice_is_fine() {
    let repo = open_repo();
    repo.write("Cargo.toml", "[workspace]\n");
    // An xtask test that uses the registry: its suite's command carries the record's variables.
    repo.write("xtask/tests/image_stage.rs", "");
    repo.write("xtask/tests/lib.rs", "mod image_stage;\n");
    let port = free_port();
    let _down = Down(&repo, port);
    let run = services(&repo, port, &["up", "registry"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(&format!("registry     up  127.0.0.1:{port}, user xtask")), "{}", run.stdout);
    assert!(run.stdout.ends_with("recorded in target/xtask/services.json\n"), "{}", run.stdout);
    let first = recorded_pid(&repo, "registry");
    // Up again: found running, kept.
    let run = services(&repo, port, &["up", "registry"]);
    assert!(run.stdout.contains("(already running)"), "{}", run.stdout);
    assert_eq!(recorded_pid(&repo, "registry"), first);

    // Killed hard: the record now names a process that is gone.
    // SAFETY: kill(2) of the registry this test started.
    unsafe { libc::kill(first as i32, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(first) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let run = services(&repo, port, &["status", "registry"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains(&format!(
            "registry     down nothing answers on 127.0.0.1:{port} (recorded, stale: registry pid {first} is gone)"
        )),
        "{}",
        run.stdout
    );
    // Any other command names it and does not use it.
    let run = repo.run(&["components"]);
    assert!(run.stderr.contains(&format!("records registry (registry pid {first} is gone), which no longer runs: `cargo xtask services up` starts them again")), "{}", run.stderr);
    let run = repo.run(&["test", "xtask", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !run.stdout.contains(&format!("127.0.0.1:{port}")),
        "a stale record gives the tests nothing: {}",
        run.stdout
    );

    let run = services(&repo, port, &["up", "registry"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!("the record names registry pid {first}, which is gone: checking it afresh")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(&format!("starting docker-registry on 127.0.0.1:{port}")), "{}", run.stdout);
    let second = recorded_pid(&repo, "registry");
    assert!(second != first && alive(second));
    let run = repo.run(&["test", "xtask", "--dry-run"]);
    assert!(run.stdout.contains(&format!("XTASK_TEST_REGISTRY=127.0.0.1:{port} ")), "{}", run.stdout);

    let run = services(&repo, port, &["down", "registry"]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, format!("{OVERRIDE}registry     stopped the registry on 127.0.0.1:{port}\n").as_str())
    );
    assert!(!alive(second));
    assert!(!repo.read("target/xtask/services.json").contains("\"registry\""), "down drops the record");
    let run = services(&repo, port, &["down", "registry"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, format!("{OVERRIDE}registry     not running\n").as_str()));
}

const OVERRIDE: &str = "services: target/xtask/services.json (XTASK_SERVICES_FILE: this checkout's override)\n";

#[test]
fn a_second_checkout_finds_the_services_the_first_recorded_and_an_old_record_moves() {
    use std::os::unix::fs::PermissionsExt;
    let (first, second) = (checkout(), checkout());
    let machine = tempfile::tempdir().unwrap();
    let registry = first.path("registry");
    let port = free_port();
    struct Stop<'a>(&'a Repo, &'a Path, u16, &'a Path);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            on_machine(self.0, self.1, self.2, self.3, &["services", "down", "registry"]);
        }
    }
    let _stop = Stop(&first, machine.path(), port, &registry);
    // The first checkout's record from before machine records: read as such, then moved by `up`.
    first.write("target/xtask/services.json", "{\"format\": 1, \"services\": {}}\n");
    let run = on_machine(&first, machine.path(), port, &registry, &["components"]);
    assert!(
        run.stderr.contains("services: target/xtask/services.json (this checkout's record from before machine records: `cargo xtask services up` moves it to "),
        "{}",
        run.stderr
    );
    let run = on_machine(&first, machine.path(), port, &registry, &["services", "up", "registry"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let record = machine.path().join("services.json");
    assert!(
        run.stdout.starts_with(&format!("services: {} (the machine record)\n", record.display())),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!(
            "moved this checkout's record target/xtask/services.json to {}: every checkout on this machine reads it",
            record.display()
        )),
        "{}",
        run.stdout
    );
    assert!(!first.path("target/xtask/services.json").exists());
    let mode = std::fs::metadata(&record).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "readable by all, writable by root only");

    // Another checkout (a clone, a worktree) reads the same record, and says which and why.
    let run = on_machine(&second, machine.path(), port, &registry, &["test", "xtask", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains(&format!("services: {} (the machine record)\n", record.display())), "{}", run.stderr);
    assert!(run.stdout.contains(&format!("XTASK_TEST_REGISTRY=127.0.0.1:{port} ")), "{}", run.stdout);
    let run = on_machine(&second, machine.path(), port, &registry, &["services", "status", "registry"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("(recorded)"), "{}", run.stdout);

    // A record others could write is not trusted: named, and not used.
    std::fs::set_permissions(&record, std::fs::Permissions::from_mode(0o666)).unwrap();
    let run = on_machine(&second, machine.path(), port, &registry, &["test", "xtask", "--dry-run"]);
    assert!(
        run.stderr.contains(&format!(
            "note: the services record {} is ignored: the file is writable by its group or others (mode 666) (only root's or your own is trusted)",
            record.display()
        )),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains(&format!("127.0.0.1:{port}")), "{}", run.stdout);
    std::fs::set_permissions(&record, std::fs::Permissions::from_mode(0o644)).unwrap();
}

#[test]
fn a_port_held_by_something_else_is_named() {
    let repo = open_repo();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let run = services(&repo, port, &["up", "registry"]);
    let err = one_line_error(&run);
    let me = std::fs::read_link("/proc/self/exe").unwrap();
    assert_eq!(
        err,
        format!(
            "error: 127.0.0.1:{port} is held by {} (pid {}), not the xtask's registry: stop it, or set XTASK_REGISTRY_ADDR to a free address",
            me.display(),
            std::process::id()
        )
    );
    drop(listener);
}

#[test]
fn up_without_root_or_without_docker_is_one_line_naming_the_fix() {
    let repo = open_repo();
    // As another user: the engine refuses it, or starting what is missing needs root.
    let xtask = env!("CARGO_BIN_EXE_xtask");
    // SAFETY: geteuid(2) cannot fail.
    let mut cmd = if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", xtask]);
        c
    } else {
        Command::new(xtask)
    };
    cmd.args(["--root", repo.root().to_str().unwrap(), "services", "up"]).env("HOME", repo.root());
    let run = support::run(cmd);
    let err = one_line_error(&run);
    assert!(err.contains("as root"), "{err}");

    // No Docker, and nothing to install it with.
    let empty = tempfile::tempdir().unwrap();
    let mut cmd = repo.command(&["services", "up", "docker"]);
    cmd.env("PATH", empty.path());
    let run = support::run(cmd);
    assert_eq!(
        one_line_error(&run),
        "error: docker, dockerd are not installed and there is no apt-get to install docker.io: install them, then run `cargo xtask services up` again"
    );
    assert!(!repo.path("target/xtask/services.json").exists(), "nothing recorded");
}

#[test]
fn the_node_as_a_user_without_passwordless_sudo_is_one_line_naming_the_fix() {
    let repo = open_repo();
    let xtask = env!("CARGO_BIN_EXE_xtask");
    let bin = repo.path("bin");
    let node_up = ["--root", repo.root().to_str().unwrap(), "node", "up", "--bin", bin.to_str().unwrap()];
    // SAFETY: geteuid(2) cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let as_nobody = |path: &str| {
        // root asks as nobody; another user (a runner's, with sudo) is itself
        let mut c = if root {
            let mut c = Command::new(which::which("setpriv").expect("setpriv (util-linux)"));
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", xtask]);
            c
        } else {
            Command::new(xtask)
        };
        // The fixture's own services record (none), not the machine's.
        let own = repo.path("target/xtask/services.json");
        c.args(node_up).env("PATH", path).env("HOME", repo.root()).env("XTASK_SERVICES_FILE", own);
        c.env_remove("GITHUB_ACTIONS");
        support::run(c)
    };
    // No sudo on PATH: it says so, for any user.
    let empty = tempfile::tempdir().unwrap();
    let run = as_nobody(empty.path().to_str().unwrap());
    assert_eq!(
        one_line_error(&run),
        "error: the real node (containers, mounts, iptables) needs root, and sudo is not installed: install it and allow this user passwordless sudo, or run as root (XTASK_KUBE_NODE=0 runs the cluster without the node)"
    );
    // sudo that wants a password (nobody has no sudoers entry): its own line, quoted.
    if root && which::which("sudo").is_ok() {
        let run = as_nobody("/usr/sbin:/usr/bin:/sbin:/bin");
        let err = one_line_error(&run);
        assert!(
            err.starts_with(
                "error: the real node (containers, mounts, iptables) needs root, and `sudo -n` refused (sudo: "
            ),
            "{err}"
        );
        assert!(err.ends_with("): allow this user passwordless sudo (NOPASSWD), or run as root (XTASK_KUBE_NODE=0 runs the cluster without the node)"), "{err}");
    }
    assert!(!repo.path("target/xtask/services.json").exists(), "nothing recorded");
}

#[test]
fn unknown_services_and_keys_list_what_there_is() {
    let repo = open_repo();
    for args in [&["up", "kubernetes"][..], &["down", "kubernetes"], &["status", "kubernetes"]] {
        let run = services(&repo, 1, args);
        assert_eq!(
            one_line_error(&run),
            "error: unknown service `kubernetes`: the services are docker, registry, base-images, buildx, kube, otelcol, signing",
            "{args:?}"
        );
    }
    let run = services(&repo, 1, &["key", "registry"]);
    assert!(one_line_error(&run).contains(
        "only `kube` (the control plane's binaries), `otelcol` (the collector), `buildx` (buildx and BuildKit) and `signing` (cosign and syft) have"
    ));
    // The control plane's (and buildx's) key: the pins' hash, and where the build goes.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for name in ["kube", "buildx"] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(["--root", root.to_str().unwrap(), "services", "key", name]).env_remove("GITHUB_OUTPUT");
        let run = support::run(cmd);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let lines: Vec<&str> = run.stdout.lines().collect();
        let prefix = format!("key=xtask-{name}-linux-");
        assert!(
            lines[0].starts_with(&prefix) && lines[0].len() == prefix.len() + std::env::consts::ARCH.len() + 1 + 16,
            "{}",
            run.stdout
        );
        assert!(
            lines[1].starts_with("path=") && lines[1].ends_with(&lines[0][lines[0].len() - 16..]),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn a_full_wipe_needs_purge_and_every_service() {
    let repo = open_repo();
    let run = services(&repo, 1, &["down", "--caches"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("--purge"), "{}", run.stderr);
    let run = services(&repo, 1, &["down", "registry", "--purge", "--caches"]);
    assert_eq!(
        one_line_error(&run),
        "error: --caches wipes what every service installed or cached: name no service (`cargo xtask services down --purge --caches`)"
    );
    assert!(run.stdout.is_empty(), "nothing stopped: {}", run.stdout);
}
