use super::*;

fn env_of(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
}

#[test]
fn on_a_github_runner_the_builder_is_the_runners_users_and_runs_as_setup_buildx_actions() {
    // A runner: uid 1001, HOME=/home/runner, no XDG variables.
    let env = env_of(&[("HOME", "/home/runner")]);
    let dirs = Dirs::decide(1001, &env);
    let l = Layout::decide(&dirs, true, (1001, 118), &env);
    assert_eq!(l.cache, PathBuf::from("/home/runner/.cache/xtask-buildx"));
    assert_eq!(l.config, PathBuf::from("/home/runner/.local/state/xtask-buildx"));
    assert!(l.privileged);
    assert!(l.runc_from_base, "Ubuntu's runc needs a newer libc than the bookworm base");
    assert_eq!(l.owner, (1001, 118), "the socket is the runner user's, not root's");
    // What later steps read, through the record and $GITHUB_ENV: the same variables as here.
    let env = l.env();
    assert_eq!(env["XTASK_BUILDX_CONFIG"], "/home/runner/.local/state/xtask-buildx");
    assert_eq!(env["XTASK_BUILDX_CACHE_DIR"], "/home/runner/.cache/xtask-buildx/layers");
    assert_eq!(env.len(), 2);
}

#[test]
fn here_as_root_the_builder_is_machine_wide_and_variables_move_it() {
    let none = env_of(&[]);
    let l = Layout::decide(&Dirs::decide(0, &none), false, (0, 0), &none);
    assert_eq!(
        (l.cache.as_path(), l.config.as_path(), l.privileged, l.runc_from_base),
        (Path::new("/var/cache/xtask-buildx"), Path::new("/var/lib/xtask-buildx"), false, false)
    );
    assert_eq!(l.env()["XTASK_BUILDX_CACHE_DIR"], "/var/cache/xtask-buildx/layers");
    let moved = env_of(&[("XTASK_BUILDX_CACHE", "/c"), ("XTASK_BUILDX_STATE", "/s")]);
    let l = Layout::decide(&Dirs::decide(0, &none), true, (0, 0), &moved);
    assert_eq!((l.cache.as_path(), l.config.as_path()), (Path::new("/c"), Path::new("/s")));
}

#[test]
fn the_runc_to_download_is_apts_candidate_and_none_without_package_lists() {
    let known = "runc:\n  Installed: (none)\n  Candidate: 1.1.5+ds1-1+deb12u1\n  Version table:\n";
    assert_eq!(candidate_of(known).as_deref(), Some("1.1.5+ds1-1+deb12u1"));
    assert_eq!(candidate_of("runc:\n  Installed: (none)\n  Candidate: (none)\n"), None);
    assert_eq!(candidate_of(""), None, "apt-cache knows nothing of runc on a fresh machine");
}
