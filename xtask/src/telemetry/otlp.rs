//! The OTLP export at the end of a process: the spans it recorded, and each
//! as a log record, through the OpenTelemetry crates' exporters (gRPC with
//! tonic, http/protobuf with the small client in `http_client`), configured
//! by the standard `OTEL_EXPORTER_OTLP_*` variables. Bounded: the whole
//! export gets `OTEL_EXPORTER_OTLP_TIMEOUT` (10 s by default) and is then
//! abandoned. A collector that cannot take the data costs one warning per
//! pipeline run: a nested process (a `ci` stage) leaves a mark in
//! `target/xtask/` instead, the later ones skip the export, and the run's
//! first process prints the warning.

use super::events::Event;
use super::http_client::Client;
use opentelemetry::logs::{AnyValue, LogRecord, Logger, LoggerProvider, Severity};
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::logs::{LogBatch, LogExporter as _, SdkLoggerProvider};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};
use opentelemetry_sdk::Resource;
use std::path::{Path, PathBuf};
use std::time::Duration;

const DOWN_MARK: &str = "target/xtask/telemetry-down";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

/// What the standard variables ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub endpoint: String,
    pub protocol: Result<Protocol, String>,
    pub timeout: Duration,
}

impl Config {
    /// None when no endpoint is set (export off).
    pub fn from_env() -> Option<Config> {
        Config::from_vars(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
    }

    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Option<Config> {
        let endpoint = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT"))?;
        let protocol = match var("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref().map(str::trim) {
            None | Some("http/protobuf") => Ok(Protocol::HttpProtobuf),
            Some("grpc") => Ok(Protocol::Grpc),
            Some(other) => {
                Err(format!("OTEL_EXPORTER_OTLP_PROTOCOL={other:?} is not supported: set grpc or http/protobuf"))
            }
        };
        let timeout = var("OTEL_EXPORTER_OTLP_TIMEOUT")
            .and_then(|t| t.trim().parse::<u64>().ok())
            .map_or(Duration::from_secs(10), Duration::from_millis);
        Some(Config { endpoint, protocol, timeout })
    }
}

fn mark(root: &Path) -> PathBuf {
    root.join(DOWN_MARK)
}

pub fn clear_down_mark(root: &Path) {
    let _ = std::fs::remove_file(mark(root));
}

/// Export, or say why not once for the whole run.
pub fn export_or_warn(root: &Path, config: &Config, spans: &[Event], nested: bool) {
    let failed = match std::fs::read_to_string(mark(root)) {
        // An earlier process of this run found the collector unusable: do not wait for it again.
        Ok(why) => Some(why),
        Err(_) => export(config, spans).err(),
    };
    let Some(why) = failed else { return };
    if nested {
        let _ = std::fs::create_dir_all(root.join("target/xtask"));
        let _ = std::fs::write(mark(root), &why);
    } else {
        eprintln!(
            "warning: telemetry was not exported to {}: {why}; the run is unaffected and its events are in {}",
            config.endpoint,
            super::events::FILE
        );
    }
}

/// Send the spans and their log records; Err with one line on failure or when the time is up.
pub fn export(config: &Config, spans: &[Event]) -> Result<(), String> {
    let protocol = config.protocol.clone()?;
    if !config.endpoint.starts_with("http://") {
        return Err("only http:// endpoints are supported (the xtask is built without TLS): use the collector's plain OTLP port".into());
    }
    let (config, spans) = (config.clone(), spans.to_vec());
    let timeout = config.timeout;
    let (tx, rx) = std::sync::mpsc::channel();
    // On a thread of its own, so a collector that never answers is abandoned at the deadline.
    std::thread::spawn(move || {
        let _ = tx.send(send(&config, protocol, &spans));
    });
    match rx.recv_timeout(timeout) {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} ms (OTEL_EXPORTER_OTLP_TIMEOUT)", timeout.as_millis())),
    }
}

