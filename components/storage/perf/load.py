#!/usr/bin/env python3
"""One sample of a storage scenario: a bounded HTTP load on a running service.

`cargo xtask perf storage` runs it (components/storage/perf.toml) against
the service of the tree under test; it comes from head, so it keeps to what
every version of the service answers (CSV writes, JSON reads) and to the
standard library. It makes a dataset of its own, warms up, then sends
--requests requests from --concurrency clients (keep-alive connections),
stopping early at --seconds, and prints the median latency in milliseconds
as its last line. Any failed request fails the sample (exit 1).

    load.py read     GET /datasets/NAME (the latest version as JSON)
    load.py write    PUT /datasets/NAME (a new version from CSV)
    load.py versions GET /datasets/NAME/versions (of --versions versions)
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import threading
import time
import uuid
from urllib.parse import urlsplit


def csv_body(rows: int, tag: str) -> bytes:
    lines = ["id,tag,value"] + [f"{i},{tag},{i * 0.5}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


class Client:
    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(
            parts.hostname, parts.port, timeout=timeout
        )

    def call(self, method: str, path: str, body: bytes | None = None) -> bytes:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "text/csv"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status >= 300:
            raise RuntimeError(
                f"{method} {path}: HTTP {response.status}: {data[:200]!r}"
            )
        return data


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["read", "write", "versions"])
    parser.add_argument(
        "--url", required=True, help="the service, e.g. http://127.0.0.1:8080"
    )
    parser.add_argument(
        "--concurrency", type=int, default=2, help="clients at once (default: 2)"
    )
    parser.add_argument(
        "--requests", type=int, default=100, help="timed requests in all (default: 100)"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=20.0,
        help="stop the timed part after this long (default: 20)",
    )
    parser.add_argument(
        "--rows", type=int, default=200, help="rows per version (default: 200)"
    )
    parser.add_argument(
        "--versions",
        type=int,
        default=10,
        help="versions of the listed dataset (default: 10)",
    )
    args = parser.parse_args()
    if not (
        1 <= args.concurrency <= 32
        and 1 <= args.requests <= 10_000
        and 0 < args.seconds <= 600
    ):
        parser.error("--concurrency 1-32, --requests 1-10000, --seconds up to 600")

    name = f"perf-{args.mode}-{uuid.uuid4().hex[:8]}"
    setup = Client(args.url, timeout=30)
    for n in range(1 if args.mode != "versions" else args.versions):
        setup.call("PUT", f"/datasets/{name}", csv_body(args.rows, f"v{n}"))

    path = (
        f"/datasets/{name}/versions" if args.mode == "versions" else f"/datasets/{name}"
    )
    counter = iter(range(args.requests))
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.monotonic() + args.seconds

    def client(index: int) -> None:
        c = Client(args.url, timeout=args.seconds)
        body = csv_body(args.rows, f"c{index}") if args.mode == "write" else None
        method = "PUT" if args.mode == "write" else "GET"
        try:
            for _ in range(3):  # warm-up: connection, caches
                c.call(method, path, body)
            go.wait()
            while time.monotonic() < deadline:
                with lock:
                    if next(counter, None) is None:
                        return
                started = time.perf_counter()
                c.call(method, path, body)
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies.append(elapsed)
        except Exception as exc:  # noqa: BLE001 - any failure fails the sample
            with lock:
                errors.append(repr(exc))
            go.abort()

    go = threading.Barrier(args.concurrency)
    threads = [
        threading.Thread(target=client, args=(i,), daemon=True)
        for i in range(args.concurrency)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(args.seconds + 60)
    if errors or not latencies:
        first = errors[0] if errors else "no request finished"
        print(
            f"load.py {args.mode}: {len(errors)} error(s), first: {first}",
            file=sys.stderr,
        )
        return 1
    median = statistics.median(latencies)
    done = f"{len(latencies)} requests at concurrency {args.concurrency}"
    print(f"{args.mode}: {done}, median {median:.2f} ms", file=sys.stderr)
    print(f"{median:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
