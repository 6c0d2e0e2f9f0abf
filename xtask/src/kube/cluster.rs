//! One session with an environment's cluster, as the deploy, verify, status
//! and rollback stages use it: kubectl with the run's credentials (a file
//! from `credentials`) and context, reading objects as JSON, applying and
//! deleting, and kubectl's failures turned into one line that says what to do
//! (an unreachable server with its address, RBAC refusals with the verb and
//! resource). The credentials never reach argv beyond the kubeconfig's path.

use crate::error::UsageError;
use crate::kube;
use crate::kube::credentials::Kubeconfig;
use anyhow::{Context, Result};
use serde_json::Value;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use xshell::{cmd, Shell};

/// The field manager every apply uses, so ownership of fields stays with us.
const FIELD_MANAGER: &str = "xtask";

pub struct Session {
    pub kubectl: PathBuf,
    pub namespace: String,
    args: Vec<String>,
    /// Kept alive for the session; a decoded one is removed when it drops.
    _kubeconfig: Kubeconfig,
    pub server: String,
    /// The kubeconfig's user for this context, for messages about refused credentials.
    pub user: String,
    /// Print each kubectl command before it runs (`--dry-run`).
    pub echo: bool,
    /// Which cluster and why, in one line (`line`).
    pub described: String,
}

/// `cluster: KUBECONFIG, context C, server S (why)`: which cluster a command
/// talks to and why, so a user with a cluster of their own sees before
/// anything is applied when the services record chose the local one.
pub fn line(kubeconfig: &str, context: &str, given: bool, server: &str, why: &str) -> String {
    let context = if given { format!("{context} (--context)") } else { context.to_string() };
    format!("cluster: {kubeconfig}, context {context}, server {server} ({why})")
}

impl Session {
    /// Connect: find kubectl, check the server answers (one line naming it when not).
    pub fn open(kubeconfig: Kubeconfig, context: Option<&str>, namespace: &str) -> Result<Session> {
        let kubectl = kube::kubectl()?;
        let mut args = vec!["--kubeconfig".to_string(), kubeconfig.path.display().to_string()];
        if let Some(c) = context {
            args.extend(["--context".to_string(), c.to_string()]);
        }
        let mut s = Session {
            kubectl,
            namespace: namespace.into(),
            args,
            _kubeconfig: kubeconfig,
            server: String::new(),
            user: String::new(),
            echo: false,
            described: String::new(),
        };
        // One read of the kubeconfig (each kubectl start costs ~70 ms of CPU).
        let view = s.run(&["config", "view", "--minify", "-o", "json"], None);
        let view = view.map(|v| serde_json::from_str::<serde_json::Value>(&v).unwrap_or_default());
        let of =
            |v: &serde_json::Value, at: &str| v.pointer(at).and_then(|s| s.as_str()).unwrap_or_default().to_string();
        s.server = match view.as_ref().map(|v| of(v, "/clusters/0/cluster/server")) {
            Ok(v) if !v.trim().is_empty() => v.trim().to_string(),
            // kubectl's own words say where the file breaks (`yaml: line 3: …`).
            Err(e) if e.to_string().contains("error loading config file") => {
                let what = if s._kubeconfig.temporary() {
                    "the kubeconfig from the environment".to_string()
                } else {
                    format!("the kubeconfig {}", s._kubeconfig.path.display())
                };
                let why = e.to_string();
                let why = why
                    .rsplit("error loading config file")
                    .next()
                    .unwrap_or(&why)
                    .trim_start_matches(|c: char| c != ':')
                    .trim_start_matches(':')
                    .trim();
                return Err(UsageError::new(format!("{what} cannot be parsed ({why}): give a valid kubeconfig (KUBECONFIG, KUBECONFIG_B64 or --kubeconfig)")));
            }
            Ok(_) | Err(_) => {
                let ctx = context.map(|c| format!("context `{c}` of ")).unwrap_or_default();
                return Err(UsageError::new(format!(
                    "the {ctx}kubeconfig names no cluster: give the right one (KUBECONFIG, --kubeconfig or --context)"
                )));
            }
        };
        let view = view.unwrap_or_default();
        s.user = of(&view, "/contexts/0/context/user");
        // --minify keeps the context in use (the given one, else the current one).
        let ctx = match context {
            Some(c) => c.to_string(),
            None => of(&view, "/current-context"),
        };
        let shown = if s._kubeconfig.temporary() {
            "the kubeconfig from the environment".to_string()
        } else {
            s._kubeconfig.path.display().to_string()
        };
        let ctx = if ctx.is_empty() { "none".to_string() } else { ctx };
        s.described = line(&shown, &ctx, context.is_some(), &s.server, &s._kubeconfig.why);
        // Credentials the server refuses are said as such; anything else means it did not answer.
        s.run(&["version", "-o", "json", "--request-timeout=10s"], None).map_err(|e| {
            if e.chain().any(|c| c.is::<UsageError>()) {
                return e;
            }
            UsageError::new(format!(
                "the cluster at {} is unreachable ({}): check the address and your network, or start the local one ({})",
                s.server,
                s.described.trim_start_matches("cluster: "),
                kube::START_CLUSTER
            ))
        })?;
        Ok(s)
    }

