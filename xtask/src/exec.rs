//! The one executor: runs every task of a plan with bounded parallelism,
//! output captured per task and printed whole when it ends, durations
//! recorded, and a clean stop (whole process groups) on Ctrl-C.

use crate::cache::key::{Lookup, Session};
use crate::cache::Entry;
use crate::findings::Verdict;
use crate::fsutil::write_atomic;
use crate::plan::{ExitPolicy, Task};
use crate::printer::Printer;
use crate::telemetry;
use anyhow::{Context, Result};
use serde::Serialize;
use std::fs::File;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use xshell::{cmd, Shell};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Ctrl-C (or SIGTERM) asks running tasks to stop; the executor ends their
/// process groups and reports them as interrupted.
/// Once per process: `ci` runs its stages in-process, and each installs it.
pub fn install_interrupt_handler() -> Result<()> {
    static INSTALLED: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if !*installed {
        ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst))
            .context("cannot install the Ctrl-C handler")?;
        *installed = true;
    }
    Ok(())
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}
impl std::error::Error for Interrupted {}

/// A task's captured output: the child's stdout and stderr, in order.
pub struct Log {
    file: File,
}

impl Log {
    pub fn create(path: PathBuf) -> Result<Log> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let file = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Log { file })
    }

    pub fn note(&mut self, msg: &str) {
        let _ = writeln!(self.file, "xtask: {msg}");
    }
}

