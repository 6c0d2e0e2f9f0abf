use super::*;
use std::os::unix::fs::PermissionsExt;

#[test]
fn a_live_same_healthy_process_is_kept_and_anything_else_started() {
    let found = |ours, same, healthy| decide(Found { ours, same, healthy });
    assert_eq!(found(true, true, true), Decision::Keep);
    assert_eq!(found(true, false, true), Decision::Restart(Why::Changed));
    assert_eq!(found(true, false, false), Decision::Restart(Why::Changed));
    assert_eq!(found(true, true, false), Decision::Restart(Why::Unhealthy));
    // Dead (a stale pid file after kill -9) or never started: started, whatever else is said.
    for (same, healthy) in [(true, true), (false, true), (true, false), (false, false)] {
        assert_eq!(found(false, same, healthy), Decision::Start);
    }
}

fn quiet(_: &str) {}

/// A spec for `program` with its files in `t`.
fn spec(t: &tempfile::TempDir, name: &'static str, program: PathBuf, args: &[&str]) -> Spec {
    let files = Files::under(&t.path().join("run"), &t.path().join("logs"), name);
    Spec::new(name, program, args.iter().map(|a| a.to_string()).collect(), files)
}

fn script(t: &tempfile::TempDir, name: &str, body: &str) -> PathBuf {
    let p = t.path().join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// A copy of sleep(1) in `t`: a program only this test runs.
fn sleeper(t: &tempfile::TempDir) -> PathBuf {
    let p = t.path().join("sleeper");
    std::fs::copy("/bin/sleep", &p).unwrap();
    p
}

#[test]
fn one_that_dies_at_once_is_one_line_naming_its_log_then_its_last_lines() {
    let t = tempfile::tempdir().unwrap();
    let body = "echo 'I0101 starting' >&2\necho 'E0101 run.go:72] \"command failed\" err=\"bad config\"' >&2\nexit 1";
    let s = spec(&t, "kubelet", script(&t, "kubelet", body), &["--config=/nowhere"]);
    let msg = format!("{:#}", s.start(&quiet).unwrap_err());
    let mut lines = msg.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!("kubelet exited right after it started; its log is {} (last lines below)", s.files.log.display())
    );
    let rest: Vec<&str> = lines.collect();
    assert!(rest[0].starts_with("  === ") && rest[0].ends_with(" xtask starts kubelet"), "{msg}");
    assert_eq!(rest[1..], ["  I0101 starting", "  E0101 run.go:72] \"command failed\" err=\"bad config\""]);
    // Nothing of it is left to stop.
    assert_eq!(s.ours(), None);
    assert!(!s.files.pid.exists() && !s.files.id.exists());
    assert_eq!(s.stop(&quiet).unwrap(), 0);
}

#[test]
fn waiting_names_the_process_that_died_and_its_log() {
    let t = tempfile::tempdir().unwrap();
    // A copy of sh, not a script: a script's process runs its interpreter, not our program.
    let sh = t.path().join("quitter");
    std::fs::copy("/bin/sh", &sh).unwrap();
    let s = spec(&t, "quitter", sh, &["-c", "sleep 2; echo bad flag; exit 3"]);
    s.start(&quiet).unwrap();
    let err = s.wait_for("its port", Instant::now() + Duration::from_secs(10), || false).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.starts_with("quitter exited while waiting for its port; its log is "), "{text}");
    assert!(text.ends_with("\n  bad flag"), "{text}");
    let s = spec(&t, "sleeper", sleeper(&t), &["30"]);
    s.start(&quiet).unwrap();
    let err = s.wait_for("its port", Instant::now(), || false).unwrap_err();
    assert!(format!("{err:#}").starts_with("sleeper did not get ready in time: no its port; "), "{err:#}");
    assert_eq!(s.stop(&quiet).unwrap(), 1);
}