fn send(config: &Config, protocol: Protocol, spans: &[Event]) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the exporter's runtime: {e}"))?;
    let _entered = rt.enter();
    let resource = Resource::builder().with_service_name("xtask").build();
    let (mut traces, mut logs) = match protocol {
        Protocol::Grpc => (
            opentelemetry_otlp::SpanExporter::builder().with_tonic().with_timeout(config.timeout).build(),
            opentelemetry_otlp::LogExporter::builder().with_tonic().with_timeout(config.timeout).build(),
        ),
        Protocol::HttpProtobuf => {
            let client = Client { timeout: config.timeout };
            (
                opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_http_client(client.clone())
                    .with_timeout(config.timeout)
                    .build(),
                opentelemetry_otlp::LogExporter::builder()
                    .with_http()
                    .with_http_client(client)
                    .with_timeout(config.timeout)
                    .build(),
            )
        }
    };
    let traces = traces.as_mut().map_err(|e| e.to_string())?;
    let logs = logs.as_mut().map_err(|e| e.to_string())?;
    traces.set_resource(&resource);
    logs.set_resource(&resource);
    let scope = InstrumentationScope::builder("xtask").build();
    let data: Vec<SpanData> = spans.iter().map(|e| span_data(e, &scope)).collect();
    rt.block_on(traces.export(data)).map_err(|e| e.to_string())?;
    let provider = SdkLoggerProvider::builder().build();
    let logger = provider.logger("xtask");
    let records: Vec<_> = spans
        .iter()
        .map(|e| {
            let mut r = logger.create_log_record();
            log_record(e, &mut r);
            r
        })
        .collect();
    let batch: Vec<_> = records.iter().map(|r| (r, &scope)).collect();
    rt.block_on(logs.export(LogBatch::new(&batch))).map_err(|e| e.to_string())
}

fn ids(e: &Event) -> (TraceId, SpanId, SpanId) {
    let trace = TraceId::from_hex(&e.trace_id).unwrap_or(TraceId::INVALID);
    let span = SpanId::from_hex(&e.span_id).unwrap_or(SpanId::INVALID);
    let parent = e.parent.as_deref().and_then(|p| SpanId::from_hex(p).ok()).unwrap_or(SpanId::INVALID);
    (trace, span, parent)
}

/// One recorded span as the SDK's export type, its status from the conventions' result attribute.
pub fn span_data(e: &Event, scope: &InstrumentationScope) -> SpanData {
    let (trace, span, parent) = ids(e);
    let result =
        e.get("cicd.pipeline.task.run.result").or(e.get("cicd.pipeline.result")).or(e.get("xtask.deploy.step.result"));
    let status = match result {
        Some("success") | Some("skip") => Status::Ok,
        Some(_) => Status::error(e.get("error.type").unwrap_or("failed").to_string()),
        None => Status::Unset,
    };
    SpanData {
        span_context: SpanContext::new(trace, span, TraceFlags::SAMPLED, false, TraceState::default()),
        parent_span_id: parent,
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: e.name.clone().into(),
        start_time: e.start,
        end_time: e.end,
        attributes: e.attrs.iter().map(|(k, v)| KeyValue::new(k.clone(), v.clone())).collect(),
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: scope.clone(),
    }
}

/// The event as a log record in its span's context: the line's body, the attributes.
fn log_record(e: &Event, r: &mut impl LogRecord) {
    let (trace, span, _) = ids(e);
    let failed = e.get("error.type").is_some();
    r.set_timestamp(e.end);
    r.set_observed_timestamp(e.end);
    r.set_severity_number(if failed { Severity::Error } else { Severity::Info });
    r.set_severity_text(if failed { "ERROR" } else { "INFO" });
    r.set_body(AnyValue::from(format!("{} {}", e.kind, e.name)));
    r.set_trace_context(trace, span, Some(TraceFlags::SAMPLED));
    for (k, v) in &e.attrs {
        r.add_attribute(k.clone(), v.clone());
    }
    r.add_attribute("event.name", e.kind.clone());
}
