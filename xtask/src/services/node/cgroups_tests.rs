use super::*;

/// A machine's root with the files that tell: cgroup v2's `cgroup.controllers`, systemd's run dir.
fn machine(v2: bool, systemd: bool) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("sys/fs/cgroup")).unwrap();
    std::fs::create_dir_all(root.path().join("run")).unwrap();
    if v2 {
        std::fs::write(root.path().join("sys/fs/cgroup/cgroup.controllers"), "cpu io memory pids\n").unwrap();
    } else {
        // a hybrid machine (this one) has v2 under unified/: still v1
        std::fs::create_dir_all(root.path().join("sys/fs/cgroup/unified")).unwrap();
        std::fs::write(root.path().join("sys/fs/cgroup/unified/cgroup.controllers"), "").unwrap();
    }
    if systemd {
        std::fs::create_dir_all(root.path().join("run/systemd/system")).unwrap();
    } else {
        // a systemd package without systemd as init leaves other files under run/systemd
        std::fs::create_dir_all(root.path().join("run/systemd")).unwrap();
    }
    root
}

#[test]
fn each_machine_kind_is_detected_from_its_files() {
    for (v2, systemd) in [(false, false), (true, true), (true, false), (false, true)] {
        let root = machine(v2, systemd);
        assert_eq!(Cgroups::under(root.path()), Cgroups { v2, systemd }, "v2={v2} systemd={systemd}");
    }
}

#[test]
fn the_kubelet_gets_the_driver_of_init_and_fail_cgroup_v1_only_on_v1() {
    // (v2, systemd) -> the kubelet's lines; rows of docs/cluster.md's table
    let rows = [
        // this machine: cgroup v1, no systemd; byte-identical to the config before detection
        ((false, false), "cgroupDriver: cgroupfs\nfailCgroupV1: false\n"),
        // a GitHub runner (ubuntu-24.04): cgroup v2, systemd as init
        ((true, true), "cgroupDriver: systemd\n"),
        ((true, false), "cgroupDriver: cgroupfs\n"),
        ((false, true), "cgroupDriver: systemd\nfailCgroupV1: false\n"),
    ];
    for ((v2, systemd), want) in rows {
        assert_eq!(Cgroups { v2, systemd }.kubelet_lines(), want, "v2={v2} systemd={systemd}");
    }
}
