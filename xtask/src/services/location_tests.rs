use super::*;
use std::collections::BTreeMap;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |k: &str| map.get(k).cloned()
}

/// Facts from a list of (path, fact); anything else is missing.
fn facts(list: &[(&str, Fact)]) -> impl Fn(&Path) -> Fact {
    let list: Vec<(PathBuf, Fact)> = list.iter().map(|(p, f)| (PathBuf::from(p), f.clone())).collect();
    move |p: &Path| list.iter().find(|(q, _)| q == p).map_or(Fact::Missing, |(_, f)| f.clone())
}

const ROOT: &str = "/src/repo";
const MACHINE: &str = "/var/lib/xtask/services.json";
const LEGACY: &str = "/src/repo/target/xtask/services.json";
const USER: &str = "/home/ann/.local/state/xtask/services.json";

fn read(euid: u32, e: &[(&str, &str)], f: &[(&str, Fact)]) -> (Option<Located>, Vec<(PathBuf, String)>) {
    for_reading(Path::new(ROOT), euid, &env(e), &facts(f))
}

#[test]
fn every_checkout_reads_the_machine_record_before_its_own_old_one() {
    let (got, refused) = read(0, &[], &[(MACHINE, Fact::Trusted), (LEGACY, Fact::Trusted)]);
    let got = got.unwrap();
    assert_eq!((got.path.as_path(), &got.why, refused.len()), (Path::new(MACHINE), &Why::Machine, 0));
    assert_eq!(got.describe(Path::new(ROOT)), "/var/lib/xtask/services.json (the machine record)");
    // A checkout with no record at all (a second clone, a worktree) reads the machine's too.
    let (got, _) = for_reading(Path::new("/src/other"), 0, &env(&[]), &facts(&[(MACHINE, Fact::Trusted)]));
    assert_eq!(got.unwrap().why, Why::Machine);
    // The old per-checkout record still works until `services up` moves it.
    let (got, _) = read(0, &[], &[(LEGACY, Fact::Trusted)]);
    let got = got.unwrap();
    assert_eq!(got.why, Why::Legacy(MACHINE.into()));
    assert_eq!(
        got.describe(Path::new(ROOT)),
        "target/xtask/services.json (this checkout's record from before machine records: `cargo xtask services up` moves it to /var/lib/xtask/services.json)"
    );
    assert_eq!(read(0, &[], &[]).0, None);
}

#[test]
fn the_override_wins_relative_to_the_checkout_whether_it_exists_or_not() {
    let e = [("XTASK_SERVICES_FILE", "target/xtask/services.json")];
    let got = read(0, &e, &[(MACHINE, Fact::Trusted)]).0.unwrap();
    assert_eq!((got.path.as_path(), &got.why), (Path::new(LEGACY), &Why::Override));
    assert_eq!(
        got.describe(Path::new(ROOT)),
        "target/xtask/services.json (XTASK_SERVICES_FILE: this checkout's override)"
    );
    let got = read(1000, &[("XTASK_SERVICES_FILE", "/tmp/s.json")], &[]).0.unwrap();
    assert_eq!(got.path, Path::new("/tmp/s.json"));
    assert_eq!(for_writing(Path::new(ROOT), 1000, &env(&e)).path, Path::new(LEGACY));
}

#[test]
fn a_user_reads_their_own_record_then_roots_and_writes_only_their_own() {
    let e = [("HOME", "/home/ann")];
    let got = read(1000, &e, &[(USER, Fact::Trusted), (MACHINE, Fact::Trusted)]).0.unwrap();
    assert_eq!(got.why, Why::User);
    assert_eq!(read(1000, &e, &[(MACHINE, Fact::Trusted)]).0.unwrap().why, Why::Machine);
    let w = for_writing(Path::new(ROOT), 1000, &env(&e));
    assert_eq!((w.path.as_path(), w.why), (Path::new(USER), Why::User));
    let w = for_writing(Path::new(ROOT), 1000, &env(&[("XDG_STATE_HOME", "/st"), ("HOME", "/home/ann")]));
    assert_eq!(w.path, Path::new("/st/xtask/services.json"));
    // Root never reads a user's record, and writes the machine's.
    assert_eq!(read(0, &e, &[(USER, Fact::Trusted)]).0, None);
    let w = for_writing(Path::new(ROOT), 0, &env(&e));
    assert_eq!((w.path.as_path(), w.why), (Path::new(MACHINE), Why::Machine));
    let moved = env(&[("XTASK_SERVICES_MACHINE_DIR", "/tmp/m")]);
    assert_eq!(for_writing(Path::new(ROOT), 0, &moved).path, Path::new("/tmp/m/services.json"));
}

#[test]
fn a_record_someone_else_could_write_is_passed_over_and_named() {
    let bad = Fact::Untrusted("the file is owned by uid 1000, neither root nor this user".into());
    let (got, refused) = read(0, &[], &[(MACHINE, bad.clone()), (LEGACY, Fact::Trusted)]);
    assert_eq!(got.unwrap().why, Why::Legacy(MACHINE.into()));
    assert_eq!(refused, [(PathBuf::from(MACHINE), "the file is owned by uid 1000, neither root nor this user".into())]);
    assert_eq!(read(0, &[], &[(LEGACY, bad)]).0, None);
}

#[test]
fn trust_takes_root_or_oneself_and_nothing_others_can_write() {
    assert_eq!(trust(0, 0, 0o100644), Ok(()));
    assert_eq!(trust(1000, 0, 0o40755), Ok(()));
    assert_eq!(trust(1000, 1000, 0o100600), Ok(()));
    assert_eq!(trust(0, 1000, 0o100644), Err("owned by uid 1000, neither root nor this user".into()));
    assert_eq!(trust(0, 0, 0o100664), Err("writable by its group or others (mode 664)".into()));
    assert_eq!(trust(0, 0, 0o41777), Err("writable by its group or others (mode 1777)".into()));
}

#[test]
fn facts_come_from_the_file_and_its_folder() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let euid = crate::services::euid();
    let file = dir.path().join("services.json");
    assert_eq!(fact(euid, &file), Fact::Missing);
    std::fs::write(&file, "{}").unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(fact(euid, &file), Fact::Trusted);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_eq!(fact(euid, &file), Fact::Untrusted("its folder is writable by its group or others (mode 777)".into()));
}
