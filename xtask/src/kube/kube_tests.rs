use super::*;

#[test]
fn kubectl_errors_are_read_from_klog_lines_and_error_lines() {
    let klog = r#"E1127 04:30:58.179237    4008 run.go:72] "command failed" err="accumulating resources: accumulation err='from \"x\"': no such file""#;
    assert_eq!(error_message(klog), r#"accumulating resources: accumulation err='from "x"': no such file"#);
    assert_eq!(
        error_message("error: must build at directory: not a valid directory\n"),
        "must build at directory: not a valid directory"
    );
    assert_eq!(error_message("\nsomething broke\n\n"), "something broke");
    assert_eq!(error_message(""), "no message");
    let block = "E1127 04:44:58.291365   23547 run.go:72] \"command failed\" err=<\n\ttrouble configuring builtin PatchTransformer with config: `\n\tpath: missing.yaml\n\t`: failed to get the patch file\n >\n";
    assert_eq!(error_message(block), "trouble configuring builtin PatchTransformer with config: ` path: missing.yaml `: failed to get the patch file");
}
