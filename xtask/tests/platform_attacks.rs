//! Issue 31's attacks against the deployed development platform on the real
//! node: unauthenticated 64 MiB posts to cdc, four at once, leave it running
//! with no restart; a Parquet bomb (a few kilobytes declaring 20 million rows)
//! gets 413 and storage keeps serving; a long transaction committed after a
//! short one (lower LSNs, later commit: Debezium's `source.sequence`) loses no
//! row. The attacker is a Job in the platform's namespace, in the storage
//! image (it has pyarrow), under the `cdc-smoke` name the default-deny
//! NetworkPolicy lets reach both services (deploy/base/network.yaml).
//! Staging's reads need the token: the node suite does not deploy staging,
//! so that is checked on its render (storage's container gets
//! MLOPS_STORAGE_AUTH_READS=true), and development's says it is open.

use crate::support;

use std::time::{Duration, Instant};
use support::cluster::xtask;
use support::deploy::cleanup;
use support::platform::{namespace, on_the_real_node, platform, Build};
use support::{cluster, Cluster};

/// The node's CPU the test's pods request at their peak: development's
/// storage and cdc (50m each), the smoke Jobs, the attacker Job (10m).
const NODE_SHARE: u32 = 200;

/// The attacks, each asserting what the platform must answer; one line of results.
const ATTACK: &str = r#"
import http.client, io, json, socket, threading
import pyarrow as pa, pyarrow.parquet as pq
token = open("/var/run/secrets/mlops/token").read().strip()
AUTH = {"Authorization": "Bearer " + token}

def call(host, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(host, 80, timeout=60)  # the Services' port
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data

# 1. Four unauthenticated posts declaring 64 MiB each, sent at once.
SIZE = 64 << 20
flood = [None] * 4
def post_64mib(i):
    s = socket.create_connection(("cdc", 80), timeout=60)
    s.sendall(b"POST /events?table=attack-flood HTTP/1.1\r\nHost: cdc\r\n"
              b"Content-Type: application/x-ndjson\r\nContent-Length: %d\r\n\r\n" % SIZE)
    chunk, sent, answer = b"{" * (1 << 20), 0, b""
    try:
        while sent < SIZE:
            s.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass  # refused before the body was read: the connection is closed on us
    try:
        answer = s.recv(200)
    except OSError:
        pass
    s.close()
    flood[i] = {"sent": sent, "status": answer.split(b"\r\n")[0].decode(errors="replace")}
threads = [threading.Thread(target=post_64mib, args=(i,)) for i in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
for f in flood:
    assert f["status"] == "" or " 401 " in f["status"], f"not refused as unauthenticated: {flood}"
assert call("cdc", "GET", "/healthz")[0] == 200, "cdc does not answer after the flood"

# 2. The Parquet bomb: 20 row groups of one int64 value, 4 x the row limit.
group = pa.table({"n": pa.repeat(pa.scalar(7, pa.int64()), 1_000_000)})
sink = io.BytesIO()
with pq.ParquetWriter(sink, group.schema, compression="zstd") as w:
    for _ in range(20):
        w.write_table(group)
bomb = sink.getvalue()
assert len(bomb) < 200_000, len(bomb)
parquet = {**AUTH, "Content-Type": "application/vnd.apache.parquet"}
status, data = call("storage", "PUT", "/datasets/attack-bomb", bomb, parquet)
assert status == 413, (status, data[:300])
assert call("storage", "GET", "/healthz")[0] == 200, "storage does not answer after the bomb"
fine = io.BytesIO()
pq.write_table(pa.table({"x": [1, 2]}), fine)
status, data = call("storage", "PUT", "/datasets/attack-fine", fine.getvalue(), parquet)
assert status == 201, (status, data[:300])
status, data = call("storage", "GET", "/datasets/attack-fine")
assert status == 200 and json.loads(data)["rows"] == [{"x": 1}, {"x": 2}], (status, data[:300])
assert call("storage", "GET", "/datasets/attack-bomb")[0] == 404, "the bomb was stored"

# 3. T1 starts first (LSNs 100, 200) and commits after T2 (LSN 300, commit 50 < 310).
def sequenced(op, commit, lsn, **row):
    source = {"connector": "postgresql", "db": "app", "table": "users", "name": "attack",
              "lsn": lsn, "sequence": json.dumps([str(commit), str(lsn)])}
    return {"op": op, "before": None, "after": row, "source": source, "ts_ms": 1}
def events(*batch):
    body = "".join(json.dumps(e) + "\n" for e in batch).encode()
    status, data = call("cdc", "POST", "/events?table=attack-order", body, AUTH)
    assert status == 200, (status, data[:300])
    return json.loads(data)
first = events(sequenced("c", 50, 300, id=2, v="t2"))
second = events(sequenced("c", 310, 100, id=1, v="t1"), sequenced("u", 310, 200, id=1, v="t1 again"))
assert first["applied"] == 1 and not first["dead_letters"], first
assert (second["applied"], second["skipped"], second["dead_letters"]) == (2, 0, []), second
status, data = call("storage", "GET", "/datasets/attack-order")
rows = sorted(json.loads(data)["rows"], key=lambda r: r["id"])
assert rows == [{"id": 1, "v": "t1 again"}, {"id": 2, "v": "t2"}], rows
print("attacks: " + json.dumps({"flood": flood, "bomb_bytes": len(bomb), "order": rows}), flush=True)
"#;

/// The attacker: a Job of the platform's namespace in `image`, with the storage token.
fn attack_job(image: &str) -> String {
    let container =
        support::cluster::python_container(8, "attack", image, "python", ATTACK, "{cpu: 500m, memory: 384Mi}");
    format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  name: attack
spec:
  backoffLimit: 0
  activeDeadlineSeconds: 300
  template:
    metadata:
      labels: {{app.kubernetes.io/name: cdc-smoke}}
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      securityContext: {{runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: {{type: RuntimeDefault}}}}
      containers:
{container}          securityContext: {{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {{drop: [ALL]}}}}
          volumeMounts: [{{name: token, mountPath: /var/run/secrets/mlops, readOnly: true}}]
      volumes:
        - name: token
          secret: {{secretName: storage-token, defaultMode: 288, items: [{{key: token, path: token}}]}}
"
    )
}

/// Each pod of `app` by name: its uid and containers' restarts, and whether it is ready.
fn pods(c: &Cluster, ns: &str, app: &str) -> Vec<(String, String, u64, bool)> {
    let list = c.json(&["get", "pods", "-n", ns, "-l", &format!("app.kubernetes.io/name={app}"), "-o", "json"]);
    let mut out: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let statuses = p["status"]["containerStatuses"].as_array().cloned().unwrap_or_default();
            let restarts = statuses.iter().map(|s| s["restartCount"].as_u64().unwrap_or(0)).sum();
            let ready = !statuses.is_empty() && statuses.iter().all(|s| s["ready"] == true);
            let name = p["metadata"]["name"].as_str().unwrap().to_string();
            (name, p["metadata"]["uid"].as_str().unwrap().to_string(), restarts, ready)
        })
        .collect();
    out.sort();
    out
}

