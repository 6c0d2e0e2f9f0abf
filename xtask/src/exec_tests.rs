use super::*;

#[test]
fn exit_codes_are_read_per_tool() {
    assert_eq!(judge(ExitPolicy::Pytest, Some(0)), Outcome::Passed);
    assert!(matches!(judge(ExitPolicy::Pytest, Some(1)), Outcome::Failed(_)));
    assert!(matches!(judge(ExitPolicy::Pytest, Some(5)), Outcome::Failed(m) if m.contains("no tests collected")));
    assert!(matches!(judge(ExitPolicy::Pytest, Some(2)), Outcome::Error(_)));
    assert!(matches!(judge(ExitPolicy::Cargo, Some(101)), Outcome::Failed(_)));
    assert!(matches!(judge(ExitPolicy::Cargo, Some(1)), Outcome::Error(_)));
    assert!(matches!(judge(ExitPolicy::Tool("safety"), Some(64)), Outcome::Failed(_)));
    assert!(matches!(judge(ExitPolicy::Tool("mypy"), Some(2)), Outcome::Error(_)));
    assert!(matches!(judge(ExitPolicy::Docker, Some(1)), Outcome::Failed(_)));
    assert!(matches!(judge(ExitPolicy::Pytest, None), Outcome::Error(_)));
}
