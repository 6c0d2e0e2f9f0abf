use super::*;
use crate::tags::TagSet;
use std::fs;

fn workspace() -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    for (name, extra) in [("storage", ""), ("spark", "[tool.xtask]\nbase-image = \"local/jre\"\n")] {
        let c = dir.path().join("components").join(name);
        fs::create_dir_all(&c).unwrap();
        fs::write(c.join("pyproject.toml"), format!("[project]\nname = \"{name}\"\n{extra}")).unwrap();
        fs::write(c.join("Dockerfile"), "FROM x\n").unwrap();
    }
    let ws = Workspace::discover(dir.path()).unwrap();
    (dir, ws)
}

fn target(prefix: &str) -> Target {
    Target { host: prefix.split('/').next().unwrap().into(), prefix: prefix.into(), credentials: None }
}

fn request<'a>(tags: &'a TagSet, targets: &'a [Target], push: bool, github: bool) -> Request<'a> {
    Request {
        build: true,
        push,
        no_cache: false,
        tags,
        targets,
        base_image: Some("local/python"),
        source_url: Some("https://github.com/o/r"),
        created: "2026-01-02T03:04:05Z",
        github,
    }
}

fn release() -> TagSet {
    TagSet {
        tags: vec!["1.2.3".into(), "1.2".into(), "latest".into()],
        version: Some("1.2.3".into()),
        revision: "abc1234".into(),
        dirty: false,
    }
}

#[test]
fn build_then_push_every_tag_in_one_chain() {
    let (_dir, ws) = workspace();
    let comps = ws.select(&["storage".into()]).unwrap();
    let tags = release();
    let targets = [target("127.0.0.1:5000/team")];
    let tasks = plan(&ws, &comps, &request(&tags, &targets, true, false));
    let lines: Vec<String> = tasks.iter().map(|t| t.command_line(&ws.root)).collect();
    assert_eq!(
        lines[0],
        "docker build --file target/xtask/image/storage/Dockerfile --build-arg BASE_IMAGE=local/python \
         --label org.opencontainers.image.title=storage --label org.opencontainers.image.revision=abc1234 \
         --label org.opencontainers.image.version=1.2.3 --label org.opencontainers.image.created=2026-01-02T03:04:05Z \
         --label org.opencontainers.image.source=https://github.com/o/r \
         --tag 127.0.0.1:5000/team/storage:1.2.3 --tag 127.0.0.1:5000/team/storage:1.2 --tag 127.0.0.1:5000/team/storage:latest \
         --iidfile target/xtask/image/storage/image-id target/xtask/image/storage"
    );
    assert_eq!(tasks[0].needs, ["context:storage"]);
    let ids: Vec<(&str, Option<&str>)> = tasks.iter().map(|t| (t.id.as_str(), t.after.as_deref())).collect();
    assert_eq!(
        ids,
        [
            ("build:storage", None),
            ("push:storage:1.2.3", Some("build:storage")),
            ("push:storage:1.2", Some("push:storage:1.2.3")),
            ("push:storage:latest", Some("push:storage:1.2")),
        ]
    );
    assert_eq!(lines[3], "docker push 127.0.0.1:5000/team/storage:latest");
}

#[test]
fn a_components_own_base_image_wins_and_github_uses_the_gha_cache_per_component() {
    let (_dir, ws) = workspace();
    let comps = ws.select(&["spark".into()]).unwrap();
    let tags = release();
    let targets = [target("ghcr.io/o"), target("docker.io/me")];
    let tasks = plan(&ws, &comps, &request(&tags, &targets, true, true));
    let build = tasks[0].command_line(&ws.root);
    assert!(build.starts_with(
        "docker buildx build --load --cache-from type=gha,scope=spark --cache-to type=gha,mode=max,scope=spark"
    ));
    assert!(build.contains("--build-arg BASE_IMAGE=local/jre"));
    assert!(build.contains("--tag ghcr.io/o/spark:latest") && build.contains("--tag docker.io/me/spark:1.2.3"));
    assert_eq!(tasks.len(), 7);
    assert_eq!(tasks[6].id, "push:spark:docker.io:latest");
}

#[test]
fn push_alone_has_no_build() {
    let (_dir, ws) = workspace();
    let comps = ws.select(&["storage".into()]).unwrap();
    let tags = release();
    let targets = [target("r:1")];
    let tasks = plan(&ws, &comps, &Request { build: false, ..request(&tags, &targets, true, false) });
    assert_eq!(tasks[0].id, "push:storage:1.2.3");
    assert_eq!(tasks[0].after, None);
}

#[test]
fn review_tells_a_failed_build_from_a_refusing_registry() {
    let (_dir, ws) = workspace();
    let comps = ws.select(&["storage".into()]).unwrap();
    let tags = release();
    let targets = [target("r:1")];
    let tasks = plan(&ws, &comps, &request(&tags, &targets, true, false));
    let (build, push) = (&tasks[0], &tasks[1]);
    assert_eq!(review(build, Some(0), ""), Outcome::Passed);
    assert!(matches!(
        review(build, Some(1), "The command '/bin/sh -c false' returned a non-zero code: 1"),
        Outcome::Failed(_)
    ));
    assert!(
        matches!(review(push, Some(1), "unauthorized: authentication required"), Outcome::Error(e) if e.contains("authentication failed"))
    );
    assert!(
        matches!(review(push, Some(1), "dial tcp 127.0.0.1:9: connect: connection refused"), Outcome::Error(e) if e.contains("unreachable"))
    );
}

#[test]
fn digests_and_wheel_names_are_read() {
    let out = "The push refers to repository [127.0.0.1:5000/x/storage]\n1.2.3: digest: sha256:0b6d82aa size: 1570\n";
    assert_eq!(pushed_digest(out).as_deref(), Some("sha256:0b6d82aa"));
    assert_eq!(pushed_digest("no digest here"), None);
    use crate::stages::image_context::wheel_requirement;
    assert_eq!(
        wheel_requirement("pyarrow-26.0.1-cp311-cp311-manylinux_2_28_x86_64.whl").as_deref(),
        Some("pyarrow==26.0.1")
    );
    assert_eq!(wheel_requirement("notes.txt"), None);
}
