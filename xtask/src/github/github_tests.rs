use super::*;

#[test]
fn outputs_are_single_lines_or_delimited() {
    assert_eq!(output_entry("environment", "staging"), "environment=staging\n");
    assert_eq!(output_entry("notes", "a\nXTASK_EOF\nb"), "notes<<XTASK_EOF_\na\nXTASK_EOF\nb\nXTASK_EOF_\n");
}

#[test]
fn gantt_draws_a_bar_per_task_that_ran() {
    let bar = |section: &str, label: &str, start, seconds, state| Bar {
        section: section.into(),
        label: label.into(),
        start,
        seconds,
        state,
    };
    let chart = gantt(
        "xtask ci: push to main",
        &[
            bar("test", "test:storage", 0.0, 12.34, State::Passed),
            bar("test", "test:cdc", 0.5, 3.0, State::Failed),
            bar("quality", "lint:cdc", 13.0, 0.0, State::Passed),
            bar("image", "build:cdc", 0.0, 0.0, State::NotRun),
        ],
    );
    assert_eq!(
        chart,
        "```mermaid\ngantt\n    title xtask ci  push to main\n    dateFormat x\n    axisFormat %M:%S\n\
         \x20   section test\n\
         \x20   test storage 12.3s :done, 0, 12340\n\
         \x20   test cdc 3.0s :crit, 500, 3500\n\
         \x20   section quality\n\
         \x20   lint cdc 0.0s :done, 13000, 13001\n```\n"
    );
}

#[test]
fn matrix_sums_each_component_per_stage() {
    let cell = |component: &str, stage: &str, state, seconds, counts, findings| Cell {
        component: component.into(),
        stage: stage.into(),
        state,
        seconds,
        counts,
        findings,
    };
    let c = |passed, failed, skipped| Some(Counts { passed, failed, skipped });
    let md = matrix(&[
        cell("storage", "test", State::Passed, 2.0, c(5, 0, 1), None),
        cell("cdc", "test", State::Failed, 1.0, c(2, 1, 0), None),
        cell("storage", "quality", State::Passed, 1.0, None, Some(0)),
        cell("storage", "quality", State::Failed, 0.5, None, Some(2)),
    ]);
    assert_eq!(
        md,
        "| component | test | quality |\n|---|---|---|\n\
         | storage | ✅ 2.0s · 5/0/1 passed/failed/skipped | ❌ 1.5s · 2 finding(s) |\n\
         | cdc | ❌ 1.0s · 2/1/0 passed/failed/skipped | - |\n"
    );
}

#[test]
fn a_multi_line_secret_is_masked_line_by_line() {
    assert_eq!(mask_commands("one"), ["::add-mask::one"]);
    assert_eq!(
        mask_commands("-----BEGIN KEY-----\n  abc\n\n-----END KEY-----\n"),
        ["::add-mask::-----BEGIN KEY-----", "::add-mask::abc", "::add-mask::-----END KEY-----"]
    );
}
