//! One component's measurements: a tree per side (its code, virtualenv,
//! temporary data folder and service), samples taken in alternating pairs
//! (`schedule`), each sample a process whose last line of output is the value.

use crate::perf::schedule::{self, Next, Side};
use crate::perf::service::{free_port, tail, Process};
use crate::perf::spec::{expand, Scenario, Service};
use crate::printer::Printer;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use xshell::{cmd, Shell};

/// One side of the comparison: a tree under test, ready to sample.
pub struct Tree {
    pub side: Side,
    pub root: PathBuf,
    pub venv: PathBuf,
    pub data: PathBuf,
    /// The component's folder in head: perf.toml and the harness scripts.
    pub harness: PathBuf,
    /// Where this side's logs go.
    pub logs: PathBuf,
    port: Option<u16>,
    service: Option<Process>,
    start_timeout: Duration,
}

impl Tree {
    pub fn new(side: Side, root: &Path, venv: &Path, harness: &Path, logs: &Path, component: &str) -> Result<Tree> {
        let data = std::env::temp_dir().join(format!("xtask-perf-{}-{component}-{}", std::process::id(), side.name()));
        if data.exists() {
            std::fs::remove_dir_all(&data).with_context(|| format!("cannot remove {}", data.display()))?;
        }
        std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
        Ok(Tree {
            side,
            root: root.to_path_buf(),
            venv: venv.to_path_buf(),
            data,
            harness: harness.to_path_buf(),
            logs: logs.to_path_buf(),
            port: None,
            service: None,
            start_timeout: Duration::ZERO,
        })
    }

    fn values(&self) -> BTreeMap<&'static str, String> {
        let port = self.port.map(|p| p.to_string()).unwrap_or_default();
        let text = |p: &Path| p.display().to_string();
        BTreeMap::from([
            ("python", text(&self.venv.join("bin/python"))),
            ("venv", text(&self.venv)),
            ("tree", text(&self.root)),
            ("harness", text(&self.harness)),
            ("data", text(&self.data)),
            ("url", format!("http://127.0.0.1:{port}")),
            ("port", port),
        ])
    }

    fn command(&self, words: &[String]) -> Result<std::process::Command> {
        let values = self.values();
        let words: Vec<String> = words.iter().map(|w| expand(w, &values)).collect();
        let (program, args) = (&words[0], &words[1..]);
        let sh = Shell::new()?;
        sh.change_dir(&self.root);
        Ok(cmd!(sh, "{program} {args...}").into())
    }

    /// Start the service on a free port (`ready` waits for it: both trees' start at once).
    pub fn start(&mut self, service: &Service) -> Result<()> {
        self.port = Some(free_port()?);
        let log = self.logs.join(format!("{}-service.log", self.side.name()));
        self.service = Some(Process::start(self.command(&service.command)?, &log, &log)?);
        self.start_timeout = service.start_timeout;
        Ok(())
    }

    /// Stop the service, if one runs.
    pub fn stop(&mut self) {
        self.service.take(); // its Drop ends the process group
    }

    /// Wait until the service listens; one that exits or never listens is an
    /// error naming the side, the tree and its log's last lines.
    pub fn ready(&mut self, component: &str) -> Result<()> {
        let who = format!("the {} service of {component} (from {})", self.side.name(), self.root.display());
        match (&mut self.service, self.port) {
            (Some(p), Some(port)) => p.wait_ready(port, Instant::now() + self.start_timeout, &who),
            _ => Ok(()),
        }
    }

    /// One sample: run the scenario's command to its end (at most `timeout`)
    /// and read the number on its last line of output.
    pub fn sample(&mut self, s: &Scenario, component: &str, timeout: Duration) -> Result<f64> {
        let who = format!("the {} sample of {component}/{}", self.side.name(), s.name);
        if let Some(service) = &mut self.service {
            if let Some(gone) = service.exited() {
                let log = &service.log;
                bail!(
                    "{who} has no service: it exited ({gone}); the last lines of {}:\n{}",
                    log.display(),
                    tail(log, 12)
                );
            }
        }
        let out = self.logs.join(format!("{}-{}.out", self.side.name(), s.name));
        let log = self.logs.join(format!("{}-{}.log", self.side.name(), s.name));
        let mut p = Process::start(self.command(&s.command)?, &out, &log)?;
        let status = p.wait(Instant::now() + timeout)?;
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        match status {
            None => bail!(
                "{who} took longer than {}s (the scenario's budget); the last lines of {}:\n{}",
                timeout.as_secs(),
                log.display(),
                tail(&log, 12)
            ),
            Some(st) if !st.success() => {
                bail!("{who} failed ({st}); the last lines of {}:\n{}", log.display(), tail(&log, 12))
            }
            Some(_) => {}
        }
        let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
        match last.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => bail!(
                "{who} printed `{last}` last, not a number: a scenario's command ends by printing its sample (see {})",
                out.display()
            ),
        }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        self.service.take(); // stopped by its own Drop
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// The samples of one scenario.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Measured {
    pub base: Vec<f64>,
    pub head: Vec<f64>,
    /// Warm-up included.
    pub seconds: f64,
    /// Why sampling stopped: `all 6 pairs`, `budget after 4 pairs`.
    pub stopped: String,
}

/// Start both trees' services (at once) and wait until both listen.
pub fn start_services(trees: &mut [Tree; 2], service: &Service, component: &str) -> Result<()> {
    for t in trees.iter_mut() {
        t.stop();
        t.start(service)?;
    }
    for t in trees.iter_mut() {
        t.ready(component)?;
    }
    Ok(())
}

/// Take the scenario's samples from both trees, in alternating pairs, on
/// fresh services every `restart_every` pairs.
pub fn measure(
    s: &Scenario,
    component: &str,
    service: Option<&Service>,
    trees: &mut [Tree; 2],
    out: &Printer,
) -> Result<Measured> {
    let start = Instant::now();
    let at = |side: Side| if side == Side::Base { 0 } else { 1 };
    let least = crate::stats::min_samples(s.confidence);
    for n in 0..s.warmup {
        for side in schedule::pair_order(n) {
            trees[at(side)].sample(s, component, s.budget)?;
        }
    }
    let mut m = Measured::default();
    let mut last = Duration::ZERO;
    loop {
        let pairs = m.base.len();
        match schedule::next(pairs, s.samples, least, start.elapsed(), last, s.budget) {
            Next::Pair => {}
            Next::Done => {
                m.stopped = format!("all {pairs} pairs");
                break;
            }
            Next::OverBudget => {
                m.stopped = format!("budget after {pairs} of {} pairs", s.samples);
                break;
            }
        }
        let t = Instant::now();
        if let Some(service) = service.filter(|x| x.restart_every > 0 && pairs > 0 && pairs % x.restart_every == 0) {
            start_services(trees, service, component)?;
        }
        for side in schedule::pair_order(pairs) {
            let v = trees[at(side)].sample(s, component, s.budget)?;
            match side {
                Side::Base => m.base.push(v),
                Side::Head => m.head.push(v),
            }
        }
        last = t.elapsed();
        out.line(&format!(
            "  {component}/{} pair {}: base {} head {} {}",
            s.name,
            pairs + 1,
            fmt(m.base[pairs]),
            fmt(m.head[pairs]),
            s.metric
        ));
    }
    m.seconds = start.elapsed().as_secs_f64();
    Ok(m)
}

/// A sample as the table shows it: three significant digits.
pub fn fmt(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}
