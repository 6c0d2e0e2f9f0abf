use super::*;
use crate::images::checks::{base_image, base_missing, dockerfile_default, not_built, BaseFrom};
use crate::images::pushed_digest;
use crate::images::report::{self, Image, Images, Pushed};
use crate::images::tags::TagSet;

fn workspace() -> (tempfile::TempDir, Workspace) {
    crate::testkit::workspace(&[
        ("components/storage/pyproject.toml", "[project]\nname = \"storage\"\n"),
        ("components/storage/Dockerfile", "FROM x\n"),
        ("components/spark/pyproject.toml", "[project]\nname = \"spark\"\n[tool.xtask]\nbase-image = \"local/jre\"\n"),
        ("components/spark/Dockerfile", "FROM x\n"),
    ])
}

fn target(prefix: &str) -> Target {
    Target { host: prefix.split('/').next().unwrap().into(), prefix: prefix.into(), credentials: None }
}

static BX: std::sync::LazyLock<Buildx> = std::sync::LazyLock::new(|| Buildx {
    config: "/var/lib/xtask-buildx".into(),
    cache: crate::images::buildx::Cache::Registry("ghcr.io/o".into()),
});
static NO_LIMITS: std::sync::LazyLock<BTreeMap<String, Use>> = std::sync::LazyLock::new(BTreeMap::new);
static SPARK_BASE: std::sync::LazyLock<BTreeMap<String, String>> = std::sync::LazyLock::new(|| {
    [("spark".to_string(), "local/jre=oci-layout:///c/oci/ab@sha256:12".to_string())].into()
});