/// Run one program with its output appended to `log`, in its own process
/// group so that an interrupt can end it and everything it started.
pub fn run_logged(mut cmd: Command, log: &mut Log) -> Result<ExitStatus> {
    let out = log.file.try_clone()?;
    let err = log.file.try_clone()?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err).process_group(0);
    // Tests and builds run third-party code: they get no secrets.
    for var in crate::plan::SECRET_VARS {
        cmd.env_remove(var);
    }
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd.spawn().with_context(|| format!("cannot start {program}"))?;
    let group = child.id() as i32;
    loop {
        if let Some(status) = child.try_wait()? {
            // Reap anything the program left behind in its group.
            signal_group(group, libc::SIGKILL);
            return Ok(status);
        }
        if interrupted() {
            signal_group(group, libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait()?.is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            signal_group(group, libc::SIGKILL);
            let _ = child.wait();
            return Err(Interrupted.into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal_group(group: i32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals that process group; it has no memory effects.
    unsafe {
        libc::kill(-group, signal);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", content = "reason", rename_all = "kebab-case")]
pub enum Outcome {
    Passed,
    /// The tool ran and found problems.
    Failed(String),
    /// The tool could not run: missing, crashed, bad configuration.
    Error(String),
    /// Not started, and why: an earlier failure with --fail-fast, a task it
    /// was chained after that did not pass, or an interrupt.
    NotRun(String),
    Interrupted,
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed(_) => "failed",
            Outcome::Error(_) => "error",
            Outcome::NotRun(_) => "not run",
            Outcome::Interrupted => "interrupted",
        }
    }

    pub fn is_ok(&self) -> bool {
        *self == Outcome::Passed
    }
}

/// Read an exit code the way the tool documents it.
pub fn judge(policy: ExitPolicy, code: Option<i32>) -> Outcome {
    match (policy, code) {
        (_, Some(0)) => Outcome::Passed,
        (ExitPolicy::Pytest, Some(1)) => Outcome::Failed("tests failed".into()),
        (ExitPolicy::Pytest, Some(5)) => {
            Outcome::Failed("no tests collected: a component without tests is a defect, add tests".into())
        }
        (ExitPolicy::Cargo, Some(101)) => Outcome::Failed("problems found".into()),
        (ExitPolicy::Docker, Some(_)) => Outcome::Failed("docker failed: see its output".into()),
        (ExitPolicy::Tool(tool), Some(c)) => match crate::findings::judge(tool, c) {
            Verdict::Clean => Outcome::Passed,
            Verdict::Findings => Outcome::Failed("problems found".into()),
            Verdict::Error => Outcome::Error(format!("{tool} could not run (exit {c}): see its output")),
        },
        (_, Some(c)) => Outcome::Error(format!("exited with code {c}: the tool could not run, see its output")),
        (_, None) => Outcome::Error("killed by a signal".into()),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Finished {
    pub task: Task,
    pub outcome: Outcome,
    pub seconds: f64,
    /// When it started, in seconds from the start of the run (the gantt chart's bars).
    pub start: f64,
    pub log: PathBuf,
    /// Where the task's own command output starts in the log (after environment setup).
    #[serde(skip)]
    pub output_start: u64,
    /// Not run: a recorded success with the same inputs was replayed
    /// (its output, result file and original duration).
    pub cached: bool,
}

impl Finished {
    /// What the task's command printed (stdout and stderr), without environment setup.
    pub fn output(&self) -> String {
        output_of(&self.log, self.output_start)
    }
}

/// A log's text from `start` on.
fn output_of(log: &Path, start: u64) -> String {
    let bytes = std::fs::read(log).unwrap_or_default();
    let start = (start as usize).min(bytes.len());
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// A stage's own reading of a finished command (exit code and output), where
/// the exit code alone cannot tell findings from a tool that could not run.
pub type Review<'a> = &'a (dyn Fn(&Task, Option<i32>, &str) -> Outcome + Sync);

pub struct Options<'a> {
    pub jobs: usize,
    pub fail_fast: bool,
    /// Print passing tasks' output too (failures and errors always print in full).
    pub verbose: bool,
    pub out: Printer,
    pub review: Option<Review<'a>>,
    /// The task cache, and each task's lookup in plan order (None: not cached).
    pub cache: Option<(&'a Session, &'a [Option<Lookup>])>,
}

/// What a stage makes ready for its tasks (virtualenvs, build contexts),
/// named by the tasks' `needs`.
pub trait Prepare: Sync {
    /// How the thing is called in messages, e.g. `target/venvs/storage`.
    fn label(&self, need: &str) -> String;
    /// Is it ready as it is?
    fn is_fresh(&self, need: &str) -> Result<bool>;
    /// The commands that would make it ready, for `--dry-run`.
    fn commands(&self, need: &str) -> Vec<String>;
    /// Make it ready, writing what happens to the task's log.
    fn ensure(&self, need: &str, log: &mut Log) -> Result<()>;
    /// What identifies it for the task cache, read cheaply (a stamp file,
    /// never a spawned program); None: tasks needing it are never cached.
    fn fingerprint(&self, _need: &str) -> Option<String> {
        None
    }
    /// Checks made once before any task that needs preparing runs (e.g. the interpreter).
    fn check(&self) -> Result<()> {
        Ok(())
    }
}

/// The fingerprints of everything a task needs; None when one has none.
pub fn fingerprints(task: &Task, prep: Option<&dyn Prepare>) -> Option<Vec<(String, String)>> {
    task.needs.iter().map(|n| Some((n.clone(), prep?.fingerprint(n)?))).collect()
}

/// Run every task; the results come back in plan order. A task with
/// `after` runs in the same worker right after that task, if it passed.
pub fn execute(root: &Path, tasks: &[Task], prep: Option<&dyn Prepare>, opts: &Options) -> Vec<Finished> {
    let heads: Vec<usize> = (0..tasks.len()).filter(|&i| tasks[i].after.is_none()).collect();
    let next = AtomicUsize::new(0);
    // The task whose failure stopped the run under --fail-fast.
    let stopped_by: Mutex<Option<String>> = Mutex::new(None);
    let results: Mutex<Vec<Option<Finished>>> = Mutex::new(vec![None; tasks.len()]);
    let workers = opts.jobs.max(1).min(heads.len().max(1));
    let (t0, _live) = (Instant::now(), crate::progress::Live::start());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                while let Some(&head) = heads.get(next.fetch_add(1, Ordering::SeqCst)) {
                    // Run the head, then each task chained after the previous one while they pass.
                    let mut current = Some(head);
                    let mut blocked: Option<String> = None;
                    while let Some(i) = current {
                        let task = &tasks[i];
                        let stopper = stopped_by.lock().unwrap().clone();
                        let done = if let Some(why) = &blocked {
                            not_run(task, why.clone(), t0)
                        } else if let Some(failed) = stopper {
                            not_run(task, format!("--fail-fast: {failed} did not pass"), t0)
                        } else if interrupted() {
                            not_run(task, "interrupted before it started".into(), t0)
                        } else {
                            let lookup = opts.cache.and_then(|(s, l)| Some((s, l.get(i)?.as_ref()?)));
                            run_task(root, task, prep, opts, t0, lookup)
                        };
                        // Tasks chained after this one share its fate.
                        blocked = blocked.or_else(|| match &done.outcome {
                            Outcome::Passed => None,
                            Outcome::NotRun(why) => Some(why.clone()),
                            _ => Some(format!("{} did not pass", task.id)),
                        });
                        let ran = !matches!(done.outcome, Outcome::Passed | Outcome::NotRun(_));
                        if opts.fail_fast && ran {
                            stopped_by.lock().unwrap().get_or_insert_with(|| task.id.clone());
                        }
                        results.lock().unwrap()[i] = Some(done);
                        current = tasks.iter().position(|t| t.after.as_deref() == Some(task.id.as_str()));
                    }
                }
            });
        }
    });
    results.into_inner().unwrap().into_iter().map(|r| r.expect("every task was taken")).collect()
}

fn not_run(task: &Task, why: String, t0: Instant) -> Finished {
    // An earlier run's result must not pass for this run's.
    if let Some(artifact) = &task.artifact {
        let _ = std::fs::remove_file(artifact);
    }
    Finished {
        task: task.clone(),
        outcome: Outcome::NotRun(why),
        seconds: 0.0,
        start: t0.elapsed().as_secs_f64(),
        log: PathBuf::new(),
        output_start: 0,
        cached: false,
    }
}

fn log_path(root: &Path, task: &Task) -> PathBuf {
    root.join("target/xtask/logs").join(format!("{}.log", task.id.replace(':', "-")))
}

/// A recorded success in place of a run: its log and result file written
/// back where the run would have left them. None if they cannot be written.
fn replay(root: &Path, task: &Task, entry: &Entry, out: &Printer, verbose: bool, start: f64) -> Option<Finished> {
    let log = log_path(root, task);
    // Written as a run writes its log (no fsync: it is output, not a result).
    std::fs::create_dir_all(log.parent()?).ok()?;
    std::fs::write(&log, &entry.log).ok()?;
    match (&task.artifact, &entry.artifact) {
        (Some(path), Some(bytes)) => write_atomic(path, bytes).ok()?,
        (Some(_), None) | (None, Some(_)) => return None,
        (None, None) => {}
    }
    let seconds = entry.meta.seconds;
    let title = format!("{} cached (passed in {seconds:.1}s)", task.id);
    if !verbose && !out.github {
        out.line(&title);
    } else {
        out.block(&title, &String::from_utf8_lossy(&entry.log));
    }
    let output_start = entry.meta.output_start;
    Some(Finished { task: task.clone(), outcome: Outcome::Passed, seconds, start, log, output_start, cached: true })
}

/// Record a passed task's log and result file under its inputs.
fn record(session: &Session, lookup: &Lookup, prep: Option<&dyn Prepare>, done: &Finished) -> Result<bool> {
    let Some(tools) = fingerprints(&done.task, prep) else { return Ok(false) };
    let mut entry = Entry::new(&done.task.id, &lookup.key, Vec::new(), done.seconds, done.output_start);
    entry.log = std::fs::read(&done.log).with_context(|| format!("cannot read {}", done.log.display()))?;
    if let Some(artifact) = &done.task.artifact {
        entry.artifact = Some(std::fs::read(artifact).with_context(|| format!("cannot read {}", artifact.display()))?);
    }
    session.record(lookup, &tools, entry)
}

fn run_task(
    root: &Path,
    task: &Task,
    prep: Option<&dyn Prepare>,
    opts: &Options,
    t0: Instant,
    cache: Option<(&Session, &Lookup)>,
) -> Finished {
    let (start, out) = (Instant::now(), &opts.out);
    let mut span = telemetry::Span::task(&task.id);
    if let Some(entry) = cache.and_then(|(_, l)| l.hit.as_ref()) {
        if let Some(done) = replay(root, task, entry, out, opts.verbose, t0.elapsed().as_secs_f64()) {
            span.attr("xtask.task.cached", "true");
            span.end(telemetry::Outcome::Success, None);
            return done;
        }
    }
    crate::progress::started(&task.id);
    let log_path = log_path(root, task);
    out.line(&format!("started  {}", task.id));
    let mut output_start = 0;
    let outcome = match attempt(task, prep, log_path.clone(), &span) {
        Ok((code, from)) => {
            output_start = from;
            match opts.review {
                Some(review) => review(task, code, &output_of(&log_path, output_start)),
                None => judge(task.exit, code),
            }
        }
        Err(e) if e.is::<Interrupted>() => Outcome::Interrupted,
        Err(e) => Outcome::Error(format!("{e:#}")),
    };
    if let (Some(artifact), Outcome::Interrupted) = (&task.artifact, &outcome) {
        let _ = std::fs::remove_file(artifact);
    }
    let seconds = start.elapsed().as_secs_f64();
    crate::progress::finished(&task.id);
    let text = String::from_utf8_lossy(&std::fs::read(&log_path).unwrap_or_default()).into_owned();
    let title = format!("{} {} in {seconds:.1}s", task.id, outcome.label());
    // A passing task's output is noise, except on GitHub where groups fold it away.
    if outcome.is_ok() && !opts.verbose && !out.github {
        out.line(&title);
    } else {
        out.block(&title, &text);
    }
    let start = start.duration_since(t0).as_secs_f64();
    let (result, error) = span_result(&outcome);
    span.end(result, error.as_deref());
    let done = Finished { task: task.clone(), outcome, seconds, start, log: log_path, output_start, cached: false };
    if let (Some((session, lookup)), true) = (cache, done.outcome.is_ok()) {
        // A cache that cannot be written costs speed, not correctness.
        if let Err(e) = record(session, lookup, prep, &done) {
            out.line(&format!("note: {} not cached: {e:#}", task.id));
        }
    }
    done
}

/// A task's outcome in the CI/CD conventions' words, and its `error.type`.
fn span_result(outcome: &Outcome) -> (telemetry::Outcome, Option<String>) {
    match outcome {
        Outcome::Passed => (telemetry::Outcome::Success, None),
        Outcome::Failed(why) => (telemetry::Outcome::Failure, Some(why.clone())),
        Outcome::Error(why) => (telemetry::Outcome::Error, Some(why.lines().next().unwrap_or("").to_string())),
        Outcome::NotRun(_) => (telemetry::Outcome::Skip, None),
        Outcome::Interrupted => (telemetry::Outcome::Cancellation, Some("interrupted".into())),
    }
}

/// Prepare and run one task: its exit code, and where its command's output starts in the log.
fn attempt(
    task: &Task,
    prep: Option<&dyn Prepare>,
    log_path: PathBuf,
    span: &telemetry::Span,
) -> Result<(Option<i32>, u64)> {
    let mut log = Log::create(log_path)?;
    if let Some(artifact) = &task.artifact {
        if let Err(e) = std::fs::remove_file(artifact) {
            anyhow::ensure!(
                e.kind() == std::io::ErrorKind::NotFound,
                "cannot remove stale {}: {e}",
                artifact.display()
            );
        }
        if let Some(dir) = artifact.parent() {
            std::fs::create_dir_all(dir)?;
        }
    }
    for need in &task.needs {
        let prep = prep.context("a task needs preparation but its stage has no preparer")?;
        prep.ensure(need, &mut log).with_context(|| format!("cannot prepare {}", prep.label(need)))?;
    }
    let output_start = log.file.metadata()?.len();
    let sh = Shell::new()?;
    sh.change_dir(&task.cwd);
    let (program, args) = (&task.program, &task.args);
    let cmd = task.env.iter().fold(cmd!(sh, "{program} {args...}"), |c, (k, v)| c.env(k, v));
    let mut cmd: Command = cmd.into();
    // The task's own span is its program's parent in the trace.
    span.propagate(&mut cmd);
    let status = run_logged(cmd, &mut log)?;
    Ok((status.code(), output_start))
}

#[cfg(test)]
#[path = "exec_tests.rs"]
pub(crate) mod tests;
