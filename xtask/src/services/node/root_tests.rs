use super::*;
use std::cell::Cell;

#[test]
fn root_runs_the_node_here_without_asking_sudo() {
    let asked = Cell::new(false);
    let via = decide(0, "the real node", || {
        asked.set(true);
        Sudo::Works
    });
    assert_eq!(via, Ok(Via::Here));
    assert!(!asked.get(), "root never asks sudo");
}

#[test]
fn a_user_with_passwordless_sudo_runs_it_through_sudo_on_github_or_not() {
    assert_eq!(decide(1001, "the real node", || Sudo::Works), Ok(Via::Sudo));
}

#[test]
fn without_sudo_or_with_a_password_it_is_one_line_naming_the_fix() {
    assert_eq!(
        decide(1001, "the real node", || Sudo::Missing).unwrap_err(),
        "the real node needs root, and sudo is not installed: install it and allow this user passwordless sudo, or run as root (XTASK_KUBE_NODE=0 runs the cluster without the node)"
    );
    assert_eq!(
        decide(65534, "stopping the real node", || Sudo::Refused("sudo: a password is required".into())).unwrap_err(),
        "stopping the real node needs root, and `sudo -n` refused (sudo: a password is required): allow this user passwordless sudo (NOPASSWD), or run as root (XTASK_KUBE_NODE=0 runs the cluster without the node)"
    );
}

#[test]
fn sudo_is_told_where_the_cluster_is_and_what_was_set() {
    let mut cfg = Config::from_env(Some("/c/bin".into())).unwrap();
    cfg.cluster.state = "/home/runner/.local/state/xtask-kube".into();
    cfg.deadline = std::time::Duration::from_secs(90);
    let var = |k: &str| match k {
        "XTASK_NODE_TAINTS" => Some("a=b:NoSchedule".to_string()),
        "XTASK_CONTAINERD" => Some(String::new()),
        _ => None,
    };
    assert_eq!(
        carried(&cfg, &var),
        [
            "XTASK_KUBE_STATE=/home/runner/.local/state/xtask-kube",
            "XTASK_KUBE_DEADLINE=90",
            "XTASK_NODE_TAINTS=a=b:NoSchedule"
        ]
    );
}
