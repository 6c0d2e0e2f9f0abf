//! The cluster: finding kubectl (`XTASK_KUBECTL`, else PATH), the
//! configured cluster (`--kubeconfig`, else `KUBECONFIG`) and whether it
//! answers, kubectl's error messages, and the object a render hands the
//! cluster side (`Object`; `manifests::yaml` reads them from YAML).

pub mod cluster;
pub mod credentials;
pub mod diagnose;
pub mod fit;
pub mod health;
pub mod lease;
pub mod lock;
pub mod logs;
pub mod poll;
pub mod quantity;
pub mod rollout;
pub mod smoke;
pub mod sweep;
pub mod wait;
pub mod want;

use crate::error::UsageError;
use anyhow::Result;
use serde_json::Value;
use std::path::{Path, PathBuf};
use xshell::{cmd, Shell};

/// How to install kubectl, for every message that needs it.
pub const INSTALL: &str = "apt-get install kubectl, or set XTASK_KUBECTL to a kubectl binary";
/// How to start the local cluster, for every message that needs one.
pub const START_CLUSTER: &str = "cargo xtask services up kube";
/// How long a probe of the cluster may take before it counts as unreachable.
const PROBE_TIMEOUT: &str = "--request-timeout=10s";

/// `XTASK_KUBECTL`, else `kubectl` on PATH.
pub fn kubectl() -> Result<PathBuf> {
    if let Some(exe) = std::env::var_os("XTASK_KUBECTL").filter(|v| !v.is_empty()) {
        let exe = PathBuf::from(exe);
        if !exe.is_file() {
            return Err(UsageError::new(format!(
                "XTASK_KUBECTL is {}, which does not exist: point it at a kubectl binary or unset it",
                exe.display()
            )));
        }
        return Ok(exe);
    }
    which::which("kubectl").map_err(|_| UsageError::new(format!("kubectl not found on PATH: {INSTALL}")))
}

/// A cluster the user pointed the xtask at: `--kubeconfig FILE`, else the
/// `KUBECONFIG` variable (a file or a list, read by kubectl itself). kubectl's
/// default `~/.kube/config` does not count: a run talks to a cluster only when asked.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Given with `--kubeconfig`: passed to every kubectl call.
    pub flag: Option<PathBuf>,
    /// Where the configuration came from, for messages.
    pub source: String,
}

