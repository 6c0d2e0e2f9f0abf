use super::*;
use crate::canary::judge::Row;

fn analysis(call: Call) -> Analysis {
    let row = |m: &str| Row { metric: m.into(), stable: "1".into(), canary: "2".into(), test: "p 0.5".into(), call };
    Analysis { rows: vec![row("requests"), row("latency (mean)")], call }
}

#[test]
fn the_text_table_is_aligned_and_names_the_result() {
    let t = text_table("storage", 1, &analysis(Call::Fail));
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines[0], "  storage, analysis 1: FAIL");
    assert_eq!(lines[1], "    metric          stable  canary  p-value / ratio  result");
    assert_eq!(lines[3], "    latency (mean)  1       2       p 0.5            FAIL");
}

#[test]
fn the_step_summary_holds_the_steps_and_every_table() {
    let record = Record {
        steps: vec!["canary   storage".into(), "promote".into()],
        state: "promoted".into(),
        verdicts: vec![
            judge::table("storage", 1, &analysis(Call::Pass)),
            judge::table("storage", 2, &analysis(Call::Pass)),
        ],
    };
    let md = summary("production", &record);
    assert!(
        md.starts_with("### canary production\n\n- `canary   storage`\n- `promote`\n\n| storage analysis 1 |"),
        "{md}"
    );
    assert!(md.contains("| storage analysis 2 | stable | canary | p-value / ratio | result |"), "{md}");
    assert_eq!(md.matches("| latency (mean) | 1 | 2 | p 0.5 | pass |").count(), 2);
}
