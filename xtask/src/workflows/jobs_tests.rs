use super::*;

const WORKFLOW: &str = "\
name: demo
on: push
jobs:
  plan:
    runs-on: ubuntu-latest
    steps:
      - run: cargo xtask ci --plan
  legs:
    runs-on: ubuntu-latest
    steps:
      - run: cargo xtask test ${{ matrix.component.name }}
  full-suite:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: cargo xtask test
  started:
    runs-on: ubuntu-latest
    steps:
      - run: cargo xtask services up
      - run: cargo xtask test
  partly:
    runs-on: ubuntu-latest
    steps:
      - run: cargo xtask services up registry
      - run: cargo xtask test xtask
  \"images\":
    runs-on: ubuntu-latest
    steps:
      - run: cargo xtask ci --only image
      - run: cargo xtask services up base-images
";

#[test]
fn jobs_are_found_with_their_lines() {
    let names: Vec<(String, u32, u32)> = jobs(WORKFLOW);
    let names: Vec<(&str, u32)> = names.iter().map(|(n, first, _)| (n.as_str(), *first)).collect();
    assert_eq!(names, [("plan", 4), ("legs", 8), ("full-suite", 12), ("started", 17), ("partly", 22), ("images", 27)]);
    assert_eq!(jobs("name: x\non: push\n"), []);
}

#[test]
fn a_job_must_start_the_services_its_commands_need_before_them() {
    let found = services_not_started(".github/workflows/demo.yml", WORKFLOW);
    let at: Vec<(u32, &str)> = found.iter().map(|f| (f.line.unwrap(), f.message.as_str())).collect();
    assert_eq!(
        at,
        [
            (16, "`cargo xtask test` needs docker, registry, base-images, buildx, kube, signing running, which job `full-suite` does not start before it: add a step `run: cargo xtask services up` before this one"),
            (26, "`cargo xtask test xtask` needs base-images, buildx, kube, signing running, which job `partly` does not start before it: add a step `run: cargo xtask services up buildx kube signing` before this one"),
            (30, "`cargo xtask ci --only image` needs docker, base-images, buildx, signing running, which job `images` does not start before it: add a step `run: cargo xtask services up buildx signing` before this one"),
        ]
    );
    assert!(found.iter().all(|f| f.code == "services" && f.tool == "workflows" && f.column == Some(9)));
}
