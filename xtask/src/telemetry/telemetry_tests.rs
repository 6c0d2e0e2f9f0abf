use super::context::{self, parse};
use super::events::Event;
use super::http_client;
use super::otlp::{span_data, Config, Protocol};
use super::{inherited, Outcome};
use std::time::Duration;

const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn a_w3c_traceparent_parses_and_prints_back() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(c.span_id, "00f067aa0ba902b7");
    assert!(c.sampled);
    assert_eq!(c.traceparent(), GOOD);
    assert!(!parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap().sampled);
    // A later version may carry more fields.
    assert!(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra").is_ok());
}

#[test]
fn malformed_traceparents_are_refused_with_the_reason() {
    for (bad, why) in [
        ("", "four fields"),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "four fields"),
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "trace id"),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", "trace id"),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "parent id"),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01", "parent id"),
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "version"),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", "more than four"),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz", "flags"),
    ] {
        let err = parse(bad).unwrap_err();
        assert!(err.contains(why), "{bad}: {err}");
    }
}

#[test]
fn a_given_traceparent_wins_a_malformed_one_warns_and_github_derives_one() {
    let (c, w) = inherited(Some(GOOD), None);
    assert_eq!(c.unwrap().traceparent(), GOOD);
    assert!(w.is_none());
    let gh = || Some(("o/r".to_string(), "42".to_string(), "1".to_string()));
    let (c, w) = inherited(Some("garbage"), gh());
    assert!(w.unwrap().contains("TRACEPARENT=\"garbage\" is not a W3C traceparent"));
    assert_eq!(c.unwrap(), context::github("o/r", "42", "1"));
    let (c, w) = inherited(Some("garbage"), None);
    assert!(c.is_none() && w.is_some());
    assert_eq!(inherited(None, None), (None, None));
}

#[test]
fn a_rerun_of_a_github_run_is_the_same_trace_under_another_parent() {
    let first = context::github("o/r", "42", "1");
    let again = context::github("o/r", "42", "2");
    let other = context::github("o/r", "43", "1");
    assert_eq!(first.trace_id, again.trace_id);
    assert_ne!(first.span_id, again.span_id);
    assert_ne!(first.trace_id, other.trace_id);
    assert!(parse(&first.traceparent()).is_ok());
    let fresh = context::new_trace(&context::random_id(8));
    assert!(parse(&fresh.traceparent()).is_ok());
    assert_ne!(context::random_id(16), context::random_id(16));
}

#[test]
fn the_standard_variables_choose_endpoint_protocol_and_timeout() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |n: &str| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string())
    };
    assert!(Config::from_vars(vars(&[])).is_none());
    let c = Config::from_vars(vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h:4318")])).unwrap();
    assert_eq!((c.protocol, c.timeout), (Ok(Protocol::HttpProtobuf), Duration::from_secs(10)));
    let c = Config::from_vars(vars(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h:4317"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1500"),
    ]))
    .unwrap();
    assert_eq!((c.protocol, c.timeout), (Ok(Protocol::Grpc), Duration::from_millis(1500)));
    let c = Config::from_vars(vars(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://h:4318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
    ]))
    .unwrap();
    assert!(c.protocol.unwrap_err().contains("set grpc or http/protobuf"));
}

#[test]
fn a_span_exports_with_its_parent_attributes_and_status() {
    let mut e =
        Event::new("task.end", "test", GOOD[3..35].as_ref(), "1111111111111111", Some("2222222222222222".into()));
    e.attr("cicd.pipeline.task.name", "test");
    e.attr("cicd.pipeline.task.run.result", "failure");
    e.attr("error.type", "tests failed");
    e.finish();
    let scope = opentelemetry::InstrumentationScope::builder("xtask").build();
    let d = span_data(&e, &scope);
    assert_eq!(d.span_context.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(d.span_context.span_id().to_string(), "1111111111111111");
    assert_eq!(d.parent_span_id.to_string(), "2222222222222222");
    assert_eq!(d.status, opentelemetry::trace::Status::error("tests failed"));
    assert!(d.attributes.iter().any(|kv| kv.key.as_str() == "cicd.pipeline.task.name"));
    let line = e.to_json();
    assert_eq!(line["event"], "task.end");
    assert_eq!(line["parent_span_id"], "2222222222222222");
    assert_eq!(line["cicd.pipeline.task.run.result"], "failure");
    assert!(line["duration_s"].is_number());
}

#[test]
fn exit_codes_read_as_pipeline_results() {
    assert_eq!(Outcome::of_exit(0).as_str(), "success");
    assert_eq!(Outcome::of_exit(1).as_str(), "failure");
    assert_eq!(Outcome::of_exit(2).as_str(), "error");
    assert_eq!(Outcome::of_exit(130).as_str(), "cancellation");
}

#[test]
fn http_responses_parse_with_length_or_chunks() {
    let r = http_client::parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").unwrap();
    assert_eq!((r.status().as_u16(), r.body().as_ref()), (200, b"ok".as_ref()));
    let r = http_client::parse(
        b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nbad\r\n2\r\n!!\r\n0\r\n\r\n",
    )
    .unwrap();
    assert_eq!((r.status().as_u16(), r.body().as_ref()), (400, b"bad!!".as_ref()));
    assert!(http_client::parse(b"HTTP/1.1 200 OK\r\n").is_err());
}

#[test]
fn the_step_summary_line_names_the_trace_and_how_to_follow_it() {
    assert_eq!(
        super::summary_line("deploy", "4bf92f3577b34da6a3ce929d0e0e4736"),
        "trace of `cargo xtask deploy`: `4bf92f3577b34da6a3ce929d0e0e4736` (its pods' log lines: `cargo xtask logs ENV --trace 4bf92f3577b34da6a3ce929d0e0e4736`; its spans: `target/xtask/events.jsonl` or the collector)\n\n"
    );
}
