//! Ports and plain HTTP on loopback: who listens on a port (from
//! `/proc/net/tcp*`, no `ss` needed), and a GET that answers with a status
//! and a body, or whether a health endpoint answers 200 (no curl needed).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

/// The socket inodes listening on `port` in a `/proc/net/tcp` or `tcp6` table.
pub fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
            // State 0A is LISTEN.
            (local_port == port && *f.get(3)? == "0A").then(|| f.get(9)?.parse().ok())?
        })
        .collect()
}

/// What holds a port: its pid and program when this user may see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: Option<u32>,
    pub exe: Option<PathBuf>,
}

impl Holder {
    pub fn describe(&self) -> String {
        match (&self.exe, self.pid) {
            (Some(exe), Some(pid)) => format!("{} (pid {pid})", exe.display()),
            (None, Some(pid)) => format!("pid {pid}"),
            _ => "a process this user cannot see".into(),
        }
    }
}

/// Who listens on `port` (any address), if anything does.
pub fn holder(port: u16) -> Option<Holder> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        inodes.extend(listening_inodes(&std::fs::read_to_string(table).unwrap_or_default(), port));
    }
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    let owner = std::fs::read_dir("/proc").ok().and_then(|procs| {
        procs.flatten().find_map(|p| {
            let pid: u32 = p.file_name().to_str()?.parse().ok()?;
            let fds = std::fs::read_dir(p.path().join("fd")).ok()?;
            fds.flatten()
                .any(|fd| {
                    std::fs::read_link(fd.path()).is_ok_and(|l| wanted.iter().any(|w| l.as_os_str() == w.as_str()))
                })
                .then_some(pid)
        })
    });
    Some(Holder { pid: owner, exe: owner.and_then(crate::services::process::exe) })
}

/// The status code of an HTTP response's first line.
pub fn status_of(response: &str) -> Option<u16> {
    let first = response.lines().next()?;
    first.starts_with("HTTP/").then(|| first.split_whitespace().nth(1)?.parse().ok())?
}

/// `GET path` on `addr` (HTTP/1.0, optional `Authorization`): the status and
/// the body, or None when nothing answers within `limit`.
pub fn get(addr: &str, path: &str, authorization: Option<&str>, limit: Duration) -> Option<(u16, String)> {
    let sock = addr.parse().ok()?;
    let mut s = TcpStream::connect_timeout(&sock, limit).ok()?;
    s.set_read_timeout(Some(limit)).ok()?;
    s.set_write_timeout(Some(limit)).ok()?;
    let auth = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
    s.write_all(request.as_bytes()).ok()?;
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let status = status_of(&text)?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

/// Whether `GET path` on `addr` answers 200 within 2 s (health endpoints).
pub fn ok(addr: &str, path: &str) -> bool {
    get(addr, path, None, Duration::from_secs(2)).is_some_and(|(status, _)| status == 200)
}

/// The port of `host:port`.
pub fn port_of(addr: &str) -> Option<u16> {
    addr.rsplit_once(':')?.1.parse().ok()
}

#[cfg(test)]
#[path = "net_tests.rs"]
mod tests;
