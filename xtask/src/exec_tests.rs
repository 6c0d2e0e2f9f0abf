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

/// A test double for the stages' own preparers, which wrap another: every
/// need is ready, fingerprinted `stamp:NEED`, and checked fine.
pub struct Stamped;

impl Prepare for Stamped {
    fn label(&self, need: &str) -> String {
        need.to_string()
    }
    fn is_fresh(&self, _: &str) -> anyhow::Result<bool> {
        Ok(true)
    }
    fn commands(&self, _: &str) -> Vec<String> {
        Vec::new()
    }
    fn ensure(&self, _: &str, _: &mut Log) -> anyhow::Result<()> {
        Ok(())
    }
    fn fingerprint(&self, need: &str) -> Option<String> {
        Some(format!("stamp:{need}"))
    }
}
