//! The image stage on fixture components against a real Docker engine and a real registry with
//! htpasswd auth on loopback (`cargo xtask services up` starts both). Missing either fails
//! these tests: they never pass by skipping.

use crate::support;

use std::process::Command;

use support::git::head;
use support::images::{git_repo, images_json, GOOD};
use support::registry::{docker, engine_and_registry};
use support::{git, unique, Repo};

const BAD: &str =
    "ARG BASE_IMAGE=local/python:3.11-bookworm\nFROM ${BASE_IMAGE}\nRUN echo planted-build-failure && false\n";

#[test]
fn bad_input_gets_one_clear_line() {
    let reg = engine_and_registry();
    let repo = git_repo(&[("good", GOOD)]);
    let run = repo.run(&["image", "build", "nope"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("unknown component `nope`: known components are good"));

    let other = Repo::new();
    other.passing("plain");
    let run = other.run(&["image", "build", "plain"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("components/plain has no Dockerfile, so it has no image: add one"), "{}", run.stderr);

    let run = repo.run(&["image", "build", "--ref", "refs/tags/banana"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("tag `banana` is not a release version"), "{}", run.stderr);

    let mut cmd = repo.command(&["image", "build"]);
    cmd.env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    let run = support::run(cmd);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("the Docker daemon is not running: start it"), "{}", run.stderr);

    // Registry unreachable: a loopback port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut cmd = repo.command(&["image", "build", "--push", "--registry", &format!("127.0.0.1:{closed}/x")]);
    cmd.env("XTASK_REGISTRY_USERNAME", "xtask").env("XTASK_REGISTRY_PASSWORD", "irrelevant");
    let run = support::run(cmd);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains(&format!("cannot reach registry 127.0.0.1:{closed}")), "{}", run.stderr);

    // Wrong password: auth fails, and the password appears nowhere.
    let wrong = format!("wrong-{}", unique());
    let config = tempfile::tempdir().unwrap();
    let mut cmd = repo.command(&["image", "build", "--push", "--registry", &format!("{}/x", reg.host)]);
    cmd.env("XTASK_REGISTRY_USERNAME", &reg.user)
        .env("XTASK_REGISTRY_PASSWORD", &wrong)
        .env("DOCKER_CONFIG", config.path());
    let run = support::run(cmd);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("authentication failed for user xtask (check XTASK_REGISTRY_PASSWORD)"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains(&wrong) && !run.stderr.contains(&wrong));
    for f in ["target/xtask/report.json", "target/xtask/images.json"] {
        assert!(std::fs::read_to_string(repo.path(f)).map_or(true, |t| !t.contains(&wrong)));
    }

    // A release tag that is not the checked-out commit.
    git(repo.root(), &["tag", "v1.0.0"]);
    repo.write("components/good/src/good_pkg/later.py", "Y = 2\n");
    git(repo.root(), &["add", "-A"]);
    git(repo.root(), &["commit", "-qm", "later"]);
    let run = repo.run(&["image", "build", "--ref", "refs/tags/v1.0.0"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("tag v1.0.0 is commit"), "{}", run.stderr);
    assert!(run.stderr.contains("check the tag out first"), "{}", run.stderr);

    // Uncommitted changes: pushing is refused unless allowed.
    repo.write("components/good/src/good_pkg/extra.py", "X = 1\n");
    let run = repo.run(&["image", "build", "--push", "--registry", "127.0.0.1:5000/x"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("(components/good/src/good_pkg/extra.py): commit them before pushing, or pass --allow-dirty"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_failing_dockerfile_shows_its_log_tail_and_the_others_still_build_and_push() {
    let reg = engine_and_registry();
    let repo = git_repo(&[("bad", BAD), ("good", GOOD)]);
    let ns = format!("{}/xtask-test-{}", reg.host, unique());
    let config = tempfile::tempdir().unwrap();
    let mut cmd = repo.command(&["image", "build", "--push", "--registry", &ns, "--tag", "fixture", "-j", "1"]);
    support::signing(&mut cmd)
        .env("XTASK_REGISTRY_USERNAME", &reg.user)
        .env("XTASK_REGISTRY_PASSWORD_FILE", &reg.password_file)
        .env("DOCKER_CONFIG", config.path());
    let run = support::run(cmd);
    assert_eq!(run.code, 1);
    let summary = &run.stdout[run.stdout.find("summary of image build").unwrap()..];
    assert!(summary.contains("build:good         passed"), "{summary}");
    assert!(summary.contains("push:good:fixture  passed"), "{summary}");
    assert!(summary.contains("push:bad:fixture   not run"), "{summary}");
    assert!(summary.contains("build:bad          failed"), "{summary}");
    assert!(summary.contains("planted-build-failure"), "{summary}");
    // The tail comes first, and the failure's line points up at it.
    let tail = summary.find("build:bad: build log tail:").expect(summary);
    let pointer = summary.find("build:bad: docker build failed: see the build log's tail above").expect(summary);
    assert!(tail < pointer, "{summary}");
    let images = images_json(repo.root());
    assert!(images["components"].get("bad").is_none(), "bad was not built");
    assert!(images["components"]["good"]["image_id"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(images["components"]["good"]["pushed"][0]["repository"], format!("{ns}/good"));
    assert!(images["components"]["good"]["pushed"][0]["digest"].as_str().unwrap().starts_with("sha256:"));
    docker(&["rmi", &format!("{ns}/good:fixture")]);
}

#[test]
fn a_push_names_the_build_it_needs_and_the_report_keeps_every_image_id_and_digest() {
    let reg = engine_and_registry();
    let repo = git_repo(&[("good", GOOD)]);
    let sha = head(repo.root());
    let ns = format!("{}/xtask-test-{}", reg.host, unique());
    let config = tempfile::tempdir().unwrap();
    let run = repo.run(&["image", "build", "good"]);
    assert_eq!(run.code, 0);
    let built = images_json(repo.root())["components"]["good"].clone();
    let id = built["image_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("sha256:"));
    assert_eq!(built["repositories"], serde_json::json!(["local/good"]));
    assert_eq!(built["commit"], sha);

    // Built without a registry, so nothing is named for it yet: say which build to run.
    let push = || {
        let mut cmd = repo.command(&["image", "push", "good", "--registry", &ns]);
        support::signing(&mut cmd)
            .env("XTASK_REGISTRY_USERNAME", &reg.user)
            .env("XTASK_REGISTRY_PASSWORD_FILE", &reg.password_file)
            .env("DOCKER_CONFIG", config.path());
        support::run(cmd)
    };
    let run = push();
    assert_eq!(run.code, 2);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "{ns}/good:{sha} is not an image here: build it first (cargo xtask image build good --registry {ns}), \
             or name the image built earlier so (docker tag local/good:{sha} {ns}/good:{sha}) (and 1 more references are not here)"
        )),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("does not exist locally"), "{}", run.stderr);

    // Do as told; the push then records the digests beside the id the build recorded.
    for tag in [&sha[..], &sha[..7]] {
        assert!(docker(&["tag", &format!("local/good:{tag}"), &format!("{ns}/good:{tag}")]).status.success());
    }
    let run = push();
    assert_eq!(run.code, 0);
    let pushed = images_json(repo.root())["components"]["good"].clone();
    assert_eq!(pushed["image_id"], id.as_str());
    assert_eq!(pushed["repositories"], serde_json::json!(["local/good", format!("{ns}/good")]));
    assert_eq!(pushed["tags"], serde_json::json!([sha.clone(), sha[..7].to_string()]));
    let refs: Vec<(String, String)> = pushed["pushed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert!(p["digest"].as_str().unwrap().starts_with("sha256:"), "{p}");
            (p["repository"].as_str().unwrap().to_string(), p["tag"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(refs, [(format!("{ns}/good"), sha.clone()), (format!("{ns}/good"), sha[..7].to_string())]);

    // Rebuilding the unchanged component is the same image: its pushes stay on record.
    let run = repo.run(&["image", "build", "good"]);
    assert_eq!(run.code, 0);
    let mut rebuilt = images_json(repo.root())["components"]["good"].clone();
    // The rebuild also says it was reproducible (the same image id as the one on record).
    assert_eq!(rebuilt.as_object_mut().unwrap().remove("reproducible"), Some(serde_json::json!(true)), "{rebuilt}");
    let mut before = pushed.clone();
    before.as_object_mut().unwrap().remove("reproducible");
    assert_eq!(rebuilt, before);
    let leftovers = std::fs::read_dir(repo.path("target/xtask")).unwrap().filter_map(|e| e.ok());
    assert!(!leftovers.into_iter().any(|e| e.file_name().to_string_lossy().ends_with(".tmp")), "a temp file was left");
    for tag in [&sha[..], &sha[..7]] {
        docker(&["rmi", &format!("{ns}/good:{tag}"), &format!("local/good:{tag}")]);
    }
}

#[test]
fn an_unchanged_component_keeps_its_image_id() {
    engine_and_registry();
    let repo = git_repo(&[("good", GOOD)]);
    let sha = head(repo.root());
    let id = || images_json(repo.root())["components"]["good"]["image_id"].as_str().unwrap().to_string();
    assert_eq!(repo.run(&["image", "build", "good"]).code, 0);
    let first = id();
    // As on a fresh checkout: the wheel is built again and the context made anew.
    std::fs::remove_dir_all(repo.path("target/xtask/wheels")).unwrap();
    std::fs::remove_dir_all(repo.path("target/xtask/image")).unwrap();
    assert_eq!(repo.run(&["image", "build", "good"]).code, 0);
    assert_eq!(id(), first, "the same commit built twice gave two images");
    // The created label is the commit's date, not the build's.
    let when = git(repo.root(), &["show", "-s", "--format=%ct", "HEAD"]).trim().to_string();
    let label =
        docker(&["inspect", "--format", "{{index .Config.Labels \"org.opencontainers.image.created\"}}", &first]);
    let label = String::from_utf8_lossy(&label.stdout).trim().to_string();
    let date = Command::new("date").args(["-u", "-d", &format!("@{when}"), "+%Y-%m-%dT%H:%M:%SZ"]).output().unwrap();
    assert_eq!(label, String::from_utf8_lossy(&date.stdout).trim());
    docker(&["rmi", &format!("local/good:{sha}"), &format!("local/good:{}", &sha[..7])]);
}

#[test]
fn a_base_image_that_is_neither_here_nor_pullable_is_one_line_naming_the_fix() {
    engine_and_registry();
    let absent = "ARG BASE_IMAGE=xtask-test/absent-base:never\nFROM ${BASE_IMAGE}\nRUN true\n";
    let repo = git_repo(&[("lonely", absent)]);
    let run = repo.run(&["image", "build"]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    for part in [
        "base image xtask-test/absent-base:never of lonely is neither local nor pullable",
        "build the local base images with `cargo xtask services up base-images`",
        "then set XTASK_BASE_IMAGE=local/python:3.11-bookworm (or pass --base-image)",
    ] {
        assert!(run.stderr.contains(part), "{part}: {}", run.stderr);
    }
    // As told: the local base image builds it.
    let mut cmd = repo.command(&["image", "build"]);
    cmd.env("XTASK_BASE_IMAGE", "local/python:3.11-bookworm");
    assert_eq!(support::run(cmd).code, 0);
    let sha = head(repo.root());
    docker(&["rmi", &format!("local/lonely:{sha}"), &format!("local/lonely:{}", &sha[..7])]);
}

#[test]
fn a_release_ref_that_does_not_exist_is_refused() {
    let repo = git_repo(&[("good", GOOD)]);
    let run = repo.run(&["image", "build", "good", "--ref", "refs/tags/v9.9.9", "--dry-run"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr.trim(),
        "error: tag v9.9.9 does not exist in this repository: create it (git tag v9.9.9) or fetch it (git fetch --tags)"
    );
    assert!(!run.stdout.contains("9.9"), "{}", run.stdout);
    // Once the tag exists on this commit, it is a release.
    git(repo.root(), &["tag", "v9.9.9"]);
    let run = repo.run(&["image", "build", "good", "--ref", "refs/tags/v9.9.9", "--dry-run"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.contains("--tag local/good:9.9.9 --tag local/good:9.9 --tag local/good:latest"),
        "{}",
        run.stdout
    );
}

/// `{x}`: a brace a shell leaves as it is (one item, no comma); `${…}` and find's `{}` are fine.
fn single_item_brace(line: &str) -> Option<String> {
    let mut rest = line;
    while let Some(open) = rest.find('{') {
        let close = open + rest[open..].find('}')?;
        let inner = &rest[open + 1..close];
        if !inner.is_empty() && !inner.contains(',') && !rest[..open].ends_with('$') {
            return Some(rest[open..=close].to_string());
        }
        rest = &rest[close + 1..];
    }
    None
}

/// A glob inside single quotes, which no shell expands (a quoted regex, with its `\\`, is not one).
fn quoted_glob(line: &str) -> Option<&str> {
    line.split('\'').skip(1).step_by(2).find(|q| q.contains('*') && !q.contains('\\'))
}

#[test]
fn dry_run_prints_commands_a_posix_shell_runs_as_shown() {
    let repo = git_repo(&[]);
    repo.component("lib", &[], &[]);
    repo.component("app", &["fx-lib"], &[]);
    repo.write("components/app/Dockerfile", GOOD);
    git(repo.root(), &["add", "-A"]);
    git(repo.root(), &["commit", "-qm", "app"]);
    let run = repo.run(&["image", "build", "app", "--dry-run"]);
    assert_eq!(run.code, 0);
    for line in run.stdout.lines() {
        assert_eq!(single_item_brace(line), None, "{line}");
        assert_eq!(quoted_glob(line), None, "{line}");
    }
    let check = Command::new("sh").args(["-n", "-c", &run.stdout]).output().unwrap();
    assert!(check.status.success(), "sh -n: {}", String::from_utf8_lossy(&check.stderr));
    // The preparation lines, pasted into a shell, make the context the build takes.
    let prep: Vec<&str> = run.stdout.lines().filter(|l| !l.contains("docker ")).collect();
    let out = Command::new("sh").args(["-e", "-c", &prep.join("\n")]).current_dir(repo.root()).output().unwrap();
    assert!(out.status.success(), "{}\n{}", prep.join("\n"), String::from_utf8_lossy(&out.stderr));
    let ctx = repo.path("target/xtask/image/app");
    let names = |dir: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(ctx.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let app = names("wheels/app");
    assert_eq!(app.len(), 2, "{app:?}");
    assert!(app[0].starts_with("fx_app-0.1.0-") && app[1].starts_with("fx_lib-0.1.0-"), "{app:?}");
    assert_eq!(names("wheels/deps"), ["requirements.txt"]);
    assert_eq!(repo.read("target/xtask/image/app/Dockerfile"), GOOD);
}

#[test]
fn only_changes_that_can_change_an_image_make_it_dirty_and_a_push_names_them() {
    let help = |sub: &str| support::run(Repo::new().command(&["image", sub, "--help"])).stdout;
    assert!(!help("push").contains("--base-image"), "a push uses no base image");
    assert!(help("build").contains("--base-image"));

    let repo = git_repo(&[("good", GOOD)]);
    let sha = head(repo.root());
    let push = ["image", "build", "--push", "--registry", "127.0.0.1:5000/x", "--dry-run"];
    // A scratch file outside every component changes no image.
    repo.write("notes.txt", "scratch\n");
    let run = repo.run(&push);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(&format!("--tag 127.0.0.1:5000/x/good:{sha} ")), "{}", run.stdout);
    assert!(!run.stdout.contains("-dirty"), "{}", run.stdout);
    // Untracked files inside the component do: the refusal names a few of them.
    for i in 1..=5 {
        repo.write(&format!("components/good/src/good_pkg/new{i}.py"), "X = 1\n");
    }
    let run = repo.run(&push);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr.trim(),
        "error: uncommitted changes would go into the images (components/good/src/good_pkg/new1.py, \
         components/good/src/good_pkg/new2.py, components/good/src/good_pkg/new3.py and 2 more): \
         commit them before pushing, or pass --allow-dirty"
    );
    let run = repo.run(&["image", "build", "--dry-run"]);
    assert!(run.stdout.contains(&format!("--tag local/good:{sha}-dirty")), "{}", run.stdout);
}
