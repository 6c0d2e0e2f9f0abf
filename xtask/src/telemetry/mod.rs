//! One trace from the pipeline run to the pods. Every xtask process has a
//! W3C trace context (`TRACEPARENT` as given, else a new trace; on GitHub one
//! derived from the run id and attempt) and a span of its own (the run);
//! tasks and deploy steps are spans under it. Every child process gets the
//! context in `TRACEPARENT`: the process environment carries the run span,
//! and a task's command its task span. Each span ends as a JSON line in
//! `target/xtask/events.jsonl` named by the OpenTelemetry CI/CD semantic
//! conventions, and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, goes over
//! OTLP at the end of the process (`otlp`), bounded in time.

pub mod context;
pub mod events;
mod http_client;
mod otlp;

use context::Context;
use events::Event;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

/// Set by a parent xtask for its children: the pipeline run they belong to,
/// its name, and whether the parent found the collector unreachable.
const RUN_ID_VAR: &str = "XTASK_PIPELINE_RUN_ID";
const NAME_VAR: &str = "XTASK_PIPELINE_NAME";
pub const TRACEPARENT: &str = "TRACEPARENT";
/// The annotation a deploy writes its run's trace context in, on what it
/// applied, its pods and its release record: a pod leads to its run.
pub const TRACE_ANNOTATION: &str = "xtask.dev/traceparent";

/// This process's place in the pipeline's trace.
struct Run {
    /// The trace, with this process's run span as `span_id`.
    ctx: Context,
    /// The span that started this process (a parent xtask's task, or the caller's), if any.
    parent: Option<String>,
    /// `xtask <command>`: the span's name.
    command: String,
    /// The pipeline's name (`cicd.pipeline.name`): the first process's command, inherited.
    name: String,
    run_id: String,
    /// Started by another xtask (`ci`'s stages): the parent reports the collector's state.
    nested: bool,
    start: SystemTime,
    events: PathBuf,
    root: PathBuf,
}

static RUN: OnceLock<Run> = OnceLock::new();
/// Spans open in this process, innermost last: what a new span's parent is.
static OPEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Spans ended, in order, for the OTLP export at the end.
static ENDED: Mutex<Vec<Event>> = Mutex::new(Vec::new());

/// The context this process starts from: a valid `TRACEPARENT`, else GitHub's
/// run, else none; the warning for a malformed one.
pub fn inherited(
    traceparent: Option<&str>,
    github: Option<(String, String, String)>,
) -> (Option<Context>, Option<String>) {
    let mut warning = None;
    if let Some(value) = traceparent.filter(|v| !v.trim().is_empty()) {
        match context::parse(value) {
            Ok(c) => return (Some(c), None),
            Err(why) => {
                warning = Some(format!(
                    "warning: {TRACEPARENT}={value:?} is not a W3C traceparent: {why}; it is ignored and a new trace started (fix or unset {TRACEPARENT})"
                ))
            }
        }
    }
    (github.map(|(repo, run, attempt)| context::github(&repo, &run, &attempt)), warning)
}

fn github_run() -> Option<(String, String, String)> {
    // GitHub's own variable (not `github::on_github`: the executor imports this module, and github imports it).
    if std::env::var("GITHUB_ACTIONS").map_or(true, |v| v != "true") {
        return None;
    }
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    Some((var("GITHUB_REPOSITORY")?, var("GITHUB_RUN_ID")?, var("GITHUB_RUN_ATTEMPT").unwrap_or_else(|| "1".into())))
}

