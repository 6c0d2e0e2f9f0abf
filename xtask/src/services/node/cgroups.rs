//! Which cgroups the machine has and who manages them, as the kubelet and
//! containerd must be told (tested in `cgroups_tests.rs`, every row). Both
//! must use the same driver: systemd's when systemd is init (it owns the
//! tree, and a second manager beside it is what the kubelet's docs warn
//! against), cgroupfs otherwise.

use std::path::Path;

/// What the machine has: the facts runc and systemd themselves go by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cgroups {
    /// The unified hierarchy (cgroup v2) is mounted at /sys/fs/cgroup; a
    /// hybrid machine (v1 controllers, v2 under `unified/`) is v1.
    pub v2: bool,
    /// systemd is init (`sd_booted()`).
    pub systemd: bool,
}

impl Cgroups {
    /// This machine's.
    pub fn detect() -> Cgroups {
        Cgroups::under(Path::new("/"))
    }

    /// Those of a machine whose root is `root` (runc's `IsCgroup2UnifiedMode`
    /// and systemd's `sd_booted`, by their files).
    pub fn under(root: &Path) -> Cgroups {
        Cgroups {
            v2: root.join("sys/fs/cgroup/cgroup.controllers").is_file(),
            systemd: root.join("run/systemd/system").is_dir(),
        }
    }

    /// The kubelet's `cgroupDriver` (containerd's runc gets `SystemdCgroup` to match).
    pub fn driver(&self) -> &'static str {
        if self.systemd {
            "systemd"
        } else {
            "cgroupfs"
        }
    }

    /// The kubelet's configuration lines for them: on v1 it must be told
    /// that v1 is fine (`failCgroupV1`); on v2 the field is moot and left out.
    pub fn kubelet_lines(&self) -> String {
        let mut out = format!("cgroupDriver: {}\n", self.driver());
        if !self.v2 {
            out.push_str("failCgroupV1: false\n");
        }
        out
    }
}

#[cfg(test)]
#[path = "cgroups_tests.rs"]
mod tests;
