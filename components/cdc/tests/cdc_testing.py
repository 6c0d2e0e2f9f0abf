"""Helpers shared by the cdc tests: building Debezium events, serving cdc."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

from mlops_cdc import CdcServer, ChangeApplier, make_server


def event(
    op: str,
    lsn: int | None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Debezium envelope as the Postgres connector emits it."""
    source: dict[str, Any] = {"connector": "postgresql", "db": "app", "table": "users"}
    if lsn is not None:
        source["lsn"] = lsn
    return {"op": op, "before": before, "after": after, "source": source, "ts_ms": 1}


def create(lsn: int, **row: Any) -> dict[str, Any]:
    return event("c", lsn, after=row)


def read(lsn: int, **row: Any) -> dict[str, Any]:
    return event("r", lsn, after=row)


def update(
    lsn: int, before: dict[str, Any] | None = None, **row: Any
) -> dict[str, Any]:
    return event("u", lsn, before=before, after=row)


def delete(lsn: int, **row: Any) -> dict[str, Any]:
    return event("d", lsn, before=row)


def jsonl(*events: dict[str, Any] | str) -> str:
    """JSON lines; a str item is taken as an already written (maybe bad) line."""
    return "".join(
        (item if isinstance(item, str) else json.dumps(item)) + "\n" for item in events
    )


def lines(*events: dict[str, Any] | str) -> list[str]:
    return jsonl(*events).splitlines(keepends=True)


def sequenced(
    op: str,
    commit: int | None,
    lsn: int,
    *,
    server: str = "app",
    before: dict[str, Any] | None = None,
    **row: Any,
) -> dict[str, Any]:
    """An event as Debezium's Postgres connector sends it: ``source.sequence``
    is ``[last commit LSN, LSN]`` as JSON text, commit-ordered; ``lsn`` is not."""
    sequence = json.dumps([None if commit is None else str(commit), str(lsn)])
    found = event(op, lsn, before=before, after=row if op in ("c", "r", "u") else None)
    found["source"].update(name=server, sequence=sequence)
    return found


def on_kafka(found: dict[str, Any], partition: int, offset: int) -> dict[str, Any]:
    """The event with the Kafka coordinates a sink adds beside the envelope."""
    return {
        **found,
        "kafka": {"topic": "app.users", "partition": partition, "offset": offset},
    }


@contextlib.contextmanager
def serving(applier: ChangeApplier, **settings: Any) -> Iterator[CdcServer]:
    """A cdc server on a free loopback port, stopped afterwards."""
    server = make_server(applier, host="127.0.0.1", port=0, **settings)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


def post(
    server: CdcServer,
    body: bytes,
    path: str = "/events?table=users",
    token: str | None = None,
) -> tuple[int, Any]:
    """POST a batch; the status and the decoded answer."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), int(port), timeout=30)
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        conn.close()
