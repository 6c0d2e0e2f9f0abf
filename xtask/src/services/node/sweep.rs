//! What a stopped node must not leave behind, found and removed: its pods'
//! processes (kubepods cgroups), mounts under the node's directories,
//! iptables chains (KUBE-*, CNI-*), the bridge and its veths, and the sysctls
//! the kubelet changed. The decisions are pure functions over what the kernel
//! reports (`/proc/self/mountinfo`, `iptables-save`), tested in
//! `sweep_tests.rs`; the rest is thin I/O. Every step is safe to repeat,
//! and each one works after a `kill -9` of anything.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;
use xshell::{cmd, Shell};

/// The sysctls the kubelet sets at start (`setupKernelTunables`), and those
/// kube-proxy would set if its configuration asked (it does not), saved before
/// the first start and put back by `down`.
pub const SYSCTLS: [&str; 9] = [
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.netfilter.nf_conntrack_max",
    "net.netfilter.nf_conntrack_tcp_timeout_established",
    "net.netfilter.nf_conntrack_tcp_timeout_close_wait",
];

fn sysctl_path(key: &str) -> PathBuf {
    Path::new("/proc/sys").join(key.replace('.', "/"))
}

/// `key=value` lines of the current values.
pub fn read_sysctls() -> String {
    SYSCTLS
        .iter()
        .filter_map(|k| std::fs::read_to_string(sysctl_path(k)).ok().map(|v| format!("{k}={}\n", v.trim())))
        .collect()
}

/// The saved values worth writing back: known keys only, each once.
pub fn parse_sysctls(saved: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in saved.lines() {
        let Some((k, v)) = line.split_once('=') else { continue };
        let (k, v) = (k.trim(), v.trim());
        if SYSCTLS.contains(&k) && !v.is_empty() && !out.iter().any(|(seen, _)| seen == k) {
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

/// Write the saved values back; the names of those that differed.
pub fn restore_sysctls(saved: &str) -> Result<Vec<String>> {
    let mut changed = Vec::new();
    for (k, v) in parse_sysctls(saved) {
        let path = sysctl_path(&k);
        let now = std::fs::read_to_string(&path).unwrap_or_default();
        if now.trim() != v {
            std::fs::write(&path, format!("{v}\n")).with_context(|| format!("cannot restore {k}={v}"))?;
            changed.push(format!("{k}={v}"));
        }
    }
    Ok(changed)
}

/// Undo the octal escapes of mountinfo (`\040` is a space).
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mount points at or under any of `roots`, deepest first (the order to unmount them).
pub fn mounts_under(mountinfo: &str, roots: &[&Path]) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape(m)))
        .filter(|m| roots.iter().any(|r| m.starts_with(r)))
        .collect();
    found.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    found.dedup();
    found
}

/// Unmount everything under `roots`; how many mounts went.
pub fn unmount_under(roots: &[&Path]) -> Result<usize> {
    let mut count = 0;
    // A mount can hide another at the same place: repeat while any is left.
    for _ in 0..5 {
        let info = std::fs::read_to_string("/proc/self/mountinfo").context("cannot read /proc/self/mountinfo")?;
        let mounts = mounts_under(&info, roots);
        if mounts.is_empty() {
            return Ok(count);
        }
        for m in mounts {
            let c = std::ffi::CString::new(m.as_os_str().as_encoded_bytes())?;
            // SAFETY: umount2 on a NUL-terminated path; detach when it is busy.
            let ok = unsafe { libc::umount2(c.as_ptr(), 0) == 0 || libc::umount2(c.as_ptr(), libc::MNT_DETACH) == 0 };
            if ok {
                count += 1;
            }
        }
    }
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    let left = mounts_under(&info, roots);
    anyhow::ensure!(left.is_empty(), "mounts left after unmounting: {left:?} (see: findmnt)");
    Ok(count)
}

fn swept_chain(name: &str) -> bool {
    name.starts_with("KUBE-") || name.starts_with("CNI-")
}

/// An `iptables-restore --noflush` script that removes every KUBE-* and CNI-*
/// chain from `iptables-save`'s output: first the rules of other chains that
/// jump to one, then their rules, then the chains. None when there is nothing to do.
pub fn sweep_script(save: &str) -> Option<String> {
    let mut out = String::new();
    let mut table: Option<&str> = None;
    let (mut deletes, mut chains): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    let flush = |table: Option<&str>, deletes: &mut Vec<String>, chains: &mut Vec<String>, out: &mut String| {
        if let Some(t) = table {
            if !deletes.is_empty() || !chains.is_empty() {
                out.push_str(&format!("*{t}\n"));
                for d in deletes.drain(..) {
                    out.push_str(&format!("{d}\n"));
                }
                for c in chains.iter() {
                    out.push_str(&format!("-F {c}\n"));
                }
                for c in chains.drain(..) {
                    out.push_str(&format!("-X {c}\n"));
                }
                out.push_str("COMMIT\n");
            }
        }
    };
    for line in save.lines() {
        if let Some(t) = line.strip_prefix('*') {
            flush(table, &mut deletes, &mut chains, &mut out);
            table = Some(t.trim());
        } else if let Some(decl) = line.strip_prefix(':') {
            let name = decl.split_whitespace().next().unwrap_or("");
            if swept_chain(name) {
                chains.push(name.to_string());
            }
        } else if let Some(rule) = line.strip_prefix("-A ") {
            let chain = rule.split_whitespace().next().unwrap_or("");
            let words: Vec<&str> = rule.split_whitespace().collect();
            let jumps = words.windows(2).any(|w| (w[0] == "-j" || w[0] == "-g") && swept_chain(w[1]));
            if !swept_chain(chain) && jumps {
                deletes.push(format!("-D {rule}"));
            }
        }
    }
    flush(table, &mut deletes, &mut chains, &mut out);
    (!out.is_empty()).then_some(out)
}

