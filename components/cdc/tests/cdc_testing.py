"""Helpers shared by the cdc tests: building Debezium events."""

from __future__ import annotations

import json
from typing import Any


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