    /// kubectl with the session's credentials; stdout, or kubectl's error as one line.
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let (kubectl, base) = (&self.kubectl, &self.args);
        if self.echo {
            let shown: Vec<String> = std::iter::once(crate::plan::quote(&kubectl.display().to_string()))
                .chain(args.iter().map(|a| crate::plan::quote(a)))
                .collect();
            eprintln!("$ {}", shown.join(" "));
        }
        // A shell per call keeps the session shareable with the lease's renewing thread.
        let sh = Shell::new()?;
        // The child needs no copy of the secret: the file is all it reads.
        let c = cmd!(sh, "{kubectl} {base...} {args...}").env_remove("KUBECONFIG").env_remove("KUBECONFIG_B64");
        let out = shielded(c, stdin).with_context(|| format!("cannot run {}: {}", kubectl.display(), kube::INSTALL))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        Err(explain(&String::from_utf8_lossy(&out.stderr), &self.server, &self.user))
    }

    /// kubectl with the session's credentials as a command to spawn (a
    /// stream: `logs --follow`); its failures are the caller's to read.
    pub fn command(&self, args: &[&str]) -> Result<Command> {
        let (kubectl, base) = (&self.kubectl, &self.args);
        let sh = Shell::new()?;
        let c = cmd!(sh, "{kubectl} {base...} {args...}").env_remove("KUBECONFIG").env_remove("KUBECONFIG_B64");
        Ok(c.into())
    }

    /// `kubectl get KINDS -o json` in the namespace: the items.
    pub fn get(&self, kinds: &str, selector: Option<&str>) -> Result<Vec<Value>> {
        let ns = self.namespace.clone();
        let mut args = vec!["get", kinds, "-n", &ns, "-o", "json"];
        if let Some(s) = selector {
            args.extend(["-l", s]);
        }
        let text = self.run(&args, None)?;
        let list: Value = serde_json::from_str(&text).context("kubectl printed JSON that does not parse")?;
        Ok(list["items"].as_array().cloned().unwrap_or_default())
    }

    /// One object, or None when it does not exist.
    pub fn get_one(&self, kind: &str, name: &str) -> Result<Option<Value>> {
        let ns = self.namespace.clone();
        let text = self.run(&["get", kind, name, "-n", &ns, "-o", "json", "--ignore-not-found"], None)?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        Ok(Some(serde_json::from_str(&text).context("kubectl printed JSON that does not parse")?))
    }

    /// Server-side apply of a file (or stdin text) with our field manager.
    pub fn apply(&self, file: Option<&Path>, text: Option<&str>, dry_run: bool) -> Result<String> {
        let f = file.map_or("-".to_string(), |p| p.display().to_string());
        let manager = format!("--field-manager={FIELD_MANAGER}");
        let mut args = vec!["apply", "--server-side", "--force-conflicts", &manager, "-f", &f];
        if dry_run {
            args.push("--dry-run=server");
        }
        self.run(&args, text)
    }

    /// `kubectl create -f -` (fails when it exists: used for optimistic
    /// locking): the object as created, JSON.
    pub fn create(&self, json: &Value) -> Result<String> {
        self.run(&["create", "-f", "-", "-o", "json"], Some(&json.to_string()))
    }

    /// `kubectl replace -f -` (fails on a stale resourceVersion): the object as written, JSON.
    pub fn replace(&self, json: &Value) -> Result<String> {
        self.run(&["replace", "-f", "-", "-o", "json"], Some(&json.to_string()))
    }

    pub fn delete(&self, kind: &str, name: &str) -> Result<()> {
        let ns = self.namespace.clone();
        self.run(&["delete", kind, name, "-n", &ns, "--ignore-not-found", "--wait=false"], None).map(|_| ())
    }

    /// `kubectl diff --server-side`: the diff text (kubectl exits 1 when there is one).
    pub fn diff(&self, file: &Path) -> Result<String> {
        let (kubectl, base) = (&self.kubectl, &self.args);
        let manager = format!("--field-manager={FIELD_MANAGER}");
        let sh = Shell::new()?;
        let c = cmd!(sh, "{kubectl} {base...} diff --server-side --force-conflicts {manager} -f {file}")
            .env_remove("KUBECONFIG")
            .env_remove("KUBECONFIG_B64");
        let out = shielded(c, None)?;
        match out.status.code() {
            Some(0 | 1) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
            _ => Err(explain(&String::from_utf8_lossy(&out.stderr), &self.server, &self.user)),
        }
    }
}