/// Remove KUBE-* and CNI-* chains from iptables and ip6tables; the chains removed per family.
pub fn sweep_iptables(sh: &Shell) -> Result<Vec<String>> {
    let mut done = Vec::new();
    for (save, restore) in [("iptables-save", "iptables-restore"), ("ip6tables-save", "ip6tables-restore")] {
        if which::which(save).is_err() {
            continue;
        }
        let text = cmd!(sh, "{save}").quiet().ignore_stderr().read().unwrap_or_default();
        if let Some(script) = sweep_script(&text) {
            let n = script.lines().filter(|l| l.starts_with("-X ")).count();
            cmd!(sh, "{restore} --noflush")
                .stdin(script.as_str())
                .quiet()
                .run()
                .with_context(|| format!("{restore} could not remove the KUBE-*/CNI-* chains"))?;
            done.push(format!("{save}: {n} chain(s)"));
        }
    }
    Ok(done)
}

/// The kubepods cgroups under a cgroup mount: the cgroupfs driver's
/// `kubepods` and systemd's `kubepods.slice`, at the top (cgroup v2, or a
/// named hierarchy) and in every v1 hierarchy. Pure over the listing.
pub fn kubepods_under(base: &Path, hierarchies: &[PathBuf]) -> Vec<PathBuf> {
    let tops = std::iter::once(base.to_path_buf()).chain(hierarchies.iter().cloned());
    tops.flat_map(|t| ["kubepods", "kubepods.slice"].map(|k| t.join(k))).collect()
}

/// The kubepods cgroups that exist on this machine.
fn kubepods_dirs() -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    let mut hierarchies = Vec::new();
    if let Ok(entries) = std::fs::read_dir(base) {
        for e in entries.flatten() {
            // cpu and cpuacct are links to "cpu,cpuacct": visit the real one once
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                hierarchies.push(e.path());
            }
        }
    }
    kubepods_under(base, &hierarchies).into_iter().filter(|d| d.is_dir()).collect()
}

fn cgroup_tree(dir: &Path) -> Vec<PathBuf> {
    let mut all = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < all.len() {
        if let Ok(entries) = std::fs::read_dir(&all[i]) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    all.push(e.path());
                }
            }
        }
        i += 1;
    }
    all
}

/// Kill what still runs in the kubepods cgroups (a pod's processes after its
/// containerd is gone), then remove the cgroups, deepest first; how many went.
pub fn remove_kubepods_cgroups() -> Result<usize> {
    let mut removed = 0;
    for _ in 0..50 {
        let dirs = kubepods_dirs();
        if dirs.is_empty() {
            return Ok(removed);
        }
        for root in &dirs {
            let mut tree = cgroup_tree(root);
            for d in &tree {
                for pid in std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default().lines() {
                    if let Ok(pid) = pid.trim().parse::<i32>() {
                        // SAFETY: plain kill(2) of a process inside the node's pod cgroups
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
            }
            tree.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
            for d in tree {
                if std::fs::remove_dir(&d).is_ok() {
                    removed += 1;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let left = kubepods_dirs();
    anyhow::ensure!(left.is_empty(), "kubepods cgroups left (processes that do not die?): {left:?}");
    Ok(removed)
}

/// Delete a network link when it exists (the bridge, a veth on it). Asks
/// `ip`, not /sys/class/net, which shows the network namespace that mounted it.
pub fn delete_link(sh: &Shell, name: &str) -> Result<bool> {
    if cmd!(sh, "ip link show dev {name}").quiet().ignore_stdout().ignore_stderr().run().is_err() {
        return Ok(false);
    }
    let deleted = cmd!(sh, "ip link delete {name}").quiet().ignore_stderr().run();
    // a pod's veth goes by itself once its network namespace is gone
    if deleted.is_err() && cmd!(sh, "ip link show dev {name}").quiet().ignore_stdout().ignore_stderr().run().is_ok() {
        deleted.with_context(|| format!("cannot delete the network link {name}"))?;
    }
    Ok(true)
}

/// The links enslaved to a bridge (the pods' veths whose network namespace is gone).
pub fn bridge_ports(sh: &Shell, bridge: &str) -> Vec<String> {
    let out = cmd!(sh, "ip -o link show master {bridge}").quiet().ignore_stderr().read().unwrap_or_default();
    // "12: vethabc@if3: <BROADCAST,...> ..." -> vethabc
    out.lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .filter(|n| !n.is_empty())
        .collect()
}

#[cfg(test)]
#[path = "sweep_tests.rs"]
mod tests;
