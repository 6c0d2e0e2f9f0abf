use super::*;

fn vocab() -> Vocabulary {
    let mut v = Vocabulary::new();
    v.insert("jobs:run-tests.yml".into(), ["plan", "component", "full-suite"].into_iter().map(String::from).collect());
    v.insert("commands".into(), ["image", "image build", "services up"].into_iter().map(String::from).collect());
    v.insert(
        "canary".into(),
        ["paused", "not started: the rest did not roll out"].into_iter().map(String::from).collect(),
    );
    v
}

fn node(id: &str, label: &str) -> Node {
    Node { id: id.into(), label: label.into() }
}

#[test]
fn blocks_are_found_with_their_place_and_declared_kinds() {
    let page = "# x\n\n```mermaid\n%% names: jobs:run-tests.yml commands\nflowchart LR\n  a --> b\n```\n\n```sh\nls\n```\n```mermaid\nflowchart LR\n  c\n```\n";
    let found = diagrams("docs/x.md", page);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].place, "docs/x.md:3");
    assert_eq!(found[0].kinds, ["jobs:run-tests.yml", "commands"]);
    assert_eq!(found[0].text, "%% names: jobs:run-tests.yml commands\nflowchart LR\n  a --> b");
    assert!(found[1].kinds.is_empty());
}

#[test]
fn a_node_must_name_what_exists() {
    let d = Diagram {
        place: "docs/x.md:3".into(),
        kinds: vec!["jobs:run-tests.yml".into(), "commands".into()],
        text: String::new(),
    };
    let nodes = [
        node("plan", "plan"),
        node("fs", "full-suite<br/>the whole suite"),
        node("b", "cargo xtask image build --push"),
        node("u", "cargo xtask services up kube"),
        node("deploy", ""),
        node("x", "cargo xtask imagine"),
    ];
    assert_eq!(
        unknown_names(&d, &nodes, &vocab()),
        [
            "docs/x.md:3: node `deploy` (\"deploy\") is no jobs:run-tests.yml or commands that exists",
            "docs/x.md:3: node `x` (\"cargo xtask imagine\") is no jobs:run-tests.yml or commands that exists",
        ]
    );
}

#[test]
fn a_state_with_a_colon_is_named_by_its_head_and_kinds_are_declared() {
    let d = Diagram { place: "p:1".into(), kinds: vec!["canary".into()], text: String::new() };
    assert!(unknown_names(&d, &[node("ns", "not started"), node("paused", "paused")], &vocab()).is_empty());
    let bare = Diagram { place: "p:1".into(), kinds: vec![], text: String::new() };
    assert_eq!(
        unknown_names(&bare, &[], &vocab()),
        ["p:1: the diagram declares no names: add a line `%% names: KIND...` (kinds: canary, commands, jobs:run-tests.yml)"]
    );
    let odd = Diagram { place: "p:1".into(), kinds: vec!["stations".into()], text: String::new() };
    assert_eq!(unknown_names(&odd, &[], &vocab()), ["p:1: `%% names: stations` is no kind the check knows"]);
}

#[test]
fn the_repo_gives_every_kind() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let v = vocabulary(&root).unwrap();
    assert!(v["jobs:build-and-deploy.yml"].contains("deploy"));
    assert!(v["commands"].contains("services up"));
    assert!(v["services"].contains("otelcol"));
    assert!(v["environments"].contains("production"));
    assert!(v["guards"].contains("release"));
    assert!(v["canary"].contains("paused"));
    assert!(v["events"].contains("workflow_dispatch") && v["events"].contains("schedule"), "{:?}", v["events"]);
    assert!(v["stages"].contains("preview-sweep") && v["stages"].contains("verify"), "{:?}", v["stages"]);
}
