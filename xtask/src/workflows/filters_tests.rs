use super::*;

fn list(patterns: &[&str]) -> Vec<String> {
    patterns.iter().map(|p| p.to_string()).collect()
}

#[test]
fn a_star_does_not_cross_a_slash_and_two_do() {
    assert!(matches("feature/*", "feature/x"));
    assert!(!matches("feature/*", "feature/x/y"));
    assert!(matches("feature/**", "feature/x/y"));
    assert!(matches("main", "main"));
    assert!(!matches("main", "mainline"));
}

#[test]
fn the_release_pattern_also_matches_a_pre_release_unless_excluded() {
    // What GitHub does: the last `*` takes `3-rc1`.
    assert!(matches("v*.*.*", "v1.2.3-rc1"));
    let release = list(&["v*.*.*", "!v*.*.*-*"]);
    assert!(admits(&release, "v1.2.3"));
    assert!(admits(&release, "v10.20.30"));
    assert!(!admits(&release, "v1.2.3-rc1"));
    assert!(!admits(&release, "v2.0.0-beta.1"));
    assert!(!admits(&release, "1.2.3"));
}

#[test]
fn plus_question_mark_and_classes_quantify_the_character_before() {
    let strict = "v[0-9]+.[0-9]+.[0-9]+";
    assert!(matches(strict, "v1.2.3"));
    assert!(matches(strict, "v10.2.30"));
    assert!(!matches(strict, "v1.2.3-rc1"));
    assert!(!matches(strict, "v.2.3"));
    assert!(matches("v1?", "v"));
    assert!(matches("v1?", "v1"));
    assert!(!matches("v1?", "v11"));
}

#[test]
fn the_last_matching_pattern_decides() {
    let back_in = list(&["v*", "!v*-*", "v*-lts"]);
    assert!(admits(&back_in, "v1"));
    assert!(!admits(&back_in, "v1-rc1"));
    assert!(admits(&back_in, "v1-lts"));
    assert!(!admits(&list(&[]), "v1"));
}