/// Start this process's run span. Call once, early in `main` before any
/// thread starts (it sets `TRACEPARENT` for every child process).
pub fn init(root: &Path, command: &str) {
    let (given, warning) = inherited(std::env::var(TRACEPARENT).ok().as_deref(), github_run());
    if let Some(w) = warning {
        eprintln!("{w}");
    }
    let span = context::random_id(8);
    let (ctx, parent) = match given {
        Some(c) => (c.child(&span), Some(c.span_id)),
        None => (context::new_trace(&span), None),
    };
    let nested = std::env::var(RUN_ID_VAR).is_ok_and(|v| !v.is_empty());
    let run_id = std::env::var(RUN_ID_VAR)
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| github_run().map(|(_, id, _)| id))
        .unwrap_or_else(|| ctx.trace_id.clone());
    let name = std::env::var(NAME_VAR).ok().filter(|_| nested).unwrap_or_else(|| format!("xtask {command}"));
    // Before any thread: children inherit the run span as their parent.
    std::env::set_var(TRACEPARENT, ctx.traceparent());
    std::env::set_var(RUN_ID_VAR, &run_id);
    std::env::set_var(NAME_VAR, &name);
    let events = root.join(events::FILE);
    // A run of its own starts the file afresh; a nested one adds to its parent's.
    if !nested {
        let _ = std::fs::remove_file(&events);
        otlp::clear_down_mark(root);
    }
    let command = format!("xtask {command}");
    let run =
        Run { ctx, parent, command, name, run_id, nested, start: SystemTime::now(), events, root: root.to_path_buf() };
    OPEN.lock().unwrap().push(run.ctx.span_id.clone());
    let start = run.event("run.start", &run.command, &run.ctx.span_id, run.parent.clone());
    events::append(&run.events, &start);
    let _ = RUN.set(run);
}

impl Run {
    fn event(&self, kind: &str, name: &str, span: &str, parent: Option<String>) -> Event {
        let mut e = Event::new(kind, name, &self.ctx.trace_id, span, parent);
        e.attr("cicd.pipeline.name", &self.name);
        e.attr("cicd.pipeline.run.id", &self.run_id);
        e
    }
}

/// The trace id of this process's run when it is a run of its own (not a
/// `ci` stage's child), for the one summary line a GitHub step gets.
pub fn own_trace_id() -> Option<String> {
    RUN.get().filter(|r| !r.nested).map(|r| r.ctx.trace_id.clone())
}

/// The step summary's line: the run's trace id and how to read what it did.
pub fn summary_line(command: &str, trace_id: &str) -> String {
    format!(
        "trace of `cargo xtask {command}`: `{trace_id}` (its pods' log lines: `cargo xtask logs ENV --trace {trace_id}`; its spans: `target/xtask/events.jsonl` or the collector)\n\n"
    )
}

/// The `traceparent` of this process's run span (what the release record keeps), if started.
pub fn traceparent() -> Option<String> {
    RUN.get().map(|r| r.ctx.traceparent())
}

/// How a task, step or run ended, in the conventions' words
/// (`cicd.pipeline.task.run.result`, `cicd.pipeline.result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Error,
    Skip,
    Cancellation,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Error => "error",
            Outcome::Skip => "skip",
            Outcome::Cancellation => "cancellation",
        }
    }

    /// The process's exit code read as a run's result.
    pub fn of_exit(code: i32) -> Outcome {
        match code {
            0 => Outcome::Success,
            130 => Outcome::Cancellation,
            1 => Outcome::Failure,
            _ => Outcome::Error,
        }
    }
}

/// A task or deploy step under way: ended with [`Span::end`] (or, dropped
/// unended by an early `?`, as an error).
pub struct Span {
    event: Option<Event>,
    entered: bool,
}

impl Span {
    fn open(kind: &str, name: &str, attrs: &[(&str, &str)]) -> Span {
        let Some(run) = RUN.get() else { return Span { event: None, entered: false } };
        let parent = OPEN.lock().unwrap().last().cloned();
        let mut e = run.event(kind, name, &context::random_id(8), parent);
        for (k, v) in attrs {
            e.attr(k, v);
        }
        Span { event: Some(e), entered: false }
    }