#[test]
fn a_running_process_is_kept_until_an_input_changes_then_restarted_and_stopped_as_a_group() {
    let t = tempfile::tempdir().unwrap();
    let config = t.path().join("config");
    std::fs::write(&config, "a").unwrap();
    let s = Spec { inputs: vec![config.clone()], ..spec(&t, "sleeper", sleeper(&t), &["30"]) };
    assert_eq!(s.look(true), Look { ours: None, decision: Decision::Start });
    let first = s.ensure(true, &quiet).unwrap();
    assert!(first.started && process::is_running(&first.proc));
    // Its own session: stopping it does not touch us.
    // SAFETY: getsid(2) of a child we started.
    assert_eq!(unsafe { libc::getsid(first.proc.pid as libc::pid_t) }, first.proc.pid as libc::pid_t);
    assert_eq!(std::fs::read_to_string(&s.files.pid).unwrap(), format!("{} {}\n", first.proc.pid, first.proc.start));
    let kept = s.ensure(true, &quiet).unwrap();
    assert_eq!(kept, Kept { proc: first.proc.clone(), started: false });
    assert_eq!(s.look(false).decision, Decision::Restart(Why::Unhealthy));
    std::fs::write(&config, "b").unwrap();
    assert_eq!(s.running(), None, "a changed input makes a different identity");
    assert_eq!(s.ours(), Some(first.proc.clone()), "still ours to stop");
    let said = std::cell::RefCell::new(Vec::new());
    let second = s.ensure(true, &|m| said.borrow_mut().push(m.to_string())).unwrap();
    assert!(second.started && !process::is_running(&first.proc));
    let said = said.into_inner();
    assert_eq!(
        said[0],
        format!("restarting sleeper (pid {}): its program, flags or configuration changed", first.proc.pid)
    );
    assert!(said[1].starts_with(&format!("starting sleeper (pid {}; log: ", second.proc.pid)), "{said:?}");
    assert_eq!(s.stop(&quiet).unwrap(), 1);
    assert!(!process::is_running(&second.proc) && s.ours().is_none());
    let log = std::fs::read_to_string(&s.files.log).unwrap();
    assert_eq!(log.matches("xtask starts sleeper").count(), 2, "{log}");
}

#[test]
fn a_daemon_inherits_no_descriptor_of_ours() {
    let t = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(t.path().join("held")).unwrap();
    // Rust opens files close-on-exec; a C library or a dup does not (a lock, a pipe).
    use std::os::fd::AsRawFd;
    // SAFETY: dup(2) of a descriptor we own; the copy is closed below.
    let held = unsafe { libc::dup(file.as_raw_fd()) };
    assert!(held > 2);
    let s = spec(&t, "sleeper", sleeper(&t), &["30"]);
    let p = s.start(&quiet).unwrap();
    let fds: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", p.pid))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    s.stop(&quiet).unwrap();
    // SAFETY: closing the copy dup(2) made.
    unsafe { libc::close(held) };
    let mut fds: Vec<u32> = fds.iter().map(|f| f.parse().unwrap()).collect();
    fds.sort_unstable();
    assert_eq!(fds, [0, 1, 2]);
}

#[test]
fn a_leftover_of_ours_without_a_pid_file_is_killed_before_a_start() {
    let t = tempfile::tempdir().unwrap();
    let s = Spec { mark: Mark::Under(t.path().to_path_buf()), ..spec(&t, "sleeper", sleeper(&t), &["30"]) };
    let old = s.start(&quiet).unwrap();
    s.forget();
    assert_eq!(s.look(true).decision, Decision::Start, "no pid file: not known as ours");
    let said = std::cell::RefCell::new(Vec::new());
    let new = s.start(&|m| said.borrow_mut().push(m.to_string())).unwrap();
    assert!(!process::is_running(&old) && process::is_running(&new));
    assert_eq!(said.borrow()[0], format!("killing a leftover sleeper (pid {}, no pid file)", old.pid));
    // Known by its pid file only: a process of the same program is someone else's.
    let other = Spec { mark: Mark::PidFile, ..s.clone() };
    other.forget();
    assert_eq!(other.stop(&quiet).unwrap(), 0);
    assert!(process::is_running(&new));
    assert_eq!(s.stop(&quiet).unwrap(), 1);
}

#[test]
fn a_stranger_on_its_port_is_named_and_left_alone() {
    let t = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let s = Spec { ports: vec![port], ..spec(&t, "sleeper", sleeper(&t), &["30"]) };
    let err = s.start(&quiet).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.starts_with(&format!("port {port} (needed by sleeper) is held by ")), "{text}");
    assert!(text.contains(&format!("(pid {})", std::process::id())), "{text}");
    assert!(err.downcast_ref::<UsageError>().is_some(), "bad input: {text}");
    assert!(s.ours().is_none());
}

#[test]
fn a_file_is_written_private_and_only_when_it_changes() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("config");
    put(&f, "a").unwrap();
    assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600);
    let before = std::fs::metadata(&f).unwrap().modified().unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    put(&f, "a").unwrap();
    assert_eq!(std::fs::metadata(&f).unwrap().modified().unwrap(), before);
    assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o644, "unchanged: untouched");
    put(&f, "b").unwrap();
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "b");
}
