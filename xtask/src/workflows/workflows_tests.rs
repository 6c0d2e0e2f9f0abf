use super::*;

const WORKFLOW: &str = "\
name: demo
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: cargo xtask test   # one command
      - name: quality
        run: \"cargo xtask quality\"
      - run: |
          cargo xtask image build --push
      - run: cargo xtask test && echo done
      - run: |
          cargo xtask test
          cargo xtask quality
      - run: bash .ci/run
      - run: cargo xtask deploy ${{ inputs.environment }}
      - run: cargo xtask test ${{ matrix.component.name }}
";

#[test]
fn thin_accepts_one_cargo_xtask_command_and_nothing_else() {
    let found = thin(".github/workflows/demo.yml", WORKFLOW);
    let at: Vec<(Option<u32>, Option<u32>, &str)> =
        found.iter().map(|f| (f.line, f.column, f.message.split(':').next().unwrap())).collect();
    assert_eq!(
        at,
        [
            (Some(13), Some(9), "`cargo xtask test && echo done` uses the shell (`&&`)"),
            (Some(14), Some(9), "2 lines of script"),
            (Some(17), Some(9), "`bash .ci/run` is not a cargo xtask command"),
            (Some(18), Some(9), "`cargo xtask deploy ${{ inputs.environment }}` uses the shell (`$`)"),
        ]
    );
    assert!(found.iter().all(|f| f.code == "thin-run" && f.tool == "workflows"));
    // What `cargo xtask workflows --json` prints reads back the same.
    let json = serde_json::to_string(&found).unwrap();
    assert_eq!(parse_thin(&json).unwrap(), found);
}

#[test]
fn actionlint_json_becomes_findings_with_file_line_column_and_rule() {
    let out = r#"[{"message":"undefined variable \"foo\". available variables are \"env\", \"github\"","filepath":".github/workflows/bad.yml","line":7,"column":23,"kind":"expression","snippet":"      - run: echo ${{ foo.bar }}\n                      ^~~~~~~","end_column":29},
{"message":"label \"ubuntu-latst\" is unknown","filepath":".github/workflows/bad.yml","line":5,"column":14,"kind":"runner-label","snippet":"","end_column":25}]
"#;
    let found = actionlint(out).unwrap();
    let keys: Vec<_> = found.iter().map(|f| (f.file.as_str(), f.line, f.column, f.code.as_str(), f.severity)).collect();
    assert_eq!(
        keys,
        [
            (".github/workflows/bad.yml", Some(7), Some(23), "expression", Severity::High),
            (".github/workflows/bad.yml", Some(5), Some(14), "runner-label", Severity::Medium),
        ]
    );
    assert!(found[0].message.starts_with("undefined variable \"foo\""));
    assert_eq!(actionlint("[]\n").unwrap(), []);
    assert_eq!(actionlint("").unwrap(), []);
    assert!(actionlint("[{\"oops\"").is_err());
}

#[test]
fn the_pin_names_the_wrapper_and_actionlint_version() {
    let pins = "pytest==9.2.0\nactionlint-py==1.7.12.25\n";
    assert_eq!(pinned(pins), Some(("1.7.12.25".into(), "v1.7.12".into())));
    assert_eq!(pinned("pytest==9.2.0\n"), None);
}

#[test]
fn the_installer_passes_fingerprints_through_so_quality_tasks_are_cached() {
    let inner = crate::exec::tests::Stamped;
    let dir = tempfile::tempdir().unwrap();
    let prep = Installer { root: dir.path().to_path_buf(), inner: Some(&inner) };
    assert_eq!(prep.fingerprint("storage").as_deref(), Some("stamp:storage"));
    // No actionlint installed yet: nothing to identify it by, so its task is not cached.
    assert_eq!(prep.fingerprint(ENV), None);
}
