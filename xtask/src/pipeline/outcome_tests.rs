use super::*;
use crate::pipeline::trigger::{decide, Event};

fn main_plan() -> Pipeline {
    let envs = ["development", "staging", "production"].map(String::from);
    let event = Event { name: "push".into(), reference: "refs/heads/main".into(), requested: None, action: None };
    decide(&event, &envs).unwrap()
}

fn ran<'a>(p: &'a Pipeline, results: Vec<StageResult>) -> Vec<Ran<'a>> {
    p.stages
        .iter()
        .zip(results)
        .enumerate()
        .map(|(i, (stage, result))| Ran { stage, result, start: i as f64, seconds: 1.0, report: None })
        .collect()
}

#[test]
fn a_failed_stage_stops_what_needs_it_not_the_independent_ones() {
    let p = main_plan();
    let before = ran(&p, vec![StageResult::Passed, StageResult::Failed(1)]);
    // quality does not need test: it ran although... and image needs both.
    assert_eq!(blocked(&p.stages[1], &before[..1]), None);
    assert_eq!(blocked(&p.stages[2], &before), Some("quality did not pass".into()));
    // Under --only, a need that did not run in this process is not checked.
    assert_eq!(blocked(&p.stages[4], &[]), None);
}

#[test]
fn the_exit_code_is_the_first_failing_stages() {
    let p = main_plan();
    let skipped = StageResult::Skipped("no cluster credentials".into());
    let all_good = ran(
        &p,
        vec![
            StageResult::Passed,
            StageResult::Passed,
            StageResult::Passed,
            StageResult::Passed,
            skipped.clone(),
            skipped,
        ],
    );
    assert_eq!(exit_code(&all_good), 0, "no credentials is not a failure of the earlier stages");
    let bad = ran(&p, vec![StageResult::Failed(2), StageResult::Failed(1), StageResult::NotRun("x".into())]);
    assert_eq!(exit_code(&bad), 2);
    let stopped = ran(&p, vec![StageResult::Failed(1), StageResult::Interrupted]);
    assert_eq!(exit_code(&stopped), 130);
}

#[test]
fn the_deploys_closing_line_names_the_revision() {
    assert_eq!(revision("deployed staging revision 12: every component is available"), Some("12".into()));
    assert_eq!(revision("deploy staging: apply revision 12 (40 objects)"), None);
}

#[test]
fn the_table_says_why_stages_did_not_run() {
    let p = main_plan();
    let r =
        ran(&p, vec![StageResult::Passed, StageResult::Failed(1), StageResult::NotRun("quality did not pass".into())]);
    let t = table(&p, &r);
    assert!(t.contains("\nsummary of ci: push to main\n  stage    result   time  command\n"), "{t}");
    assert!(t.contains("  quality  failed   1.0s  cargo xtask quality\n"), "{t}");
    assert!(t.ends_with("  image: not run: quality did not pass\n"), "{t}");
}

#[test]
fn the_summary_has_stages_components_and_a_gantt_chart() {
    let p = main_plan();
    let mut r = ran(&p, vec![StageResult::Passed, StageResult::Failed(1)]);
    r[0].report = Some(serde_json::json!({"tasks": [
        {"task": {"id": "test:storage", "component": "storage"}, "outcome": {"result": "passed"},
         "seconds": 2.0, "start": 0.5, "counts": {"passed": 3, "failed": 0, "skipped": 1}},
    ]}));
    r[1].report = Some(serde_json::json!({"tasks": [
        {"task": {"id": "lint:storage", "component": "storage"}, "outcome": {"result": "failed", "reason": "x"},
         "seconds": 1.0, "start": 0.0, "counts": null, "findings": [{}, {}]},
    ]}));
    let md = summary_markdown(&p, &r);
    assert!(md.starts_with("### xtask ci: push to main\n\n| stage | result | time | command |\n"), "{md}");
    assert!(md.contains("| quality | ❌ failed | 1.0s | `cargo xtask quality` |\n"), "{md}");
    assert!(md.contains("| storage | ✅ 2.0s · 3/0/1 passed/failed/skipped | ❌ 1.0s · 2 finding(s) |\n"), "{md}");
    assert!(md.contains("    section test\n    test storage 2.0s :done, 500, 2500\n"), "{md}");
    assert!(md.contains("    section quality\n    lint storage 1.0s :crit, 1000, 2000\n"), "{md}");
}
