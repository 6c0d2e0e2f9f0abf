use super::*;
use xshell::{cmd, Shell};

#[test]
fn stat_fields_count_from_the_last_parenthesis() {
    let line = "4242 (we (ird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 10 18446744073709551615";
    assert_eq!(parse_stat(line), Some(('S', 123456)));
    assert_eq!(parse_stat("1 (init) Z 0"), None);
    assert_eq!(parse_stat("garbage"), None);
}

#[test]
fn a_pid_file_names_a_process_by_pid_and_start_time() {
    let dir = tempfile::tempdir().unwrap();
    let me = proc_of("me", std::process::id()).unwrap();
    write_pid_file(&dir.path().join("me.pid"), &me).unwrap();
    assert_eq!(read_pid_file(&dir.path().join("me.pid"), "me"), Some(me.clone()));
    // A recycled pid (same pid, another start) is not ours.
    let recycled = Proc { start: me.start + 1, ..me.clone() };
    assert!(!is_running(&recycled));
    write_pid_file(&dir.path().join("old.pid"), &recycled).unwrap();
    assert_eq!(read_pid_file(&dir.path().join("old.pid"), "me"), None);
    // The shell scripts' pid files held the pid alone.
    std::fs::write(dir.path().join("script.pid"), format!("{}\n", me.pid)).unwrap();
    assert_eq!(read_pid_file(&dir.path().join("script.pid"), "me").map(|p| p.pid), Some(me.pid));
    assert!(exe(me.pid).is_some() && !cmdline(me.pid).is_empty());
    assert_eq!(find(&|_, _| true).iter().find(|p| **p == me.pid), None, "find leaves this process out");
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
    let sh = Shell::new().unwrap();
    let py = which::which("python3").unwrap();
    let script = "import ctypes, threading, time\n\
                  threading.Thread(target=lambda: time.sleep(1.5)).start()\n\
                  ctypes.CDLL(None).pthread_exit(None)\n";
    let mut child = std::process::Command::from(cmd!(sh, "{py} -c {script}")).spawn().unwrap();
    let p = proc_of("leaver", child.id()).unwrap();
    let leader_gone =
        poll_until(Instant::now() + Duration::from_secs(5), || stat(p.pid).is_some_and(|(s, _)| s == 'Z'));
    assert!(leader_gone, "the main thread should have left");
    assert!(is_running(&p), "its other thread still runs");
    assert!(poll_until(Instant::now() + Duration::from_secs(10), || !is_running(&p)), "gone once the last thread ends");
    child.wait().unwrap();
}

#[test]
fn a_lock_held_elsewhere_says_its_wait_where_the_caller_asks() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("l.lock");
    let held = lock(&file, Duration::from_secs(1), "first").unwrap();
    let said = std::sync::Mutex::new(Vec::new());
    let say = |l: &str| said.lock().unwrap().push(l.to_string());
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            drop(held);
        });
        lock_saying(&file, Duration::from_secs(10), "second", &say).unwrap();
    });
    let said = said.into_inner().unwrap();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].starts_with("waiting for another run that holds") && said[0].ends_with("(second)"), "{said:?}");
}
