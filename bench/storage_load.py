#!/usr/bin/env python3
"""Load benchmark of the storage service: the old http.server implementation
against the FastAPI/uvicorn one, measured in one run, printed as ratios.

Starts each implementation as a subprocess on 127.0.0.1 (an ephemeral port)
over a fresh store in a temporary directory it makes (and deletes afterwards),
then runs a bounded load: --clients concurrent clients, each sending
--requests requests over one keep-alive connection, a fixed share of them
writes (PUT of a Parquet version) and the rest reads (GET of the latest
version as JSON). It stops by itself. Reported per implementation: p50/p99
latency of reads and writes, throughput and errors; then new/old ratios.

It also checks what must hold under load, for both implementations: zero
errors, no lost or duplicated version (the versions the writers were given
are exactly 1..N, each holding what its writer sent), and every read a whole
version (all rows of one write, and the version it claims). Exit status 0
when every check holds, 1 when one fails, 2 on bad usage.

The baseline is the service as it was before the move to FastAPI
(`git show 306f8f8:components/storage/src/mlops_storage/server.py`), kept
here as text, not in the shipped package, with a minimal PUT added so that
writes can be compared too (no auth, no limits: it only does the store
write). The new service runs as deployed: token auth, body limit, JSON
access log.

The old server imports the store from the working tree (so it gains from
every store improvement: a conservative reference). `--base REV` adds the
FastAPI service as it was at git revision REV (its whole package, store
included, from `git archive`), to compare a change against it in the same run.
`--variant NAME=ARGS` adds the working tree's service run with other `serve`
flags (e.g. `w1=--workers 1`), which is how the deployed settings were chosen.

`--clients` takes a list (default 1,4,16,32): a scaling table, one row per
client count, every server measured at each count in each round (the order
alternates between rounds). The targets are printed, never asserted.

Usage (from the repository root, after `cargo xtask test storage` built the
environment; the script re-runs itself with target/venvs/storage/bin/python):

    python3 bench/storage_load.py [--clients 1,4,16,32] [--requests 150]
        [--write-every 5] [--rounds 2] [--base main] [--variant NAME=ARGS ...]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / "target" / "venvs" / "storage" / "bin" / "python"
TOKEN = "bench-token-" + uuid.uuid4().hex
DATASET = "load"
PARQUET = "application/vnd.apache.parquet"

# The storage service before FastAPI, as it was at commit 306f8f8, verbatim
# but for the PUT handler and the entry point added at the end.
BASELINE = r'''
"""Read-only JSON HTTP service over a :class:`~mlops_storage.Store`.

Routes (GET and HEAD only)::

    /healthz                      {"status": "ok"}
    /datasets                     {"datasets": [...]}
    /datasets/{name}/versions     {"name": ..., "versions": [...]}
    /datasets/{name}?version=N    {"name": ..., "version": N, "rows": [...]}

Errors are ``{"error": "..."}`` with 404 (unknown dataset, version or route),
400 (invalid name or version parameter), 405 (other methods) or 500.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import logging
import math
import re
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from mlops_storage.errors import DatasetNotFound, StorageError, VersionNotFound
from mlops_storage.store import Store, validate_name

logger = logging.getLogger(__name__)

_VERSION_RE = re.compile(r"[0-9]{1,18}")


class BadRequest(Exception):
    """A client error detected while parsing the request."""


