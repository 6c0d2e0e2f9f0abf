//! When a rollout fails, the reason on screen without kubectl: the failing
//! container's last log lines (the previous instance's when it restarted),
//! after the pod's events that `wait::describe` prints. Which instance to read
//! is a pure decision over the pod (`previous`). A pod left Pending has no
//! log: what it shows instead is the scheduler's last word on it (its last
//! `FailedScheduling` event, as `kubectl describe pod` lists it), a pure
//! choice over the namespace's pods and events (`unscheduled`).

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

/// When an event last happened: the newest of the times the API may fill in.
fn when(e: &Value) -> String {
    [&e["series"]["lastObservedTime"], &e["lastTimestamp"], &e["eventTime"], &e["metadata"]["creationTimestamp"]]
        .iter()
        .filter_map(|t| t.as_str())
        .map(|t| t.get(..19).unwrap_or(t).to_string())
        .max()
        .unwrap_or_default()
}

/// Each pod still Pending and not bound to a node, with why: the message of
/// its last `FailedScheduling` event, else its `PodScheduled` condition's.
pub fn unscheduled(pods: &[Value], events: &[Value]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for pod in pods {
        if pod["status"]["phase"] != "Pending" || pod["spec"]["nodeName"].is_string() {
            continue;
        }
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        let last = events
            .iter()
            .filter(|e| e["reason"] == "FailedScheduling")
            .filter(|e| e["involvedObject"]["kind"] == "Pod" && e["involvedObject"]["name"] == name)
            .max_by_key(|e| when(e));
        let condition = pod["status"]["conditions"].as_array().and_then(|cs| {
            cs.iter()
                .find(|c| c["type"] == "PodScheduled" && c["status"] == "False")
                .and_then(|c| c["message"].as_str())
        });
        let why = last.and_then(|e| e["message"].as_str()).or(condition);
        let why = why.map_or("the scheduler has not placed it yet (no FailedScheduling event)".into(), |m| {
            format!("FailedScheduling: {}", m.trim())
        });
        out.push((name.to_string(), why));
    }
    out
}

/// Lines to print under a failed or timed-out ending: why each Pending pod waits.
pub fn scheduling(s: &Session, ending: &Ending) -> Vec<String> {
    if !matches!(ending, Ending::Failed(_) | Ending::TimedOut(_)) {
        return Vec::new();
    }
    let items = match s.get("pods,events", None) {
        Ok(items) => items,
        Err(e) => return vec![format!("  cannot read the pods' scheduling events: {e:#}")],
    };
    let (pods, events): (Vec<Value>, Vec<Value>) = items.into_iter().partition(|i| i["kind"] == "Pod");
    unscheduled(&pods, &events).into_iter().map(|(pod, why)| format!("  pod {pod} is Pending: {why}")).collect()
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

    #[test]
    fn a_pending_pod_shows_the_schedulers_last_word() {
        let pending = |name: &str| {
            json!({"kind": "Pod", "metadata": {"name": name}, "spec": {}, "status": {"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/2 nodes are available: condition"}]}})
        };
        let event = |pod: &str, at: &str, message: &str| {
            json!({"kind": "Event", "reason": "FailedScheduling",
            "involvedObject": {"kind": "Pod", "name": pod}, "eventTime": at, "message": message})
        };
        let running = json!({"kind": "Pod", "metadata": {"name": "web-2"}, "spec": {"nodeName": "n"}, "status": {"phase": "Running"}});
        let bound = json!({"kind": "Pod", "metadata": {"name": "web-3"}, "spec": {"nodeName": "n"}, "status": {"phase": "Pending"}});
        let events = [
            event(
                "web-1",
                "2026-12-07T12:00:05.000000Z",
                "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector.",
            ),
            event("web-1", "2026-12-07T12:00:01.000000Z", "older"),
            event("web-9", "2026-12-07T12:00:09.000000Z", "another pod's"),
        ];
        let found = unscheduled(&[pending("web-1"), running, bound, pending("web-4")], &events);
        assert_eq!(
            found,
            [
                ("web-1".to_string(), "FailedScheduling: 0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector.".to_string()),
                ("web-4".to_string(), "FailedScheduling: 0/2 nodes are available: condition".to_string()),
            ]
        );
    }
}
