use super::*;
use crate::perf::judge::judge;
use crate::perf::spec::Scenario;
use std::time::Duration;

fn row(name: &str, base: &[f64], head: &[f64], error: Option<&str>) -> Row {
    let spec = Scenario {
        name: name.into(),
        command: vec!["x".into()],
        metric: "ms per read".into(),
        better: Better::Lower,
        samples: 6,
        warmup: 1,
        budget: Duration::from_secs(60),
        threshold: 0.10,
        confidence: 0.95,
    };
    let measured = Measured {
        base: base.to_vec(),
        head: head.to_vec(),
        seconds: 12.0,
        stopped: if name == "versions" { "budget after 4 of 6 pairs".into() } else { "all 6 pairs".into() },
    };
    Row {
        component: "storage".into(),
        scenario: name.into(),
        metric: spec.metric.clone(),
        better: spec.better,
        threshold: spec.threshold,
        confidence: spec.confidence,
        verdict: error.is_none().then(|| judge(base, head, &spec)),
        measured,
        error: error.map(String::from),
    }
}

fn report(rows: Vec<Row>) -> Report {
    Report {
        format: 1,
        base_ref: "origin/main".into(),
        base_commit: "1e6e56fb74aa".into(),
        head_commit: "21f58bb115bb".into(),
        aa: false,
        rows,
    }
}

const BASE: [f64; 6] = [3.0, 3.1, 2.9, 3.05, 2.95, 3.0];
const SLOW: [f64; 6] = [4.0, 4.1, 3.9, 4.05, 3.95, 4.0];

#[test]
fn failures_come_last_with_their_ratio_and_errors_in_full() {
    let r = report(vec![
        row("read", &BASE, &SLOW, None),
        row("write", &[], &[], Some("the head service of storage did not start (exit status: 1)\n  | boom")),
        row("versions", &BASE, &BASE, None),
    ]);
    let text = table(&r);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("  scenario"), "{text}");
    assert!(
        lines[1].starts_with("  storage/versions") && lines[1].ends_with("pass: no significant change (p 1.00)"),
        "{text}"
    );
    assert!(
        lines[2].contains("1.33 [1.30, 1.37]") && lines[2].contains("REGRESSION: 33% worse (threshold 10%, p 0.005)"),
        "{text}"
    );
    assert!(
        lines[3].starts_with("  storage/write")
            && lines[3].ends_with("ERROR: the head service of storage did not start (exit status: 1)"),
        "{text}"
    );
    assert!(text.contains("  | boom"), "the log's lines follow the table: {text}");
    assert!(text.contains("  storage/versions: stopped by its budget after 4 of 6 pairs\n"), "{text}");
    assert_eq!(
        closing_line(&r),
        "3 scenario(s): 1 passed, 1 regression(s), 1 error(s); base 1e6e56fb74 (merge-base with origin/main) against head 21f58bb115"
    );
    assert_eq!(exit_code(&r), 1);
}

#[test]
fn a_passing_run_exits_0_and_the_summary_is_a_markdown_table() {
    let r = report(vec![row("read", &BASE, &BASE, None)]);
    assert_eq!(exit_code(&r), 0);
    let md = markdown(&r);
    assert!(
        md.starts_with(
            "### xtask perf\n\n| scenario | metric | base | head | ratio [interval] | p | seconds | verdict |\n|---|"
        ),
        "{md}"
    );
    assert!(
        md.contains(
            "| storage/read | ms per read (lower is better) | 3.00 | 3.00 | 1.00 [0.97, 1.03] | 1.000 | 12 | ✅ pass"
        ),
        "{md}"
    );
    let aa = Report { aa: true, ..r };
    assert!(closing_line(&aa).ends_with("A/A: base 1e6e56fb74 against itself"), "{}", closing_line(&aa));
}