impl Cluster {
    pub fn configured(flag: Option<&Path>) -> Result<Option<Cluster>> {
        if let Some(file) = flag {
            if !file.is_file() {
                return Err(UsageError::new(format!(
                    "--kubeconfig {} does not exist: pass the cluster's kubeconfig file",
                    file.display()
                )));
            }
            let source = format!("--kubeconfig {}", file.display());
            return Ok(Some(Cluster { flag: Some(file.to_path_buf()), source }));
        }
        Ok(std::env::var("KUBECONFIG")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| Cluster { flag: None, source: format!("KUBECONFIG={v}") }))
    }

    /// The flags every kubectl call against this cluster carries.
    pub fn args(&self) -> Vec<String> {
        match &self.flag {
            Some(f) => vec!["--kubeconfig".into(), f.display().to_string()],
            None => Vec::new(),
        }
    }

    /// The API server's address in the kubeconfig's current context.
    pub fn server(&self, sh: &Shell, kubectl: &Path) -> Option<String> {
        let args = self.args();
        let path = "jsonpath={.clusters[0].cluster.server}";
        cmd!(sh, "{kubectl} {args...} config view --minify -o {path}")
            .quiet()
            .ignore_stderr()
            .read()
            .ok()
            .filter(|s| !s.trim().is_empty())
    }

    /// The server's version, or one line naming the server and the fix (refused
    /// credentials are said as such, not as an unreachable server).
    pub fn check(&self, sh: &Shell, kubectl: &Path) -> Result<String> {
        let Some(server) = self.server(sh, kubectl) else {
            let args = self.args();
            let out = cmd!(sh, "{kubectl} {args...} config view --minify").quiet().ignore_status().output()?;
            let err = String::from_utf8_lossy(&out.stderr);
            if let Some((_, why)) = err.split_once("error loading config file") {
                let why = why.split_once(": ").map_or(why, |(_, w)| w).trim();
                return Err(UsageError::new(format!(
                    "{} cannot be parsed ({why}): point --kubeconfig/KUBECONFIG at a valid kubeconfig",
                    self.source
                )));
            }
            return Err(UsageError::new(format!(
                "{} names no cluster (no server in its current context): point --kubeconfig/KUBECONFIG at a cluster's kubeconfig, or start the local one ({START_CLUSTER})",
                self.source
            )));
        };
        let args = self.args();
        let out = cmd!(sh, "{kubectl} {args...} version -o json {PROBE_TIMEOUT}").quiet().ignore_status().output()?;
        let version = serde_json::from_slice::<Value>(&out.stdout)
            .ok()
            .and_then(|v| v["serverVersion"]["gitVersion"].as_str().map(String::from));
        if let Some(v) = version.filter(|_| out.status.success()) {
            return Ok(v);
        }
        // Not answered: the user's name tells refused credentials from an unreachable server.
        let path = "jsonpath={.contexts[0].context.user}";
        let args = self.args();
        let user = cmd!(sh, "{kubectl} {args...} config view --minify -o {path}").quiet().ignore_stderr().read();
        match cluster::refused(&String::from_utf8_lossy(&out.stderr), &server, &user.unwrap_or_default()) {
            Some(why) => Err(UsageError::new(why)),
            None => Err(UsageError::new(format!(
                "the cluster at {server} ({}) is unreachable: start it ({START_CLUSTER}) or point --kubeconfig/KUBECONFIG at a running one",
                self.source
            ))),
        }
    }

    /// The namespaces that exist on the cluster.
    pub fn namespaces(&self, sh: &Shell, kubectl: &Path) -> Result<Vec<String>> {
        let args = self.args();
        let out =
            cmd!(sh, "{kubectl} {args...} get namespaces -o name {PROBE_TIMEOUT}").quiet().ignore_status().output()?;
        anyhow::ensure!(
            out.status.success(),
            "cannot list the cluster's namespaces: {}",
            error_message(&String::from_utf8_lossy(&out.stderr))
        );
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text.lines().filter_map(|l| l.trim().strip_prefix("namespace/")).map(String::from).collect())
    }
}

/// The message in what kubectl printed on failure: the `err="…"` of a klog
/// line (newer kubectl) or its multi-line `err=<` block, else the text after
/// `error: `, else the last line.
pub fn error_message(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if let Some(at) = line.find(" err=\"") {
            return go_unquote(&line[at + 6..]);
        }
        if line.ends_with(" err=<") {
            let block = lines[i + 1..].iter().take_while(|l| l.trim() != ">");
            return block.map(|l| l.trim()).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
        }
    }
    let lines: Vec<&str> = lines.into_iter().map(str::trim).filter(|l| !l.is_empty()).collect();
    let line = lines.iter().find(|l| l.starts_with("error: ")).or(lines.last()).copied().unwrap_or("no message");
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}

/// A Go-quoted string's content, up to its closing quote.
fn go_unquote(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next() {
                Some('n') => out.push(' '),
                Some('t') => out.push(' '),
                Some(other) => out.push(other),
                None => break,
            },
            c => out.push(c),
        }
    }
    out
}

/// One Kubernetes object of a manifest file (read by `manifests::yaml`).
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    /// The 1-based line of the file its document starts at.
    pub line: u32,
    pub value: Value,
}

impl Object {
    /// `Kind/name`, as messages name objects.
    pub fn id(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

#[cfg(test)]
#[path = "kube_tests.rs"]
mod tests;

// The services' unit tests still name the parser here; the services' own
// branch moves them to `manifests::yaml` (then this line goes).
#[cfg(test)]
pub(crate) use crate::manifests::yaml::objects;