/// Run kubectl in a process group of its own and collect its output. A
/// terminal's Ctrl-C signals the whole foreground group: a kubectl killed by
/// it mid-call would turn the interrupt into "kubectl: no message" and leave
/// the release unrecorded. Shielded, kubectl finishes its call and the xtask
/// alone decides what the interrupt ends (the lock released, the state said).
fn shielded(c: xshell::Cmd<'_>, stdin: Option<&str>) -> std::io::Result<Output> {
    let mut c: Command = c.into();
    c.process_group(0).stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn()?;
    let input = child.stdin.take();
    let text = stdin.unwrap_or_default().to_string();
    // Written from a thread: kubectl may answer before it has read everything.
    let writer = std::thread::spawn(move || input.map(|mut i| i.write_all(text.as_bytes())));
    let out = child.wait_with_output()?;
    // A kubectl that stops reading early (it failed) breaks the pipe: its exit status tells.
    let _ = writer.join();
    Ok(out)
}

/// kubectl's failure as one line: refused credentials, RBAC refusals and
/// unreachable servers are bad input (the fix is the user's), anything else
/// an error with kubectl's words.
fn explain(stderr: &str, server: &str, user: &str) -> anyhow::Error {
    if let Some(refused) = refused(stderr, server, user) {
        return UsageError::new(refused);
    }
    let msg = kube::error_message(stderr);
    if let Some(forbidden) = forbidden(&msg) {
        return UsageError::new(forbidden);
    }
    let unreachable =
        ["connection refused", "no such host", "i/o timeout", "Unable to connect", "context deadline exceeded"];
    if unreachable.iter().any(|u| msg.contains(u)) {
        return UsageError::new(format!(
            "the cluster at {server} is unreachable ({msg}): check the address and your network, or start the local one ({})",
            kube::START_CLUSTER
        ));
    }
    anyhow::anyhow!("kubectl: {msg}")
}

/// The server answered and refused who we are (HTTP 401), or refused us
/// without saying which permission (a 403 that is not an RBAC message): one
/// line naming the server, the kubeconfig's user and the fix.
pub fn refused(stderr: &str, server: &str, user: &str) -> Option<String> {
    let who = if user.is_empty() { "the kubeconfig's user".to_string() } else { format!("user `{user}`") };
    let unauthorized =
        ["must be logged in to the server", "asked for the client to provide credentials", "(Unauthorized)"];
    if unauthorized.iter().any(|u| stderr.contains(u)) {
        return Some(format!(
            "the cluster at {server} refused the credentials of {who} (401 Unauthorized: a wrong, expired or revoked token or certificate): give {who} valid credentials in the kubeconfig (on GitHub: the KUBECONFIG secret)"
        ));
    }
    let msg = kube::error_message(stderr);
    if stderr.contains("(Forbidden)") && forbidden(&msg).is_none() {
        return Some(format!(
            "the cluster at {server} refused {who} (403 Forbidden: {msg}): grant {who} access, or use credentials that have it"
        ));
    }
    None
}

/// `User "x" cannot create resource "leases" in API group "coordination.k8s.io" in the namespace "ns"`
/// → one line with who, the verb, the resource and the namespace.
fn forbidden(msg: &str) -> Option<String> {
    let at = msg.find(" cannot ")?;
    let who = msg[..at].rsplit("User ").next().map(|u| u.trim_matches('"')).filter(|_| msg.contains("User "));
    let rest = &msg[at + " cannot ".len()..];
    let verb = rest.split_whitespace().next()?;
    let quoted: Vec<&str> = rest.split('"').skip(1).step_by(2).collect();
    let resource = quoted.first()?;
    let group = quoted
        .get(1)
        .filter(|g| !g.is_empty() && rest.contains("API group"))
        .map(|g| format!(".{g}"))
        .unwrap_or_default();
    let ns =
        rest.rsplit("namespace \"").next().filter(|_| rest.contains("namespace \"")).map(|n| n.trim_end_matches('"'));
    let place = ns.map(|n| format!(" in namespace {n}")).unwrap_or_default();
    let who = who.map(|w| format!("{w} ")).unwrap_or_default();
    Some(format!(
        "forbidden: {who}may not {verb} {resource}{group}{place}: grant it with a Role and RoleBinding, or use credentials that may"
    ))
}

#[cfg(test)]
#[path = "cluster_tests.rs"]
mod tests;
