use super::*;
use std::os::unix::fs::PermissionsExt;

fn dirs(t: &tempfile::TempDir) -> Dirs {
    Dirs { run: t.path().join("run"), logs: t.path().join("logs") }
}

fn script(t: &tempfile::TempDir, name: &str, body: &str) -> PathBuf {
    let p = t.path().join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn a_process_that_cannot_start_is_one_line_naming_its_log_then_its_last_lines() {
    let t = tempfile::tempdir().unwrap();
    let d = dirs(&t);
    let kubelet = script(&t, "kubelet", "echo 'I0101 starting' >&2\necho 'E0101 run.go:72] \"command failed\" err=\"failed to run Kubelet: bad config\"' >&2\nexit 1");
    let p = Proc { name: "kubelet", program: kubelet, args: vec!["--config=/nowhere".into()], inputs: vec![] };
    p.start(&d).unwrap();
    let err = wait_for(&d, "kubelet", "/healthz", Instant::now() + Duration::from_secs(20), || false).unwrap_err();
    let msg = format!("{err:#}");
    let mut lines = msg.lines();
    let log = d.log("kubelet");
    assert_eq!(
        lines.next().unwrap(),
        format!("kubelet exited while waiting for /healthz; its log is {} (last lines below)", log.display())
    );
    let rest: Vec<&str> = lines.collect();
    assert!(rest[0].starts_with("  === ") && rest[0].ends_with(" xtask starts kubelet"), "{msg}");
    assert_eq!(
        rest[1..],
        ["  I0101 starting", "  E0101 run.go:72] \"command failed\" err=\"failed to run Kubelet: bad config\""]
    );
    // the pid file does not outlive it: nothing to stop
    assert!(pid_of(&d, "kubelet").is_none());
    assert!(!stop(&d, "kubelet").unwrap());
}

#[test]
fn a_running_process_is_kept_until_its_configuration_changes_then_stopped_as_a_group() {
    let t = tempfile::tempdir().unwrap();
    let d = dirs(&t);
    let sleeper = t.path().join("sleeper");
    std::fs::copy("/bin/sleep", &sleeper).unwrap();
    let config = t.path().join("config");
    std::fs::write(&config, "a").unwrap();
    let p = Proc { name: "sleeper", program: sleeper, args: vec!["30".into()], inputs: vec![config.clone()] };
    assert_eq!(p.running(&d), None);
    let pid = p.start(&d).unwrap();
    assert!(alive(pid));
    assert_eq!(p.running(&d), Some(pid));
    // its own session: stopping it does not touch us
    assert_eq!(unsafe { libc::getsid(pid as libc::pid_t) }, pid as libc::pid_t);
    std::fs::write(&config, "b").unwrap();
    assert_eq!(p.running(&d), None, "a changed input makes a different identity");
    assert_eq!(pid_of(&d, "sleeper"), Some(pid), "still ours to stop");
    assert!(stop(&d, "sleeper").unwrap());
    assert!(!alive(pid));
    assert_eq!(pid_of(&d, "sleeper"), None);
}

#[test]
fn health_checks_want_a_200() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        for status in ["200 OK", "503 Service Unavailable"] {
            use std::io::{Read, Write};
            let (mut s, _) = listener.accept().unwrap();
            // the whole request, as a real server reads it
            let mut req = Vec::new();
            let mut buf = [0u8; 256];
            while !req.ends_with(b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            // one write: the client reads the status line and hangs up
            let _ = s.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\n\r\nok").as_bytes());
        }
    });
    assert!(http_ok(&addr, "/healthz"));
    assert!(!http_ok(&addr, "/healthz"));
    server.join().unwrap();
    assert!(!http_ok("127.0.0.1:1", "/healthz"));
}
