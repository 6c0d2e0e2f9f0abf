use super::*;

#[test]
fn stat_fields_count_from_the_last_parenthesis() {
    let line = "4242 (we (ird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 10 18446744073709551615";
    assert_eq!(parse_stat(line), Some(('S', 123456)));
    assert_eq!(parse_stat("1 (init) Z 0"), None);
    assert_eq!(parse_stat("garbage"), None);
}

#[test]
fn a_daemon_runs_in_its_own_session_logs_and_stops_with_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("logs/sleeper.log");
    let sh = Shell::new().unwrap();
    let sleep = which::which("sleep").unwrap();
    let p = spawn(&sh, "sleeper", &sleep, &["300".into()], &[], &log).unwrap();
    assert!(is_running(&p));
    // SAFETY: getsid(2) of a child we started.
    assert_eq!(unsafe { libc::getsid(p.pid as i32) }, p.pid as i32, "its own session");
    assert_eq!(exe(p.pid).unwrap(), std::fs::canonicalize(&sleep).unwrap());
    write_pid_file(&dir.path().join("s.pid"), &p).unwrap();
    assert_eq!(read_pid_file(&dir.path().join("s.pid"), "sleeper"), Some(p.clone()));
    stop(&p, Duration::from_secs(5)).unwrap();
    assert!(!is_running(&p), "a zombie counts as gone");
    assert_eq!(read_pid_file(&dir.path().join("s.pid"), "sleeper"), None);
    assert!(std::fs::read_to_string(&log).unwrap().contains("xtask starts sleeper"));
    // A recycled pid (same pid, another start) is not ours.
    let me = proc_of("me", std::process::id()).unwrap();
    assert!(!is_running(&Proc { start: me.start + 1, ..me }));
}

#[test]
fn waiting_names_the_process_that_died_and_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("false.log");
    let sh = Shell::new().unwrap();
    let sh_exe = which::which("sh").unwrap();
    let p =
        spawn(&sh, "quitter", &sh_exe, &["-c".into(), "sleep 0.3; echo bad flag; exit 3".into()], &[], &log).unwrap();
    let err = wait_for("its port", Instant::now() + Duration::from_secs(10), Some((&p, &log)), || false).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.starts_with("quitter (pid "), "{text}");
    assert!(text.contains("exited while waiting for its port") && text.contains("  bad flag"), "{text}");
}

#[test]
fn a_lock_is_exclusive_until_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".lock");
    let held = lock(&path, Duration::from_secs(1), "a test").unwrap();
    let err = std::thread::scope(|s| {
        s.spawn(|| lock(&path, Duration::from_millis(300), "a test").map(|_| ())).join().unwrap()
    });
    assert!(format!("{:#}", err.unwrap_err()).contains("another run has held"));
    drop(held);
    lock(&path, Duration::from_secs(1), "a test").unwrap();
}

#[test]
fn a_zombie_leader_with_running_threads_is_still_running() {
    // The main thread leaves (pthread_exit) while another thread holds on,
    // as a Go daemon's does on TERM: its sockets close only with the last thread.
    let dir = tempfile::tempdir().unwrap();
    let sh = Shell::new().unwrap();
    let py = which::which("python3").unwrap();
    let script = "import ctypes, threading, time\n\
                  threading.Thread(target=lambda: time.sleep(1.5)).start()\n\
                  ctypes.CDLL(None).pthread_exit(None)\n";
    let p = spawn(&sh, "leaver", &py, &["-c".into(), script.into()], &[], &dir.path().join("l.log")).unwrap();
    let leader_gone =
        poll_until(Instant::now() + Duration::from_secs(5), || stat(p.pid).is_some_and(|(s, _)| s == 'Z'));
    assert!(leader_gone, "the main thread should have left");
    assert!(is_running(&p), "its other thread still runs");
    assert!(poll_until(Instant::now() + Duration::from_secs(10), || !is_running(&p)), "gone once the last thread ends");
}
