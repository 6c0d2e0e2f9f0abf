use super::*;

const RENDER: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: storage\n---\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: storage-smoke\n  labels:\n    app.kubernetes.io/name: storage\n  annotations:\n    xtask.dev/verify-check: \"true\"\nspec:\n  activeDeadlineSeconds: 60\n  template:\n    spec:\n      containers:\n        - name: smoke\n          image: r/storage:1\n---\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\nspec: {}\n";

#[test]
fn checks_are_split_off_what_is_applied() {
    let s = split(RENDER).unwrap();
    assert_eq!(s.checks.len(), 1);
    let c = &s.checks[0];
    assert_eq!((c.name.as_str(), c.component.as_str()), ("storage-smoke", "storage"));
    assert_eq!(c.deadline, Duration::from_secs(60));
    assert_eq!(c.job["spec"]["template"]["spec"]["containers"][0]["image"], "r/storage:1");
    let kinds: Vec<String> = s.objects.iter().map(|o| o.id()).collect();
    assert_eq!(kinds, ["Service/storage", "Job/migrate"]);
    assert!(!s.text.contains("storage-smoke"));
    assert_eq!(yaml::objects(&s.text).unwrap().len(), 2);
}

#[test]
fn a_render_without_checks_is_applied_as_rendered() {
    let text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n";
    let s = split(text).unwrap();
    assert_eq!(s.text, text);
    assert!(s.checks.is_empty());
}

#[test]
fn only_true_marks_a_check_and_the_deadline_has_a_default() {
    let text = RENDER.replace("\"true\"", "\"false\"");
    assert!(split(&text).unwrap().checks.is_empty());
    let text = RENDER.replace("  activeDeadlineSeconds: 60\n", "");
    assert_eq!(split(&text).unwrap().checks[0].deadline, DEFAULT_DEADLINE);
}