    /// One task of a pipeline: a stage of `ci`, or a task of a stage's plan.
    pub fn task(name: &str) -> Span {
        let mut span = Span::open("task", name, &[("cicd.pipeline.task.name", name)]);
        if let Some(id) = span.event.as_ref().map(|e| e.span_id.clone()) {
            span.attr("cicd.pipeline.task.run.id", &id);
        }
        span
    }

    /// One step of a deploy (render, apply, verify, …) in an environment.
    pub fn step(name: &str, env: &str) -> Span {
        Span::open("step", name, &[("xtask.deploy.step", name), ("deployment.environment.name", env)])
    }

    /// Add an attribute.
    pub fn attr(&mut self, key: &str, value: &str) {
        if let Some(e) = self.event.as_mut() {
            e.attr(key, value);
        }
    }

    /// The `traceparent` a child process of this span gets; None when telemetry is off.
    pub fn traceparent(&self) -> Option<String> {
        let e = self.event.as_ref()?;
        Some(Context { trace_id: e.trace_id.clone(), span_id: e.span_id.clone(), sampled: true }.traceparent())
    }

    /// Make this the parent of spans opened from now on (in this process), until it ends.
    pub fn enter(mut self) -> Span {
        if let Some(e) = &self.event {
            OPEN.lock().unwrap().push(e.span_id.clone());
            self.entered = true;
        }
        self
    }

    /// Give a command this span's context (a task's child process).
    pub fn propagate(&self, cmd: &mut std::process::Command) {
        if let Some(tp) = self.traceparent() {
            cmd.env(TRACEPARENT, tp);
        }
    }

    /// End it: its result (and, when it did not pass, `error.type`), written and queued for export.
    pub fn end(mut self, outcome: Outcome, error: Option<&str>) {
        self.close(outcome, error);
    }

    fn close(&mut self, outcome: Outcome, error: Option<&str>) {
        let Some(mut e) = self.event.take() else { return };
        if self.entered {
            OPEN.lock().unwrap().retain(|s| *s != e.span_id);
        }
        let key = if e.kind == "task" { "cicd.pipeline.task.run.result" } else { "xtask.deploy.step.result" };
        e.attr(key, outcome.as_str());
        if outcome != Outcome::Success && outcome != Outcome::Skip {
            e.attr("error.type", error.unwrap_or(outcome.as_str()));
        }
        e.kind = format!("{}.end", e.kind);
        e.finish();
        if let Some(run) = RUN.get() {
            events::append(&run.events, &e);
        }
        ENDED.lock().unwrap().push(e);
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        self.close(Outcome::Error, Some("ended early"));
    }
}

/// Run one deploy step as a span: its result from the closure's.
pub fn step<T>(name: &str, env: &str, work: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let span = Span::step(name, env).enter();
    let out = work();
    match &out {
        Ok(_) => span.end(Outcome::Success, None),
        Err(e) => span.end(Outcome::Error, Some(&first_line(&format!("{e:#}")))),
    }
    out
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").chars().take(200).collect()
}

/// End the run span with the process's exit code, and export what this
/// process recorded when a collector is configured (bounded; a failure is one warning).
pub fn finish(code: i32) {
    let Some(run) = RUN.get() else { return };
    let outcome = Outcome::of_exit(code);
    let mut e = run.event("run.end", &run.command, &run.ctx.span_id, run.parent.clone());
    e.start = run.start;
    e.attr("cicd.pipeline.result", outcome.as_str());
    if outcome != Outcome::Success {
        e.attr("error.type", &format!("exit code {code}"));
    }
    e.finish();
    events::append(&run.events, &e);
    let mut spans = std::mem::take(&mut *ENDED.lock().unwrap());
    spans.push(e);
    let Some(config) = otlp::Config::from_env() else { return };
    otlp::export_or_warn(&run.root, &config, &spans, run.nested);
}

#[cfg(test)]
#[path = "telemetry_tests.rs"]
mod tests;