def to_jsonable(value: Any) -> Any:
    """Convert a value from ``Table.to_pylist()`` to something ``json`` accepts."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


class StorageHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the store its handlers serve."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: Store) -> None:
        self.store = store
        super().__init__(address, StorageRequestHandler)


class StorageRequestHandler(BaseHTTPRequestHandler):
    """Routes GET requests to the store and answers in JSON."""

    server: StorageHTTPServer
    server_version = "mlops-storage/0.1"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._handle(send_body=True)

    def do_HEAD(self) -> None:
        self._handle(send_body=False)

    def _method_not_allowed(self) -> None:
        self._send_json(
            HTTPStatus.METHOD_NOT_ALLOWED,
            {"error": f"method {self.command} not allowed; this service is read-only"},
            headers={"Allow": "GET, HEAD"},
        )

    do_POST = do_PUT = do_PATCH = do_DELETE = _method_not_allowed

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s - %s", self.address_string(), format % args)

    # ---------------------------------------------------------------- routing

    def _handle(self, *, send_body: bool) -> None:
        try:
            status, payload = self._route()
        except BadRequest as exc:
            status, payload = HTTPStatus.BAD_REQUEST, {"error": str(exc)}
        except (DatasetNotFound, VersionNotFound) as exc:
            status, payload = HTTPStatus.NOT_FOUND, {"error": str(exc)}
        except StorageError as exc:
            logger.error("storage error on %s: %s", self.path, exc)
            status, payload = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(exc)}
        except Exception:
            logger.exception("unexpected error on %s", self.path)
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            payload = {"error": "internal server error"}
        self._send_json(status, payload, send_body=send_body)

    def _route(self) -> tuple[HTTPStatus, dict[str, Any]]:
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        parts = [unquote(part) for part in path.split("/")[1:]]
        store = self.server.store

        if parts == ["healthz"]:
            return HTTPStatus.OK, {"status": "ok"}
        if parts == ["datasets"]:
            return HTTPStatus.OK, {"datasets": store.datasets()}
        if len(parts) == 3 and parts[0] == "datasets" and parts[2] == "versions":
            name = self._name(parts[1])
            return HTTPStatus.OK, {"name": name, "versions": store.versions(name)}
        if len(parts) == 2 and parts[0] == "datasets":
            name = self._name(parts[1])
            version = self._version(parse_qs(url.query, keep_blank_values=True))
            if version is None:
                version = store.versions(name)[-1]
            table = store.read(name, version)
            rows = [to_jsonable(row) for row in table.to_pylist()]
            return HTTPStatus.OK, {"name": name, "version": version, "rows": rows}
        return HTTPStatus.NOT_FOUND, {"error": f"no such route: {url.path}"}

    @staticmethod
    def _name(raw: str) -> str:
        try:
            return validate_name(raw)
        except StorageError as exc:
            raise BadRequest(str(exc)) from exc

    @staticmethod
    def _version(query: dict[str, list[str]]) -> int | None:
        values = query.get("version")
        if values is None:
            return None
        if len(values) != 1:
            raise BadRequest("give the version parameter at most once")
        raw = values[0].strip()
        if not _VERSION_RE.fullmatch(raw) or int(raw) < 1:
            raise BadRequest(
                f"invalid version {values[0]!r}: expected a positive integer"
            )
        return int(raw)

    # --------------------------------------------------------------- response

    def _send_json(
        self,
        status: HTTPStatus,
        payload: dict[str, Any],
        *,
        send_body: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        body = json.dumps(payload, allow_nan=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if send_body:
            self.wfile.write(body)


def make_server(store: Store, host: str, port: int) -> ThreadingHTTPServer:
    """Bind (but do not start) the service; port 0 picks a free port."""
    return StorageHTTPServer((host, port), store)


# --- bench additions: a minimal write path and an entry point ---------------

import io as _io
import signal as _signal
import sys as _sys

import pyarrow as _pa
import pyarrow.parquet as _pq


def _do_put(self: StorageRequestHandler) -> None:
    path = urlsplit(self.path).path
    parts = [unquote(part) for part in path.split("/")[1:]]
    length = int(self.headers.get("Content-Length", "0"))
    body = self.rfile.read(length)
    if len(parts) != 2 or parts[0] != "datasets":
        self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no such route: {path}"})
        return
    try:
        table = _pq.read_table(_pa.BufferReader(body))
        version = self.server.store.write(validate_name(parts[1]), table)
    except StorageError as exc:
        self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        return
    self._send_json(
        HTTPStatus.CREATED,
        {"name": parts[1], "version": version, "num_rows": table.num_rows},
    )


StorageRequestHandler.do_PUT = _do_put


def _main() -> None:
    logging.basicConfig(
        level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    server = make_server(Store(_sys.argv[1]), "127.0.0.1", 0)

    def stop(signum, frame):
        raise KeyboardInterrupt

    _signal.signal(_signal.SIGTERM, stop)
    print(f"serving on http://127.0.0.1:{server.server_address[1]}", file=_sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


_main()
'''


# ------------------------------------------------------------------- running


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    root: Path
    log: Path


@dataclass
class Stats:
    read_ms: list[float] = field(default_factory=list)
    write_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: (version, tag) of every write, as the service answered it.
    written: list[tuple[int, str]] = field(default_factory=list)
    #: (version, tag, rows) of every read.
    seen: list[tuple[int, str, int]] = field(default_factory=list)
    torn: list[str] = field(default_factory=list)
    wall_s: float = 0.0


@dataclass
class Kind:
    """One server under test: the old one, the base revision or a new variant."""

    name: str
    extra: list[str] = field(default_factory=list)
    #: PYTHONPATH holding another revision's mlops_storage (the base).
    source: Path | None = None


def start(kind: Kind, workdir: Path, python: str) -> Server:
    name = kind.name
    root = workdir / name / "store"
    root.mkdir(parents=True)
    log = workdir / name / "server.log"
    serve = ["serve", "--root", str(root), "--host", "127.0.0.1", "--port", "0"]
    if name == "old":
        argv = [python, "-c", BASELINE, str(root)]
    else:
        argv = [python, "-m", "mlops_storage", *serve, *kind.extra]
    env = {**os.environ, "MLOPS_STORAGE_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    env.pop("MLOPS_STORAGE_TOKEN_FILE", None)
    for key in [key for key in env if key.startswith("MLOPS_STORAGE_") and key != "MLOPS_STORAGE_TOKEN"]:
        env.pop(key)  # the deployed defaults, not whatever this shell has set
    if kind.source is not None:
        env["PYTHONPATH"] = str(kind.source)
    with open(log, "wb") as sink:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink, env=env)
    deadline = time.monotonic() + 60
    while True:
        found = re.search(rb"http://127\.0\.0\.1:(\d+)", log.read_bytes())
        if found:
            return Server(name, proc, f"127.0.0.1:{int(found.group(1))}", root, log)
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            sys.exit(f"{name} server did not start:\n{log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.02)


def stop(server: Server) -> None:
    server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


def version_body(tag: str, rows: int) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"tag": [tag] * rows, "row": list(range(rows)), "value": [0.5] * rows})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def client(server: Server, index: int, args: argparse.Namespace, stats: Stats, lock: threading.Lock, go: threading.Barrier) -> None:
    host, port = server.url.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=args.timeout)
    bodies = {}
    for n in range(args.requests):
        if n % args.write_every == args.write_every - 1:
            tag = f"c{index}-{n}-{uuid.uuid4().hex[:8]}"
            bodies[n] = (tag, version_body(tag, args.rows))
    go.wait()
    for n in range(args.requests):
        write = n in bodies
        started = time.perf_counter()
        try:
            if write:
                tag, body = bodies[n]
                headers = {"Content-Type": PARQUET, "Authorization": f"Bearer {TOKEN}"}
                conn.request("PUT", f"/datasets/{DATASET}", body=body, headers=headers)
            else:
                conn.request("GET", f"/datasets/{DATASET}", headers={"Accept": "application/json"})
            response = conn.getresponse()
            data = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != (201 if write else 200):
                raise RuntimeError(f"HTTP {response.status}: {data[:200]!r}")
            answer = json.loads(data)
        except Exception as exc:  # noqa: BLE001 - every failure is counted
            with lock:
                stats.errors.append(f"{'PUT' if write else 'GET'}: {exc!r}")
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=args.timeout)
            continue
        with lock:
            if write:
                stats.write_ms.append(elapsed)
                stats.written.append((int(answer["version"]), tag))
            else:
                stats.read_ms.append(elapsed)
                rows = answer["rows"]
                tags = {row["tag"] for row in rows}
                whole = len(tags) == 1 and [row["row"] for row in rows] == list(range(len(rows)))
                if not whole or len(rows) != args.rows:
                    stats.torn.append(f"version {answer['version']}: {len(rows)} rows, tags {sorted(tags)[:3]}")
                else:
                    stats.seen.append((int(answer["version"]), tags.pop(), len(rows)))
    conn.close()


def check(server: Server, stats: Stats, seed_tag: str, args: argparse.Namespace) -> list[str]:
    """What must hold under load; an empty list when it all does."""
    from mlops_storage import Store

    problems = []
    if stats.errors:
        problems.append(f"{len(stats.errors)} errors, first: {stats.errors[0]}")
    versions = [version for version, _ in stats.written]
    duplicated = len(versions) - len(set(versions))
    if duplicated:
        problems.append(f"{duplicated} version numbers given to two writes")
    expected = {1: seed_tag, **dict(stats.written)}
    stored = Store(server.root).versions(DATASET)
    if stored != sorted(expected):
        problems.append(f"stored versions {stored[:5]}... != written {sorted(expected)[:5]}...")
    store = Store(server.root)
    lost = [
        version
        for version, tag in expected.items()
        if version in stored and set(store.read(DATASET, version).column("tag").to_pylist()) != {tag}
    ]
    if lost:
        problems.append(f"{len(lost)} versions do not hold what their writer sent: {lost[:5]}")
    if stats.torn:
        problems.append(f"{len(stats.torn)} reads were not a whole version: {stats.torn[0]}")
    wrong = [(v, t) for v, t, _ in stats.seen if expected.get(v) != t]
    if wrong:
        problems.append(f"{len(wrong)} reads returned another version's rows: {wrong[:3]}")
    return problems


def run(kind: Kind, args: argparse.Namespace, workdir: Path, python: str) -> tuple[Stats, list[str]]:
    name = kind.name
    server = start(kind, workdir, python)
    try:
        import pyarrow.parquet as pq

        seed_tag = f"seed-{uuid.uuid4().hex[:8]}"
        pq.write_table(pq.read_table(io.BytesIO(version_body(seed_tag, args.rows))), workdir / name / "seed.parquet")
        from mlops_storage import Store

        Store(server.root).write(DATASET, pq.read_table(workdir / name / "seed.parquet"))
        stats = Stats()
        lock = threading.Lock()
        go = threading.Barrier(args.clients + 1)
        threads = [
            threading.Thread(target=client, args=(server, i, args, stats, lock, go), daemon=True)
            for i in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        go.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join(timeout=args.timeout * args.requests)
        stats.wall_s = time.perf_counter() - started
        if any(thread.is_alive() for thread in threads):
            stats.errors.append("a client did not finish in time")
        problems = check(server, stats, seed_tag, args)
    finally:
        stop(server)
    return stats, problems


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def merge(runs: list[Stats]) -> Stats:
    total = Stats()
    for stats in runs:
        total.read_ms += stats.read_ms
        total.write_ms += stats.write_ms
        total.errors += stats.errors
        total.wall_s += stats.wall_s
    return total


def report(name: str, stats: Stats) -> dict[str, float]:
    done = len(stats.read_ms) + len(stats.write_ms)
    figures = {
        "read_p50": pct(stats.read_ms, 0.50),
        "read_p99": pct(stats.read_ms, 0.99),
        "write_p50": pct(stats.write_ms, 0.50),
        "write_p99": pct(stats.write_ms, 0.99),
        "throughput": done / stats.wall_s if stats.wall_s else float("nan"),
    }
    print(
        f"  {name:<6} reads {len(stats.read_ms):5d}  p50 {figures['read_p50']:7.1f} ms  p99 {figures['read_p99']:7.1f} ms   "
        f"writes {len(stats.write_ms):4d}  p50 {figures['write_p50']:7.1f} ms  p99 {figures['write_p99']:7.1f} ms   "
        f"{figures['throughput']:7.1f} req/s   errors {len(stats.errors)}"
    )
    return figures


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="storage_load.py",
        description="Bounded loopback load on the storage service: the old http.server "
        "implementation against the FastAPI/uvicorn one (and optionally a base revision "
        "and variants), in one run, as a scaling table of ratios; checks zero errors, no "
        "lost or duplicated version and whole-version reads.",
    )
    parser.add_argument(
        "--clients", default="1,4,16,32", help="concurrent clients, a comma-separated list (default: 1,4,16,32)"
    )
    parser.add_argument("--requests", type=int, default=150, help="requests per client (default: 150)")
    parser.add_argument(
        "--write-every", type=int, default=5, help="every Nth request of a client is a write (default: 5)"
    )
    parser.add_argument("--rows", type=int, default=200, help="rows per version (default: 200)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, the order alternating (default: 2)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default: 30)")
    parser.add_argument(
        "--base", default=None, metavar="REV", help="also measure the service at this git revision (e.g. main)"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=ARGS",
        help="also measure the working tree's service with these serve flags (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        args.client_counts = [int(part) for part in args.clients.split(",") if part.strip()]
    except ValueError:
        parser.error(f"--clients: expected numbers such as 1,4,16,32, got {args.clients!r}")
    if not args.client_counts or min(args.client_counts) < 1 or max(args.client_counts) > 256:
        parser.error("--clients: each count must be 1-256")
    for name in ("requests", "write_every", "rows", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 < args.timeout < 3600:
        parser.error("--timeout must be between 0 and 3600 seconds")
    if sum(args.client_counts) * args.requests > 100_000:
        parser.error("at most 100000 requests per server and round (sum of --clients x --requests)")
    args.variants = []
    for spec in args.variant:
        label, sep, flags = spec.partition("=")
        if not sep or not re.fullmatch(r"[a-z][a-z0-9_-]{0,15}", label) or label in ("old", "base", "new"):
            parser.error(f"--variant {spec!r}: expected NAME=ARGS with a new lower-case NAME")
        args.variants.append(Kind(label, shlex.split(flags)))
    return args


def base_source(rev: str, workdir: Path) -> Path:
    """The storage package at git revision ``rev``, extracted under ``workdir``."""
    out = workdir / "base-src"
    out.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev, "components/storage/src"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        sys.exit(f"cannot read revision {rev!r}: {archive.stderr.decode(errors='replace').strip()}")
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True)
    return out / "components" / "storage" / "src"


def row(clients: int, names: list[str], figures: dict[str, dict[str, float]], ok: bool) -> str:
    new = figures["new"]
    cells = [f"{clients:>7}"]
    cells += [f"{figures[name]['throughput']:>8.0f}" for name in names]
    ratio = lambda a, b: a / b if b else float("nan")  # noqa: E731
    if "base" in figures:
        cells.append(f"{ratio(new['throughput'], figures['base']['throughput']):>8.2f}")
    cells.append(f"{ratio(new['throughput'], figures['old']['throughput']):>7.2f}")
    cells.append(f"{new['read_p50']:>8.1f}")
    cells.append(f"{new['read_p99']:>8.1f}")
    if "base" in figures:
        cells.append(f"{figures['base']['read_p99']:>8.1f}")
    cells.append(f"{figures['old']['read_p99']:>8.1f}")
    cells.append(f"{new['write_p50']:>8.1f}")
    if "base" in figures:
        cells.append(f"{figures['base']['write_p50']:>8.1f}")
    cells.append(f"{figures['old']['write_p50']:>8.1f}")
    cells.append("  ok" if ok else "  FAILED")
    return " | ".join(cells)


def header(names: list[str], base: bool) -> str:
    cells = [f"{'clients':>7}"] + [f"{name + ' r/s':>8}" for name in names]
    if base:
        cells.append(f"{'new/base':>8}")
    cells.append(f"{'new/old':>7}")
    cells += [f"{'rd50 new':>8}", f"{'rd99 new':>8}"]
    if base:
        cells.append(f"{'rd99 bas':>8}")
    cells += [f"{'rd99 old':>8}", f"{'wr50 new':>8}"]
    if base:
        cells.append(f"{'wr50 bas':>8}")
    cells += [f"{'wr50 old':>8}", "  checks"]
    return " | ".join(cells)


def verdicts(table: dict[int, dict[str, dict[str, float]]], failed_at: set[int]) -> list[str]:
    """The issue's targets, each met or missed (printed, never asserted)."""
    lines = []
    for clients in (16, 32):
        figures = table.get(clients)
        if figures is None:
            continue
        new, old = figures["new"], figures["old"]
        if "base" in figures:
            x = new["throughput"] / figures["base"]["throughput"]
            lines.append(f"{clients} clients: throughput >= 3x base: {x:.2f}x {'met' if x >= 3 else 'MISSED'}")
        x = new["throughput"] / old["throughput"]
        lines.append(f"{clients} clients: throughput above old: {x:.2f}x {'met' if x > 1 else 'MISSED'}")
        x = new["write_p50"] / old["write_p50"]
        lines.append(f"{clients} clients: write p50 <= old: {x:.2f}x {'met' if x <= 1 else 'MISSED'}")
    if 16 in table:
        p99 = table[16]["new"]["read_p99"]
        lines.append(f"16 clients: read p99 < 100 ms: {p99:.1f} ms {'met' if p99 < 100 else 'MISSED'}")
    lines.append(
        "zero errors and every check at every client count: "
        + ("met" if not failed_at else f"MISSED at {sorted(failed_at)}")
    )
    return lines


