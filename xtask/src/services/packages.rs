//! The machine's own packages: commands a service needs, installed from
//! Debian with apt-get when missing (as root), and the Debian mirror named
//! in the machine's apt sources (root filesystems are made from it; no
//! mirror's name is ever written into the repo).

use crate::error::UsageError;
use crate::services::Ctx;
use anyhow::{Context, Result};
use std::path::Path;
use xshell::cmd;

/// The packages providing the commands `have` says are missing, sorted, once each.
pub fn missing<'a>(wanted: &[(&str, &'a str)], have: &dyn Fn(&str) -> bool) -> Vec<&'a str> {
    let mut out: Vec<&str> = wanted.iter().filter(|(c, _)| !have(c)).map(|(_, p)| *p).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// A command on PATH, or a file when it is named by its path.
pub fn on_path(command: &str) -> bool {
    if command.starts_with('/') {
        return Path::new(command).exists();
    }
    which::which(command).is_ok()
}

/// Install what provides the `(command, package)` pairs whose command (or
/// file) is missing: as root, or on GitHub through its runner's passwordless
/// `sudo -n`; otherwise one line naming the fix.
pub fn ensure(cx: &Ctx, service: &str, wanted: &[(&str, &str)]) -> Result<()> {
    let pkgs = missing(wanted, &on_path);
    if pkgs.is_empty() {
        return Ok(());
    }
    let commands: Vec<&str> = wanted.iter().filter(|(c, _)| !on_path(c)).map(|(c, _)| *c).collect();
    let list = pkgs.join(" ");
    if !on_path("apt-get") {
        return Err(UsageError::new(format!(
            "{} not installed and there is no apt-get to install {list}: install them, then run `cargo xtask services up` again",
            commands.join(", ") + if commands.len() == 1 { " is" } else { " are" }
        )));
    }
    let (apt, pre): (&str, &[&str]) = if cx.euid != 0 && cx.github {
        ("sudo", &["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"])
    } else {
        cx.need_root(&format!("installing {list} (for {})", commands.join(", ")))?;
        ("apt-get", &[])
    };
    cx.say(service, &format!("installing {list}"));
    let sh = cx.sh;
    fn quiet(c: xshell::Cmd) -> xshell::Cmd {
        c.env("DEBIAN_FRONTEND", "noninteractive").quiet().ignore_stdout()
    }
    quiet(cmd!(sh, "{apt} {pre...} update -qq"))
        .run()
        .context("apt-get update failed: check the machine's apt sources")?;
    quiet(cmd!(sh, "{apt} {pre...} install -y -qq {pkgs...}"))
        .run()
        .with_context(|| format!("apt-get install {list} failed: see its output above"))?;
    if let Some(still) = commands.iter().find(|c| !on_path(c)) {
        anyhow::bail!("{still} is still not on PATH after installing {list}: add its folder to PATH");
    }
    Ok(())
}

/// The mirror of Debian `suite` in apt sources, given as (file name, text):
/// deb822 `.sources` files first (the stanza whose `Suites:` has the plain
/// suite, not `-security` or `-updates`), then one-line `.list` files.
pub fn debian_mirror(files: &[(String, String)], suite: &str) -> Option<String> {
    let deb822 = files.iter().filter(|(n, _)| n.ends_with(".sources")).find_map(|(_, text)| {
        text.split("\n\n").find_map(|stanza| {
            let mut uri = None;
            let mut ok = false;
            for line in stanza.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
                let Some((key, value)) = line.split_once(':') else { continue };
                match key.trim().to_ascii_lowercase().as_str() {
                    "uris" => uri = value.split_whitespace().next().map(String::from),
                    "suites" => ok = value.split_whitespace().any(|s| s == suite),
                    _ => {}
                }
            }
            uri.filter(|_| ok)
        })
    });
    let one_line = || {
        files.iter().filter(|(n, _)| n.ends_with(".list")).find_map(|(_, text)| {
            text.lines().find_map(|l| {
                let mut words = l.split_whitespace().peekable();
                if words.next()? != "deb" {
                    return None;
                }
                // Options in brackets: `[arch=amd64 signed-by=…]`.
                if words.peek()?.starts_with('[') {
                    while !words.next()?.ends_with(']') {}
                }
                let uri = words.next()?;
                (words.next()? == suite).then(|| uri.to_string())
            })
        })
    };
    deb822.or_else(one_line).map(|m| m.trim_end_matches('/').to_string())
}

/// The machine's Debian mirror for `suite` (`XTASK_DEBIAN_MIRROR` wins).
pub fn mirror_here(suite: &str) -> Result<String> {
    if let Some(m) = std::env::var("XTASK_DEBIAN_MIRROR").ok().filter(|m| !m.is_empty()) {
        return Ok(m);
    }
    let mut files = Vec::new();
    let mut add = |p: &Path| {
        if let Ok(text) = std::fs::read_to_string(p) {
            files.push((p.display().to_string(), text));
        }
    };
    let mut names: Vec<_> =
        std::fs::read_dir("/etc/apt/sources.list.d").into_iter().flatten().flatten().map(|e| e.path()).collect();
    names.sort();
    for p in &names {
        add(p);
    }
    add(Path::new("/etc/apt/sources.list"));
    debian_mirror(&files, suite).ok_or_else(|| {
        UsageError::new(format!(
            "no Debian mirror for `{suite}` in /etc/apt/sources.list.d or /etc/apt/sources.list: set XTASK_DEBIAN_MIRROR to one"
        ))
    })
}

#[cfg(test)]
#[path = "packages_tests.rs"]
mod tests;