fn request<'a>(tags: &'a TagSet, targets: &'a [Target], push: bool, buildx: bool) -> Request<'a> {
    Request {
        build: true,
        push,
        no_cache: false,
        tags,
        targets,
        base_image: Some("local/python"),
        source_url: Some("https://github.com/o/r"),
        epoch: 1_767_323_045,
        buildx: buildx.then_some(&*BX),
        cache_use: &NO_LIMITS,
        base_contexts: &SPARK_BASE,
        docker_config: None,
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
        "SOURCE_DATE_EPOCH=1767323045 docker build --file target/xtask/image/storage/Dockerfile --build-arg BASE_IMAGE=local/python \
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
fn a_components_own_base_image_wins_as_a_named_context_and_a_push_caches_in_the_registry() {
    let (_dir, ws) = workspace();
    let comps = ws.select(&["spark".into()]).unwrap();
    let tags = release();
    let targets = [target("ghcr.io/o"), target("docker.io/me")];
    let tasks = plan(&ws, &comps, &request(&tags, &targets, true, true));
    let build = tasks[0].command_line(&ws.root);
    assert!(
        build.starts_with(
            "SOURCE_DATE_EPOCH=1767323045 DOCKER_CONFIG=/var/lib/xtask-buildx docker buildx build --output type=docker,rewrite-timestamp=true,compression=uncompressed --cache-from type=registry,ref=ghcr.io/o/spark:buildcache"
        ),
        "{build}"
    );
    assert!(build.contains("--cache-to type=registry,ref=ghcr.io/o/spark:buildcache,mode=max"), "{build}");
    assert!(
        build.contains("--build-arg BASE_IMAGE=local/jre --build-context local/jre=oci-layout:///c/oci/ab@sha256:12")
    );
    assert!(build.contains("--tag ghcr.io/o/spark:latest") && build.contains("--tag docker.io/me/spark:1.2.3"));
    assert_eq!(tasks.len(), 7);
    assert_eq!(tasks[6].id, "push:spark:docker.io:latest");
    // A run that logged in: its own config for the build and the pushes, the builder by BUILDX_CONFIG.
    let run = Path::new("/tmp/xtask-docker-config.1");
    let tasks = plan(&ws, &comps, &Request { docker_config: Some(run), ..request(&tags, &targets, true, true) });
    let env = |t: &Task| t.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>();
    assert!(env(&tasks[0]).contains(&"DOCKER_CONFIG=/tmp/xtask-docker-config.1".to_string()));
    assert!(env(&tasks[0]).contains(&"BUILDX_CONFIG=/var/lib/xtask-buildx/buildx".to_string()));
    assert_eq!(env(&tasks[1]), ["DOCKER_CONFIG=/tmp/xtask-docker-config.1"]);
    // Plain docker build takes no named context (the engine has the base).
    let tasks = plan(&ws, &comps, &request(&tags, &targets, true, false));
    assert!(!tasks[0].command_line(&ws.root).contains("--build-context"));
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
    // The summary prints the build log's tail before this reason.
    assert!(matches!(
        review(build, Some(1), "The command '/bin/sh -c false' returned a non-zero code: 1"),
        Outcome::Failed(why) if why.ends_with("see the build log's tail above")
    ));
    assert!(
        matches!(review(push, Some(1), "unauthorized: authentication required"), Outcome::Error(e) if e.contains("authentication failed") && e.contains("XTASK_REGISTRY_USERNAME and XTASK_REGISTRY_PASSWORD_FILE"))
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
    use crate::images::context::wheel_requirement;
    assert_eq!(
        wheel_requirement("pyarrow-26.0.1-cp311-cp311-manylinux_2_28_x86_64.whl").as_deref(),
        Some("pyarrow==26.0.1")
    );
    assert_eq!(wheel_requirement("notes.txt"), None);
}

#[test]
fn the_base_image_is_the_components_own_then_its_config_then_the_global_one() {
    let (_dir, ws) = workspace();
    let (storage, spark) = (ws.get("storage").unwrap(), ws.get("spark").unwrap());
    let none = |_: &str| None;
    assert_eq!(base_image(storage, None, &none), None);
    assert_eq!(base_image(storage, Some("g"), &none), Some(("g".into(), BaseFrom::Global)));
    assert_eq!(base_image(spark, Some("g"), &none), Some(("local/jre".into(), BaseFrom::Config)));
    let own = |k: &str| (k == "XTASK_BASE_IMAGE_SPARK").then(|| "mine".to_string());
    assert_eq!(
        base_image(spark, Some("g"), &own),
        Some(("mine".into(), BaseFrom::Own("XTASK_BASE_IMAGE_SPARK".into())))
    );
    assert_eq!(
        dockerfile_default("# c\nARG BASE_IMAGE=python:3.11-slim\nFROM ${BASE_IMAGE}\n").as_deref(),
        Some("python:3.11-slim")
    );
    assert_eq!(dockerfile_default("arg BASE_IMAGE=\"a/b:1\"\n").as_deref(), Some("a/b:1"));
    assert_eq!(dockerfile_default("ARG BASE_IMAGE\nFROM x\n"), None);
}

#[test]
fn a_missing_base_image_names_what_to_change_for_where_it_came_from() {
    let why = "no registry that has it is reachable";
    let msg = base_missing("storage", "python:3.11-slim", &BaseFrom::Dockerfile, why);
    assert_eq!(
        msg,
        "base image python:3.11-slim of storage is neither local nor pullable (no registry that has it is reachable): \
         build the local base images with `cargo xtask services up base-images`, then set XTASK_BASE_IMAGE=local/python:3.11-bookworm (or pass --base-image)"
    );
    let msg = base_missing("spark", "local/python-jre:3.11-bookworm", &BaseFrom::Config, why);
    assert!(msg.contains("or set XTASK_BASE_IMAGE_SPARK to an image you have"), "{msg}");
    assert!(!msg.contains('\n'));
}

fn image(id: &str, repos: &[&str], pushed: &[(&str, &str, &str)]) -> Image {
    Image {
        image_id: id.into(),
        repositories: repos.iter().map(|r| r.to_string()).collect(),
        tags: vec!["abc".into()],
        version: None,
        commit: "abc".into(),
        reference: Some("refs/heads/main".into()),
        dirty: false,
        pushed: pushed
            .iter()
            .map(|(r, t, d)| Pushed { repository: r.to_string(), tag: t.to_string(), digest: d.to_string() })
            .collect(),
        reproducible: None,
    }
}

#[test]
fn a_rebuild_of_a_clean_commit_says_whether_it_was_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let first = report::update(dir.path(), vec![("storage".into(), image("sha256:1", &["r/s"], &[]))], true).unwrap();
    assert!(first.is_empty(), "{first:?}");
    let same = report::update(dir.path(), vec![("storage".into(), image("sha256:1", &["r/s"], &[]))], true).unwrap();
    assert_eq!(same, ["storage: reproducible: this rebuild of abc is the same image (sha256:1)"]);
    assert_eq!(report::read(dir.path()).unwrap().components["storage"].reproducible, Some(true));
    let other = report::update(dir.path(), vec![("storage".into(), image("sha256:2", &["r/s"], &[]))], true).unwrap();
    assert_eq!(other, ["storage: NOT reproducible: this rebuild of abc is sha256:2, the earlier build was sha256:1"]);
    assert_eq!(report::read(dir.path()).unwrap().components["storage"].reproducible, Some(false));
    // A push alone builds nothing: it says nothing about it.
    assert!(report::update(dir.path(), vec![("storage".into(), image("sha256:2", &["q/s"], &[]))], false)
        .unwrap()
        .is_empty());
    // Another commit, or a dirty tree, is no rebuild.
    let dirty = Image { dirty: true, ..image("sha256:3", &["r/s"], &[]) };
    assert_eq!(report::reproducible(Some(&image("sha256:3", &[], &[])), &dirty), None);
}

#[test]
fn the_report_merges_the_same_image_and_replaces_another() {
    let old = image("sha256:1", &["local/s", "r/s"], &[("r/s", "abc", "sha256:d1")]);
    // The same image pushed to another registry: both names, both pushes.
    let merged = report::merge(Some(old.clone()), image("sha256:1", &["q/s"], &[("q/s", "abc", "sha256:d2")]));
    assert_eq!(merged.repositories, ["local/s", "r/s", "q/s"]);
    assert_eq!(merged.pushed.len(), 2);
    // Pushed again: the newer digest replaces the older one of that reference.
    let merged = report::merge(Some(merged), image("sha256:1", &["r/s"], &[("r/s", "abc", "sha256:d3")]));
    let digests: Vec<&str> = merged.pushed.iter().map(|p| p.digest.as_str()).collect();
    assert_eq!(digests, ["sha256:d2", "sha256:d3"]);
    // A rebuild that pushed nothing keeps what was pushed.
    assert_eq!(report::merge(Some(old.clone()), image("sha256:1", &["local/s"], &[])).pushed, old.pushed);
    // Another image: its pushes were of the old one, so they go.
    let new = image("sha256:2", &["local/s"], &[]);
    assert_eq!(report::merge(Some(old), new.clone()), new);
    let json = serde_json::to_value(&new).unwrap();
    assert_eq!(json["ref"], "refs/heads/main");
    assert_eq!(json["pushed"], serde_json::json!([]));
}

#[test]
fn a_push_of_an_image_not_here_names_the_build_or_the_tag() {
    let missing = [("storage".to_string(), "r:1/x/storage:abc".to_string())];
    let mut known = Images::default();
    assert_eq!(
        not_built(&missing, &known, " --registry r:1/x"),
        "r:1/x/storage:abc is not an image here: build it first (cargo xtask image build storage --registry r:1/x)"
    );
    known.components.insert("storage".into(), image("sha256:1", &["local/storage"], &[]));
    let two = [missing[0].clone(), ("storage".to_string(), "r:1/x/storage:ab".to_string())];
    assert_eq!(
        not_built(&two, &known, ""),
        "r:1/x/storage:abc is not an image here: build it first (cargo xtask image build storage), \
         or name the image built earlier so (docker tag local/storage:abc r:1/x/storage:abc) (and 1 more references are not here)"
    );
}