/// The Job's end: Complete or Failed, polled until `within` passes.
fn job_end(c: &Cluster, ns: &str, within: Duration) -> Option<String> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let job = c.json(&["get", "job", "attack", "-n", ns, "-o", "json"]);
        let conditions = job["status"]["conditions"].as_array().cloned().unwrap_or_default();
        if let Some(end) =
            conditions.iter().find(|k| k["status"] == "True" && (k["type"] == "Complete" || k["type"] == "Failed"))
        {
            return end["type"].as_str().map(String::from);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    None
}

#[test]
#[ignore = "needs the local cluster: cargo xtask test runs it when XTASK_TEST_KUBECONFIG is set"]
fn the_deployed_platform_withstands_floods_a_parquet_bomb_and_out_of_order_commits() {
    let c = cluster();
    let ns = namespace("attack");
    let copy = platform("development", &ns, Build::Main);
    // The images first: a share is held while the test has pods on the node.
    let _node = support::node::share(NODE_SHARE);
    let _cleanup = cleanup(Some(&c), &ns);
    let run = xtask(copy.path(), &c, &["deploy", "development", "--timeout", "300s"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    on_the_real_node(&c, &ns);
    let before = (pods(&c, &ns, "cdc"), pods(&c, &ns, "storage"));
    assert!(before.0.iter().chain(&before.1).all(|p| p.3), "not every pod is ready: {before:?}");

    let image = c.text(&[
        "get",
        "deployment",
        "storage",
        "-n",
        &ns,
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), attack_job(&image)).unwrap();
    c.text(&["apply", "-n", &ns, "-f", file.path().to_str().unwrap()]);
    let end = job_end(&c, &ns, Duration::from_secs(330));
    let log =
        String::from_utf8_lossy(&c.kubectl(&["logs", "-n", &ns, "job/attack", "--tail", "60"]).stdout).into_owned();
    eprintln!("{log}");
    assert_eq!(end.as_deref(), Some("Complete"), "the attacks did not all hold: {log}");
    assert!(log.contains("attacks: "), "{log}");

    // The same pods, ready, never restarted (an OOM kill or a crash would count).
    let after = (pods(&c, &ns, "cdc"), pods(&c, &ns, "storage"));
    assert_eq!(after, before, "cdc or storage restarted, was replaced or is not ready after the attacks");
}

/// A rendered environment's storage Deployment (its YAML document).
fn storage_deployment(env: &str) -> String {
    let copy = support::copy_of_the_monorepo();
    let mut render = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"));
    render.arg("--root").arg(copy.path()).args(["manifests", "render", env]);
    let run = support::run(render);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let rendered = std::fs::read_to_string(copy.path().join(format!("target/xtask/manifests/{env}.yaml"))).unwrap();
    rendered
        .split("\n---\n")
        .find(|d| d.contains("\nkind: Deployment\n") && d.contains("\n  name: storage\n"))
        .unwrap_or_else(|| panic!("no storage Deployment in the {env} render: {rendered}"))
        .to_string()
}

#[test]
fn staging_reads_need_the_token_and_development_says_it_is_open() {
    let staging = storage_deployment("staging");
    assert!(
        staging.contains("        - name: MLOPS_STORAGE_AUTH_READS\n          value: \"true\"\n"),
        "staging's storage container does not get MLOPS_STORAGE_AUTH_READS=true, so a read without a token is not 401: {staging}"
    );
    let development = storage_deployment("development");
    assert!(!development.contains("MLOPS_STORAGE_AUTH_READS"), "{development}");
    let overlay = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/overlays/development/settings.yaml"),
    )
    .unwrap();
    assert!(
        overlay.contains("no MLOPS_STORAGE_AUTH_READS"),
        "development's overlay says its reads are open: {overlay}"
    );
}
