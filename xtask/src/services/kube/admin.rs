//! kubectl as the local cluster's admin, for the services that set it up
//! (the control plane's objects, the node's and the provisioner's
//! identities): one command line with its request timeout, and the
//! long-lived token of a ServiceAccount that `spec::service_account` made
//! (an identity for a process on the host).

use super::spec::Layout;
use crate::services::process::poll_until;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use xshell::{cmd, Cmd, Shell};

/// The cluster's kubectl with a kubeconfig: the admin's (`of`), or a
/// ServiceAccount's (the provisioner's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    pub kubectl: PathBuf,
    pub kubeconfig: PathBuf,
}

impl Admin {
    /// `kubectl` (a build's) with the admin kubeconfig of `l`.
    pub fn of(kubectl: PathBuf, l: &Layout) -> Admin {
        Admin { kubectl, kubeconfig: l.admin() }
    }

    /// `kubectl ARGS` with its kubeconfig, each request bounded by `timeout`
    /// (zero: none, for a watch); quiet.
    pub fn cmd<'a>(&self, sh: &'a Shell, timeout: Duration, args: &[&str]) -> Cmd<'a> {
        let (kubectl, kubeconfig) = (&self.kubectl, &self.kubeconfig);
        let timeout = format!("--request-timeout={}s", timeout.as_secs());
        cmd!(sh, "{kubectl} --kubeconfig {kubeconfig} {timeout} {args...}").quiet()
    }

    /// The token of `who`'s ServiceAccount in kube-system (its Secret
    /// `<who>-token`, filled by the token controller), waited for until
    /// `deadline`; `hint` says where to look when it never comes.
    pub fn token(&self, sh: &Shell, who: &str, deadline: Instant, hint: &str) -> Result<String> {
        use base64::Engine;
        let secret = format!("{who}-token");
        let path = "jsonpath={.data.token}";
        let args = ["-n", "kube-system", "get", "secret", &secret, "-o", path];
        let mut token = Vec::new();
        let filled = poll_until(deadline, || {
            let b64 = self.cmd(sh, Duration::from_secs(10), &args).ignore_stderr().read().unwrap_or_default();
            token = base64::engine::general_purpose::STANDARD.decode(b64.trim()).unwrap_or_default();
            !token.is_empty()
        });
        if !filled {
            bail!("no token in Secret kube-system/{secret}: is kube-controller-manager running? ({hint})");
        }
        String::from_utf8(token).context("a ServiceAccount token is not text")
    }
}
