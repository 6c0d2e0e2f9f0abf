use super::*;

const TABLE: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1388 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 20 4 30 10 -1
   2: 00000000:192B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 555 1 0000000000000000 100 0 0 10 0
";

#[test]
fn only_listening_sockets_on_the_port_count() {
    assert_eq!(listening_inodes(TABLE, 5000), [31337]);
    assert_eq!(listening_inodes(TABLE, 6443), [555]);
    assert_eq!(listening_inodes(TABLE, 2379), Vec::<u64>::new());
}

#[test]
fn a_listener_is_found_with_its_pid_and_program_and_http_is_read() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let h = holder(port).expect("the test's own listener");
    assert_eq!(h.pid, Some(std::process::id()));
    assert!(h.describe().ends_with(&format!("(pid {})", std::process::id())), "{}", h.describe());
    // A port that accepts but never answers gives no status within the limit.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    assert_eq!(get(&silent.local_addr().unwrap().to_string(), "/v2/", None, Duration::from_millis(300)), None);
    let addr = format!("127.0.0.1:{port}");
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut s, _) = listener.accept().unwrap();
            let mut req = String::new();
            while !req.ends_with("\r\n\r\n") {
                let mut buf = [0u8; 512];
                let n = s.read(&mut buf).unwrap();
                req += &String::from_utf8_lossy(&buf[..n]);
            }
            let answer = if req.contains("Authorization: Basic eHRhc2s6cHc=") { "200 OK" } else { "401 Unauthorized" };
            write!(s, "HTTP/1.1 {answer}\r\nContent-Length: 2\r\n\r\n{{}}").unwrap();
        }
    });
    assert_eq!(get(&addr, "/v2/", None, Duration::from_secs(5)).map(|r| r.0), Some(401));
    assert_eq!(get(&addr, "/v2/", Some("Basic eHRhc2s6cHc="), Duration::from_secs(5)), Some((200, "{}".into())));
    server.join().unwrap();
    assert_eq!(status_of("HTTP/1.0 404 Not Found\r\n"), Some(404));
    assert_eq!(status_of("SSH-2.0-OpenSSH\r\n"), None);
    assert_eq!(port_of("127.0.0.1:5000"), Some(5000));
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
            // one write, then the connection closes (HTTP/1.0)
            let _ = s.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\n\r\nok").as_bytes());
        }
    });
    assert!(ok(&addr, "/healthz"));
    assert!(!ok(&addr, "/healthz"));
    server.join().unwrap();
    assert!(!ok("127.0.0.1:1", "/healthz"));
}
