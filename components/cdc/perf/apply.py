#!/usr/bin/env python3
"""One sample of cdc's scenario: change events applied per second over HTTP.

`cargo xtask perf cdc` runs it (components/cdc/perf.toml) against the cdc
service of the tree under test; it comes from head and uses only the
standard library and the service's `POST /events?table=NAME`. It posts
--events Debezium events in batches of --batch to a table of its own
(creates of --rows keys first, then updates of them), one batch at a time as
a single upstream connector does, stopping early at --seconds, and prints
the events applied per second as its last line. A batch that is refused or
dead-letters an event fails the sample (exit 1).
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
import uuid
from urllib.parse import urlsplit


def batch(start: int, count: int, rows: int) -> bytes:
    lines = []
    for offset in range(start, start + count):
        key = offset % rows
        op = "c" if offset < rows else "u"
        after = {
            "id": key,
            "name": f"user-{key}",
            "score": offset * 0.5,
            "active": offset % 3 == 0,
        }
        source = {
            "connector": "postgresql",
            "db": "app",
            "table": "users",
            "lsn": offset + 1,
        }
        lines.append(
            json.dumps(
                {
                    "op": op,
                    "before": None,
                    "after": after,
                    "source": source,
                    "ts_ms": offset,
                }
            )
        )
    return ("\n".join(lines) + "\n").encode()


def post(
    conn: http.client.HTTPConnection, table: str, body: bytes
) -> dict[str, object]:
    conn.request(
        "POST",
        f"/events?table={table}",
        body=body,
        headers={"Content-Type": "application/x-ndjson"},
    )
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"POST /events: HTTP {response.status}: {data[:200]!r}")
    answer: dict[str, object] = json.loads(data)
    if answer.get("dead_letters"):
        raise RuntimeError(f"dead letters: {str(answer['dead_letters'])[:200]}")
    return answer


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--url", required=True, help="the cdc service, e.g. http://127.0.0.1:8080"
    )
    parser.add_argument(
        "--events", type=int, default=2000, help="events in all (default: 2000)"
    )
    parser.add_argument(
        "--batch", type=int, default=200, help="events per request (default: 200)"
    )
    parser.add_argument(
        "--rows", type=int, default=500, help="distinct keys (default: 500)"
    )
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="stop after this long (default: 30)"
    )
    args = parser.parse_args()
    if not (
        1 <= args.batch <= args.events <= 100_000
        and args.rows >= 1
        and 0 < args.seconds <= 600
    ):
        parser.error(
            "1 <= --batch <= --events <= 100000, --rows >= 1, --seconds up to 600"
        )

    parts = urlsplit(args.url)
    conn = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=args.seconds + 30
    )
    post(conn, f"perf_warmup_{uuid.uuid4().hex[:8]}", batch(0, args.batch, args.rows))
    table = f"perf_{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + args.seconds
    applied = 0
    started = time.perf_counter()
    for start in range(0, args.events, args.batch):
        if time.monotonic() > deadline:
            break
        answer = post(
            conn, table, batch(start, min(args.batch, args.events - start), args.rows)
        )
        applied += int(answer.get("applied", 0))  # type: ignore[call-overload]
    elapsed = time.perf_counter() - started
    if applied == 0:
        print("apply.py: no event was applied", file=sys.stderr)
        return 1
    print(f"cdc: {applied} events applied in {elapsed:.2f}s", file=sys.stderr)
    print(f"{applied / elapsed:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
