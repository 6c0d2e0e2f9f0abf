//! When a rollout fails, the reason on screen without kubectl: the failing
//! container's last log lines (the previous instance's when it restarted),
//! after the pod's events that `wait::describe` prints. Which instance to read
//! is a pure decision over the pod (`previous`).

use crate::kube::cluster::Session;
use crate::kube::rollout::State;
use crate::kube::wait::Ending;
use serde_json::Value;

/// How many of a container's last lines are shown.
const TAIL: u32 = 30;

/// Whether the log to read is the previous instance's: the container
/// terminated before and the current one has not (it waits or runs again).
pub fn previous(pod: &Value, container: &str) -> bool {
    let statuses = pod["status"]["containerStatuses"].as_array().cloned().unwrap_or_default();
    statuses
        .iter()
        .filter(|c| c["name"] == container)
        .any(|c| c["lastState"]["terminated"].is_object() && !c["state"]["terminated"].is_object())
}

/// The last exit of a container (`exit code 1 (Error)`), when it has one.
pub fn last_exit(pod: &Value, container: &str) -> Option<String> {
    let statuses = pod["status"]["containerStatuses"].as_array()?;
    let c = statuses.iter().find(|c| c["name"] == container)?;
    let t =
        if c["state"]["terminated"].is_object() { &c["state"]["terminated"] } else { &c["lastState"]["terminated"] };
    let code = t["exitCode"].as_i64()?;
    let reason = t["reason"].as_str().map(|r| format!(" ({r})")).unwrap_or_default();
    Some(format!("exit code {code}{reason}"))
}

/// Lines to print under a failed ending: each failing container's last log lines.
pub fn container_logs(s: &Session, ending: &Ending) -> Vec<String> {
    let Ending::Failed(workloads) = ending else { return Vec::new() };
    let ns = s.namespace.clone();
    let mut lines = Vec::new();
    for w in workloads {
        let State::Failed(f) = &w.state else { continue };
        let (Some(pod), Some(container)) = (&f.pod, &f.container) else { continue };
        let live = s.get_one("pod", pod).ok().flatten().unwrap_or(Value::Null);
        let prev = previous(&live, container);
        let tail = format!("--tail={TAIL}");
        let mut args = vec!["logs", pod.as_str(), "-n", ns.as_str(), "-c", container.as_str(), tail.as_str()];
        if prev {
            args.push("--previous");
        }
        let which = if prev { "its previous instance" } else { "it" };
        let exit = last_exit(&live, container).map(|e| format!(", {e}")).unwrap_or_default();
        match s.run(&args, None) {
            Ok(text) if !text.trim().is_empty() => {
                lines.push(format!(
                    "  {}: the last lines {which} wrote (pod {pod}, container {container}{exit}):",
                    w.component
                ));
                lines.extend(text.lines().map(|l| format!("    | {l}")));
            }
            Ok(_) => lines.push(format!("  {}: container {container} of pod {pod} wrote nothing{exit}", w.component)),
            Err(e) => lines.push(format!("  {}: no log of container {container} of pod {pod}: {e:#}", w.component)),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_restarted_container_is_read_from_its_previous_instance() {
        let crashing = json!({"status": {"containerStatuses": [{"name": "storage", "restartCount": 2,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 3, "reason": "Error"}}}]}});
        assert!(previous(&crashing, "storage"));
        assert!(!previous(&crashing, "other"));
        assert_eq!(last_exit(&crashing, "storage").unwrap(), "exit code 3 (Error)");
        let pulling = json!({"status": {"containerStatuses": [{"name": "storage", "state": {"waiting": {"reason": "ErrImagePull"}}}]}});
        assert!(!previous(&pulling, "storage"));
        assert_eq!(last_exit(&pulling, "storage"), None);
        let ended = json!({"status": {"containerStatuses": [{"name": "s",
            "state": {"terminated": {"exitCode": 1}}, "lastState": {"terminated": {"exitCode": 1}}}]}});
        assert!(!previous(&ended, "s"));
    }
}
