#!/usr/bin/env python3
"""spark's scenario: the feature job's time on fixed data, in a warm driver.

`cargo xtask perf spark` (components/spark/perf.toml) starts `features.py
serve` as the service of each tree, with that tree's Python: it writes
--rows generated events (--entities entities, one a minute, the same every
run) as the dataset `perf_events` of a store in --data, starts one Spark
driver (local[1]) and answers `POST /run` on 127.0.0.1:--port by running
the job (`mlops_spark.jobs.features.main`, as the CronJob does) and
answering its wall time. `features.py sample --url URL` is one sample: it
asks for a run and prints the seconds as its last line. The driver is
started once per tree because starting one takes half a minute here, which
would swamp the job's own time; the scenario's warm-up pair pays for the
JIT. The script comes from head; the job it runs is the tree's.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DATASET = "perf_events"


def ensure_dataset(root: Path, rows: int, entities: int) -> None:
    import pyarrow as pa
    from mlops_storage import Store

    start = 1_700_000_000
    table = pa.table(
        {
            "entity_id": [f"e{i % entities}" for i in range(rows)],
            "timestamp": [start + 60 * i for i in range(rows)],
            "value": [float((i * 7919) % 1000) / 10 for i in range(rows)],
        }
    )
    Store(root).write(DATASET, table)


def serve(args: argparse.Namespace) -> int:
    from mlops_spark import create_session
    from mlops_spark.jobs import features

    root = Path(args.data) / "store"
    ensure_dataset(root, args.rows, args.entities)
    spark = create_session(master="local[1]", app_name="perf", log_level="ERROR")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            argv = ["--dataset", DATASET, "--window", args.window, "--root", str(root),
                    "--output", f"perf_features_{uuid.uuid4().hex[:8]}"]  # fmt: skip
            started = time.perf_counter()
            code = features.main(argv, spark=spark)
            body = json.dumps(
                {"exit": code, "seconds": time.perf_counter() - started}
            ).encode()
            self.send_response(200 if code == 0 else 500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *a: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", args.port), Handler)
    print(
        f"serving the feature job on 127.0.0.1:{args.port}", file=sys.stderr, flush=True
    )
    try:
        server.serve_forever()
    finally:
        spark.stop()
    return 0


def sample(args: argparse.Namespace) -> int:
    parts = urlsplit(args.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=args.seconds)
    conn.request("POST", "/run", body=b"")
    response = conn.getresponse()
    answer = json.loads(response.read())
    if response.status != 200:
        code = answer.get("exit")
        print(
            f"features.py: the job failed (exit {code}): see the service log",
            file=sys.stderr,
        )
        return 1
    print(f"spark: feature job in {answer['seconds']:.2f}s", file=sys.stderr)
    print(f"{answer['seconds']:.3f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    s = commands.add_parser("serve", help="the job's driver, answering POST /run")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--data", required=True, help="a folder for the store")
    s.add_argument("--rows", type=int, default=20_000, help="events (default: 20000)")
    s.add_argument(
        "--entities", type=int, default=200, help="distinct entities (default: 200)"
    )
    s.add_argument("--window", default="7d", help="the job's window (default: 7d)")
    p = commands.add_parser("sample", help="run the job once, print its seconds")
    p.add_argument("--url", required=True)
    p.add_argument(
        "--seconds",
        type=float,
        default=300.0,
        help="give up after this long (default: 300)",
    )
    args = parser.parse_args()
    if args.command == "serve":
        if not (1 <= args.rows <= 5_000_000 and 1 <= args.entities <= args.rows):
            parser.error("--rows 1-5000000, --entities 1..rows")
        return serve(args)
    return sample(args)


if __name__ == "__main__":
    sys.exit(main())
