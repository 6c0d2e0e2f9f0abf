use super::*;

const WORKFLOW: &str = "\
name: demo
on: push
permissions:
  contents: read
  packages: write
env:
  TOKEN: ${{ secrets.TOKEN }}
jobs:
  call:
    uses: ./.github/workflows/other.yml
  build:
    runs-on: ubuntu-latest
    env:
      KUBECONFIG_B64: ${{ secrets.KUBECONFIG }}
      PLAIN: value
    steps:
      - uses: actions/checkout@v4
      - uses: actions/cache@0057852bfaa89a56745cba8c7296529d2fc39830 # v4.3.0
      - uses: actions/setup-go@40f1582b2485089dde7abd97c1529aa768e1baff
      - uses: docker://alpine:3
      - id: push
        env:
          GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}
        run: cargo xtask image build --push
      - run: cargo xtask deploy ${{ github.token }}
  quick:
    runs-on: ubuntu-latest
    timeout-minutes: 5
    steps:
      - run: cargo xtask test
";

fn codes(found: &[Finding]) -> Vec<(u32, &str)> {
    found.iter().map(|f| (f.line.unwrap(), f.code.as_str())).collect()
}

#[test]
fn actions_are_pinned_by_a_commit_with_its_tag_named() {
    let used = uses(WORKFLOW);
    assert_eq!(used.len(), 3, "local workflows and docker:// images are not actions: {used:?}");
    assert_eq!((used[1].action.as_str(), used[1].tag.as_deref()), ("actions/cache", Some("v4.3.0")));
    assert!(used[1].pinned() && !used[0].pinned());
    let found = unpinned("w.yml", WORKFLOW);
    assert_eq!(codes(&found), [(17, "action-pin"), (19, "action-pin")]);
    assert!(found[0].message.starts_with("`actions/checkout@v4` is pinned by a tag or branch"), "{}", found[0].message);
    assert!(found[1].message.contains("names no tag"), "{}", found[1].message);
    // A capitalised or short hex is no commit.
    let short = "      - uses: a/b@0057852b # v1\n";
    assert_eq!(unpinned("w.yml", short).len(), 1);
}

#[test]
fn every_job_on_a_runner_has_a_timeout() {
    let found = without_timeout("w.yml", WORKFLOW);
    assert_eq!(codes(&found), [(11, "job-timeout")]);
    assert!(found[0].message.starts_with("job `build` has no `timeout-minutes`"), "{}", found[0].message);
}

#[test]
fn secrets_live_on_the_step_that_uses_them() {
    let found = secrets_beyond_a_step("w.yml", WORKFLOW);
    assert_eq!(codes(&found), [(7, "secret-scope"), (14, "secret-scope")]);
    assert!(found[0].message.contains("is set for the workflow"), "{}", found[0].message);
    assert!(found[1].message.contains("is set for a job"), "{}", found[1].message);
}

#[test]
fn write_permissions_are_granted_per_job() {
    let found = workflow_writes("w.yml", WORKFLOW);
    assert_eq!(codes(&found), [(5, "permissions")]);
    let per_job = "permissions:\n  contents: read\njobs:\n  a:\n    permissions:\n      packages: write\n";
    assert!(workflow_writes("w.yml", per_job).is_empty());
}
