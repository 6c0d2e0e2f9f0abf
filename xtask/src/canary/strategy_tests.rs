use super::*;

const SHOWN: &str = "deploy/overlays/production/rollout.toml";

fn canary(extra: &str) -> String {
    format!("strategy = \"canary\"\n\n[canary]\ncomponents = [\"storage\"]\n{extra}")
}

#[test]
fn no_file_and_rolling_mean_rolling() {
    assert_eq!(parse(SHOWN, None).unwrap(), Strategy::Rolling);
    assert_eq!(parse(SHOWN, Some("strategy = \"rolling\"\n")).unwrap(), Strategy::Rolling);
}

#[test]
fn production_overlay_declares_a_storage_canary() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/overlays/production/rollout.toml"))
            .unwrap();
    let Strategy::Canary(c) = parse(SHOWN, Some(&text)).unwrap() else { panic!("production is not canary") };
    assert_eq!(c.components, ["storage"]);
    assert_eq!((c.replicas, c.analyses, c.failure_threshold), (1, 3, 1));
    assert_eq!(c.interval(), Duration::from_secs(30));
    for env in ["development", "staging"] {
        let p = format!("{}/../deploy/overlays/{env}/rollout.toml", env!("CARGO_MANIFEST_DIR"));
        assert_eq!(parse(&p, Some(&std::fs::read_to_string(&p).unwrap())).unwrap(), Strategy::Rolling);
    }
}

#[test]
fn defaults_fill_what_is_not_said() {
    let Strategy::Canary(c) = parse(SHOWN, Some(&canary(""))).unwrap() else { panic!() };
    assert_eq!((c.confidence, c.tolerance, c.min_requests), (0.98, 0.25, 50));
}

#[test]
fn malformed_file_names_file_and_line() {
    let e =
        parse(SHOWN, Some("strategy = \"canary\"\n[canary]\ncomponents = [\"storage\"\nreplicas = 1\n")).unwrap_err();
    assert!(e.starts_with(&format!("{SHOWN}:4:")), "{e}");
    let e = parse(SHOWN, Some(&canary("replica = 2\n"))).unwrap_err();
    assert!(e.starts_with(&format!("{SHOWN}:5:")) && e.contains("unknown field `replica`"), "{e}");
    let e = parse(SHOWN, Some("strategy = \"blue-green\"\n")).unwrap_err();
    assert_eq!(e, format!("{SHOWN}:1: unknown strategy \"blue-green\": choose \"rolling\" or \"canary\""));
    let e = parse(SHOWN, Some("# c\nstrategy = \"canary\"\n")).unwrap_err();
    assert!(e.starts_with(&format!("{SHOWN}:2: strategy = \"canary\" needs a [canary] table")), "{e}");
}

#[test]
fn thresholds_out_of_range_are_refused_with_their_line() {
    for (line, key) in [
        ("confidence = 1.5", "confidence"),
        ("confidence = 0.3", "confidence"),
        ("tolerance = 0", "tolerance"),
        ("tolerance = -0.1", "tolerance"),
        ("error_tolerance = 1.0", "error_tolerance"),
        ("latency_margin_ms = -1", "latency_margin_ms"),
        ("interval = \"1s\"", "interval"),
        ("interval = \"soon\"", "interval"),
        ("replicas = 0", "replicas"),
        ("analyses = 0", "analyses"),
        ("failure_threshold = 0", "failure_threshold"),
        ("analyses = 2\nfailure_threshold = 3", "failure_threshold"),
        ("min_requests = 3", "min_requests"),
        ("load_rate = 0", "load_rate"),
    ] {
        let text = canary(&format!("{line}\n"));
        let e = parse(SHOWN, Some(&text)).unwrap_err();
        let at = text.lines().position(|l| l.starts_with(key)).unwrap() + 1;
        assert!(e.starts_with(&format!("{SHOWN}:{at}: {key} ")), "{line}: {e}");
    }
}

fn t(component: &str, replicas: u32, has_service: bool) -> Target {
    Target { component: component.into(), replicas: Some(replicas), has_service }
}

#[test]
fn a_canary_needs_a_service_and_two_stable_replicas() {
    let Strategy::Canary(c) = parse(SHOWN, Some(&canary(""))).unwrap() else { panic!() };
    assert!(check_targets(SHOWN, "production", &c, &[t("storage", 3, true)]).is_ok());
    let e = check_targets(SHOWN, "production", &c, &[t("storage", 3, false)]).unwrap_err();
    assert!(e.contains("canary for storage, which has no Service"), "{e}");
    let e = check_targets(SHOWN, "production", &c, &[t("storage", 1, true)]).unwrap_err();
    assert!(e.contains("runs 1 replica in total") && e.contains("raise storage's replicas"), "{e}");
    let e = check_targets(SHOWN, "production", &c, &[t("cdc", 1, true)]).unwrap_err();
    assert!(e.contains("canary for storage, which production deploys as no Deployment"), "{e}");
}

#[test]
fn steps_show_the_split_replicas_give() {
    let Strategy::Canary(c) = parse(SHOWN, Some(&canary(""))).unwrap() else { panic!() };
    let s = steps(&c, &[t("storage", 3, true)]);
    assert_eq!(s[0], "canary   storage: 1 canary pod(s) beside 3 stable: 1 of 4 pods = 25% of the traffic expected");
    assert!(s[1].starts_with("analyse  3 × 30s under 20 req/s"), "{}", s[1]);
    assert_eq!(s.len(), 4);
}
