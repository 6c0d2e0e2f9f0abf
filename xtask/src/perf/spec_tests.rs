use super::*;

const GOOD: &str = r#"
[service]
command = ["{venv}/bin/serve", "--port", "{port}", "--root", "{data}"]

[defaults]
samples = 8
budget = "2m"

[[scenario]]
name = "read"
command = ["{python}", "{harness}/perf/load.py", "--url", "{url}"]
metric = "ms"
better = "lower"

[[scenario]]
name = "events"
command = ["{python}", "x.py"]
metric = "events/s"
better = "higher"
samples = 5
threshold = 0.2
"#;

fn error(text: &str) -> ParseError {
    parse(text).expect_err("must not parse")
}

#[test]
fn scenarios_take_the_defaults_they_do_not_override() {
    let s = parse(GOOD).unwrap();
    let service = s.service.as_ref().unwrap();
    assert_eq!((service.command[0].as_str(), service.start_timeout.as_secs()), ("{venv}/bin/serve", 120));
    assert_eq!(service.restart_every, 0, "never, unless asked");
    let s = parse(&GOOD.replace("\"{data}\"]", "\"{data}\"]\nrestart-every = 4")).unwrap();
    assert_eq!(s.service.unwrap().restart_every, 4);
    let [read, events] = &s.scenarios[..] else { panic!("two scenarios") };
    assert_eq!((read.samples, read.warmup, read.budget.as_secs()), (8, 1, 120));
    assert_eq!((read.threshold, read.confidence, read.better), (0.10, 0.95, Better::Lower));
    assert_eq!((events.samples, events.threshold, events.better), (5, 0.2, Better::Higher));
}

#[test]
fn errors_name_the_line() {
    let bad_toml = "[[scenario]]\nname = \"read\"\ncommand = [\"a\"\n";
    assert!(error(bad_toml).line.is_some());
    let e = error(&GOOD.replace("better = \"higher\"", "better = \"faster\""));
    assert_eq!(e.line, Some(19), "{e:?}");
    assert_eq!(
        e.describe("components/c/perf.toml"),
        "malformed components/c/perf.toml line 19: better = \"faster\": write \"lower\" or \"higher\" (fix the file)"
    );
    let e = error(&GOOD.replace("{url}", "{address}"));
    assert_eq!(e.line, Some(11));
    assert!(e.message.contains("{address}") && e.message.contains("{url}"), "{e:?}");
    let e = error(&GOOD.replace("metric = \"ms\"", "metric = \"ms\"\ncolour = \"red\""));
    assert_eq!(e.line, Some(13), "an unknown key: {e:?}");
}

#[test]
fn values_that_cannot_work_are_refused() {
    // Three samples a side can never reach 95% confidence.
    let e = error(&GOOD.replace("samples = 5", "samples = 3"));
    assert_eq!(e.line, Some(20));
    assert!(e.message.contains("it takes 4 to 100 samples"), "{e:?}");
    assert!(error(&GOOD.replace("threshold = 0.2", "threshold = 1.5")).message.contains("threshold"));
    assert!(error(&GOOD.replace("\"2m\"", "\"soon\"")).message.contains("90s"));
    let e = error(&GOOD.replace("\"{data}\"]", "\"{data}\"]\nstart-timeout = \"never\""));
    assert_eq!((e.line, e.message.as_str()), (Some(4), "start-timeout = \"never\": write it like \"90s\" or \"5m\""));
    let e = error(&GOOD.replace("\"{data}\"]", "\"{data}\"]\nrestart-every = -1"));
    assert_eq!((e.line, e.message.as_str()), (Some(4), "restart-every = -1: use 0 (never) to 100 pairs"));
    assert!(error(&GOOD.replace("name = \"events\"", "name = \"read\"")).message.contains("second scenario"));
    assert!(error(&GOOD.replace("[\"{python}\", \"x.py\"]", "[]")).message.contains("empty"));
    assert_eq!(error("[defaults]\nsamples = 6\n").message, "no [[scenario]]: declare at least one");
}

#[test]
fn placeholders_expand_every_occurrence() {
    let values = BTreeMap::from([("port", "8123".to_string()), ("url", "http://127.0.0.1:8123".to_string())]);
    assert_eq!(expand("--listen={port}", &values), "--listen=8123");
    assert_eq!(expand("{url}/x{port}", &values), "http://127.0.0.1:8123/x8123");
    assert_eq!(expand("plain", &values), "plain");
}