def main() -> int:
    args = parse_args()
    try:
        import mlops_storage  # noqa: F401
    except ImportError:
        if not VENV_PYTHON.exists():
            sys.exit("storage environment missing: run `cargo xtask test storage` first")
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), __file__, *sys.argv[1:]])
    python = sys.executable
    workdir = Path(tempfile.mkdtemp(prefix="storage-load-"))
    kinds = [Kind("old")]
    try:
        if args.base:
            kinds.append(Kind("base", source=base_source(args.base, workdir)))
        kinds += [Kind("new"), *args.variants]
        names = [kind.name for kind in kinds]
        print(
            f"clients {args.client_counts} x {args.requests} requests each (every {args.write_every}th a write "
            f"of {args.rows} rows), {args.rounds} round(s), 127.0.0.1; servers: {', '.join(names)}"
            + (f" (base = {args.base})" if args.base else "")
        )
        runs: dict[tuple[int, str], list[Stats]] = {}
        failed_at: set[int] = set()
        for round_ in range(args.rounds):
            order = kinds if round_ % 2 == 0 else kinds[::-1]
            for clients in args.client_counts:
                sized = argparse.Namespace(**{**vars(args), "clients": clients})
                for kind in order:
                    where = workdir / f"round{round_}-c{clients}"
                    stats, problems = run(kind, sized, where, python)
                    runs.setdefault((clients, kind.name), []).append(stats)
                    verdict = "ok" if not problems else "FAILED: " + "; ".join(problems)
                    print(
                        f"round {round_ + 1} {clients:>3} clients {kind.name:<5}: {len(stats.written)} writes, "
                        f"{len(stats.seen)} whole reads, {len(stats.torn)} torn, {len(stats.errors)} errors: {verdict}",
                        flush=True,
                    )
                    if problems:
                        failed_at.add(clients)
                    shutil.rmtree(where / kind.name, ignore_errors=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    table: dict[int, dict[str, dict[str, float]]] = {}
    for clients in args.client_counts:
        print(f"results at {clients} clients (all rounds):")
        table[clients] = {name: report(name, merge(runs[(clients, name)])) for name in names}
    print("\nscaling (req/s; latencies in ms; new/x: higher is better):")
    print(header(names, bool(args.base)))
    for clients in args.client_counts:
        print(row(clients, names, table[clients], clients not in failed_at))
    print("\ntargets (printed, never asserted):")
    for line in verdicts(table, failed_at):
        print("  " + line)
    print("checks: " + ("every check held (zero errors, no lost or duplicated version, whole reads)" if not failed_at else "FAILED (see above)"))
    return 1 if failed_at else 0


if __name__ == "__main__":
    sys.exit(main())
