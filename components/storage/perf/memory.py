#!/usr/bin/env python3
"""Peak memory of the storage service under the largest requests it accepts.

Starts ``mlops-storage serve`` (its defaults unless flags are passed after
``--``) over an empty store in a temporary folder, and samples the memory of
the supervisor and its workers (the sum of their PSS: shared pages counted
once, as the pod's cgroup counts them) every 20 ms while it runs, in turn:

1. idle, after start;
2. writes at the limits from --clients clients at once: CSV bodies of the
   body limit, and Parquet bodies decoding to just under the decoded-size
   limit;
3. reads of the largest version: JSON pages of the largest ``limit`` and
   whole CSV and Parquet downloads, from --clients clients at once;
4. refused uploads: a Parquet bomb (a few kilobytes, a billion rows).

Prints the peak of each phase and of each worker. The figures in
components/storage/README.md ("Limits and errors") come from it:

    python3 components/storage/perf/memory.py --mlops-storage \\
        target/venvs/storage/bin/mlops-storage
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

MiB = 1024 * 1024


def pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as found:
            return [int(p) for p in found.read().split()]
    except OSError:
        return []


class Sampler(threading.Thread):
    """The service's memory (PSS of the process and its children) over time."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.workers = pid, 0, {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.02):
            kids = children(self.pid)
            each = {p: pss_kib(p) for p in kids}
            total = pss_kib(self.pid) + sum(each.values())
            self.peak = max(self.peak, total)
            for p, kib in each.items():
                self.workers[p] = max(self.workers.get(p, 0), kib)

    def phase(self) -> int:
        peak, self.peak = self.peak, 0
        return peak


def call(
    url: str, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, int]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=300)
    try:
        conn.request(method, path, body=body, headers=headers)
        answer = conn.getresponse()
        size = 0
        while chunk := answer.read(1024 * 1024):
            size += len(chunk)
        return answer.status, size
    finally:
        conn.close()


def csv_body(size: int) -> bytes:
    """A CSV of about ``size`` bytes (numbers and short strings)."""
    rows = size // 24
    table = pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "tag": pa.array([f"t{i % 1000}" for i in range(rows)]),
            "value": pa.array([i * 0.25 for i in range(rows)]),
        }
    )
    sink = io.BytesIO()
    pa_csv.write_csv(table, sink)
    return sink.getvalue()[:size].rsplit(b"\n", 1)[0] + b"\n"


def parquet_body(table_bytes: int) -> bytes:
    """A Parquet file decoding to just under ``table_bytes`` of Arrow data
    (low-cardinality columns: a body well under the body limit)."""
    rows = table_bytes * 8 // (3 * 65) - 1000  # 64 bits and a validity bit
    table = pa.table(
        {
            "id": pa.array([i // 16 for i in range(rows)], pa.int64()),
            "value": pa.array([(i % 977) * 0.5 for i in range(rows)]),
            "flag": pa.array([i % 7 for i in range(rows)], pa.int64()),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def bomb() -> bytes:
    sink = io.BytesIO()
    group = pa.table({"n": pa.repeat(pa.scalar(7, pa.int64()), 10_000_000)})
    with pq.ParquetWriter(sink, group.schema, compression="zstd") as writer:
        for _ in range(100):
            writer.write_table(group)
    return sink.getvalue()


def settings_of(lines: list[str]) -> dict[str, int]:
    for line in lines:
        if '"max_body_bytes"' in line:
            return {
                k: int(v)
                for k, v in re.findall(
                    r'"(max_\w+|write_memory|cache_bytes|workers)": (\d+)', line
                )
            }
    raise SystemExit("the service did not log its settings")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--mlops-storage", required=True, help="the mlops-storage command"
    )
    parser.add_argument(
        "--clients", type=int, default=4, help="clients at once (default: 4)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="requests per client and kind (default: 2)",
    )
    parser.add_argument("serve", nargs="*", help="more flags for serve (after --)")
    args = parser.parse_args()

    token = "memory-bench-token"
    with tempfile.TemporaryDirectory() as root:
        env = {**os.environ, "MLOPS_STORAGE_TOKEN": token}
        proc = subprocess.Popen(
            [args.mlops_storage, "serve", "--root", root, "--port", "0", *args.serve],
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stderr is not None
        lines: list[str] = []
        url = ""
        deadline = time.monotonic() + 60
        while not url:
            line = proc.stderr.readline()
            if not line or time.monotonic() > deadline:
                raise SystemExit("the service did not start: " + "".join(lines))
            lines.append(line)
            found = re.search(r"http://127\.0\.0\.1:\d+", line)
            url = found.group(0) if found else ""
        threading.Thread(
            target=lambda: [None for _ in proc.stderr], daemon=True
        ).start()
        limits = settings_of(lines)
        print("settings:", limits)
        sampler = Sampler(proc.pid)
        sampler.start()
        auth = {"Authorization": f"Bearer {token}"}
        try:
            time.sleep(2)  # settled: the idle figure
            print(f"idle:   {sampler.phase() / 1024:7.1f} MiB")

            csv = csv_body(limits["max_body_bytes"] - 1024)
            pq_body = parquet_body(limits["max_table_bytes"] - 64 * 1024)
            print(
                f"bodies: CSV {len(csv) / MiB:.1f} MiB, Parquet {len(pq_body) / MiB:.1f} MiB"
            )

            def run(job: Callable[[int], tuple[int, int]], count: int) -> list[int]:
                with ThreadPoolExecutor(args.clients) as pool:
                    return [s for s, _ in pool.map(job, range(count))]

            def write(i: int) -> tuple[int, int]:
                body, kind = (
                    (csv, "text/csv")
                    if i % 2
                    else (pq_body, "application/vnd.apache.parquet")
                )
                return call(
                    url,
                    "PUT",
                    f"/datasets/w{i % args.clients}",
                    body,
                    {**auth, "Content-Type": kind},
                )

            statuses = run(write, args.clients * args.rounds)
            print(
                f"writes: {sampler.phase() / 1024:7.1f} MiB  statuses {sorted(set(statuses))}"
            )

            def read(i: int) -> tuple[int, int]:
                accept = [
                    "application/json",
                    "text/csv",
                    "application/vnd.apache.parquet",
                ][i % 3]
                path = "/datasets/w0?limit=10000" if i % 3 == 0 else "/datasets/w0"
                return call(url, "GET", path, None, {**auth, "Accept": accept})

            statuses = run(read, args.clients * args.rounds * 3)
            print(
                f"reads:  {sampler.phase() / 1024:7.1f} MiB  statuses {sorted(set(statuses))}"
            )

            boom = bomb()
            status, _ = call(
                url,
                "PUT",
                "/datasets/bomb",
                boom,
                {**auth, "Content-Type": "application/vnd.apache.parquet"},
            )
            print(
                f"bomb:   {sampler.phase() / 1024:7.1f} MiB  status {status} ({len(boom) / MiB:.2f} MiB body)"
            )
            workers = ", ".join(f"{kib / 1024:.1f}" for kib in sampler.workers.values())
            print(f"peak per worker (MiB): {workers}")
        finally:
            sampler.stop.set()
            proc.terminate()
            proc.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
