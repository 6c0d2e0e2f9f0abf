"""Dead letters kept in storage beside their table, as ``<table>.deadletters``.

An answer can be lost (a timeout, a crash of the client); the dead letters of
a batch must not be lost with it: the applier adds them to this dataset
before it answers. Each has an ``id`` (a digest of its position and text), so
a batch sent again adds nothing twice. ``mlops-cdc deadletters`` lists the
pending ones in the dead-letter file format, and ``mlops-cdc replay --stored``
replays them; a replayed one records the version that applied it
(``replayed_version``) and is no longer pending.

Writes are conditional on the version read (``expected_version``) and redone
on a conflict, so concurrent writers (two cdc processes, a replay beside the
service) lose none.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa
from mlops_cdc.events import DeadLetter
from mlops_storage import ConcurrentWriteError, DatasetNotFound, Store, VersionConflict

SUFFIX = ".deadletters"
#: Conditional writes tried before giving up (ConcurrentWriteError, 503).
ATTEMPTS = 32

SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("received_at", pa.string()),
        pa.field("request_id", pa.string()),
        pa.field("line", pa.int64()),
        pa.field("partition", pa.string()),
        pa.field("position", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("raw", pa.string()),
        pa.field("table_version", pa.int64()),
        pa.field("replayed_version", pa.int64()),
    ]
)


def dataset(table: str) -> str:
    return table + SUFFIX


def letter_id(letter: DeadLetter) -> str:
    position = letter.position
    text = json.dumps(
        [
            None if position is None else position.partition,
            None if position is None else list(position.values),
            letter.full_text,
        ]
    )
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).hexdigest()


def _text(value: str) -> str:
    """Text Arrow can store (a lone surrogate cannot be UTF-8)."""
    return value.encode("utf-8", "replace").decode("utf-8")


def backoff(attempt: int) -> None:
    """A short random pause before retrying a conflicting write."""
    time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))  # nosec B311


def _current(store: Store, name: str) -> tuple[int, pa.Table]:
    try:
        version = store.latest(name)
    except DatasetNotFound:
        return 0, SCHEMA.empty_table()
    return version, store.read(name, version)


def _write(store: Store, name: str, change: Any) -> None:
    """Write ``change(current) -> table | None`` conditionally, redone on conflict."""
    for attempt in range(ATTEMPTS):
        version, current = _current(store, name)
        table = change(current)
        if table is None:
            return
        try:
            store.write(
                name,
                table,
                metadata={"cdc.deadletters": "true"},
                expected_version=version,
            )
            return
        except VersionConflict:
            backoff(attempt)
    raise ConcurrentWriteError(
        f"could not update {name!r}: other writers changed it {ATTEMPTS} times in a "
        "row; retry later"
    )


def add(
    store: Store,
    table: str,
    letters: Sequence[DeadLetter],
    table_version: int | None,
    request_id: str | None = None,
) -> int:
    """Store the dead letters not stored yet; how many were new."""
    if not letters:
        return 0
    # One entry per id (a batch may repeat a line): the first one's.
    unique: dict[str, DeadLetter] = {}
    for letter in letters:
        unique.setdefault(letter_id(letter), letter)
    added = 0

    def change(current: pa.Table) -> pa.Table | None:
        nonlocal added
        known = set(current.column("id").to_pylist())
        new = {key: letter for key, letter in unique.items() if key not in known}
        added = len(new)
        if not new:
            return None
        return pa.concat_tables([current, _table(new, table_version, request_id)])

    _write(store, dataset(table), change)
    return added


def _table(
    letters: dict[str, DeadLetter], table_version: int | None, request_id: str | None
) -> pa.Table:
    """The new records, built a column at a time (a dict per row costs ~1 KiB)."""
    count = len(letters)
    values = list(letters.values())
    positions = [letter.position for letter in values]
    columns = {
        "id": list(letters),
        "received_at": [datetime.now(timezone.utc).isoformat()] * count,
        "request_id": [request_id] * count,
        "line": [letter.line for letter in values],
        "partition": [None if p is None else p.partition for p in positions],
        "position": [
            None if p is None else json.dumps(list(p.values)) for p in positions
        ],
        "reason": [_text(letter.reason) for letter in values],
        "raw": [_text(letter.full_text) for letter in values],
        "table_version": [table_version or None] * count,
        "replayed_version": [None] * count,
    }
    return pa.table(
        [pa.array(columns[field.name], field.type) for field in SCHEMA], schema=SCHEMA
    )


def mark_replayed(store: Store, table: str, ids: Iterable[str], version: int) -> int:
    """Record that the dead letters ``ids`` were replayed (into ``version``)."""
    wanted = set(ids)
    if not wanted:
        return 0
    marked = 0

    def change(current: pa.Table) -> pa.Table | None:
        nonlocal marked
        identities = current.column("id").to_pylist()
        replayed = current.column("replayed_version").to_pylist()
        marked = 0
        for index, key in enumerate(identities):
            if key in wanted and replayed[index] is None:
                replayed[index] = version
                marked += 1
        if not marked:
            return None
        column = SCHEMA.get_field_index("replayed_version")
        return current.set_column(
            column, SCHEMA.field(column), pa.array(replayed, pa.int64())
        )

    try:
        _write(store, dataset(table), change)
    except DatasetNotFound:
        return 0
    return marked


def records(
    store: Store, table: str, *, everything: bool = False
) -> list[dict[str, Any]]:
    """The stored dead letters of ``table`` as dead-letter file records
    (only the pending ones unless ``everything``)."""
    try:
        data = store.read(dataset(table))
    except DatasetNotFound:
        return []
    result = []
    for row in data.to_pylist():
        if row["replayed_version"] is not None and not everything:
            continue
        position = json.loads(row["position"]) if row["position"] else None
        result.append(
            {
                "table": table,
                "id": row["id"],
                "line": row["line"],
                "offset": position[-1] if position else None,
                "partition": row["partition"],
                "position": position,
                "reason": row["reason"],
                "raw": row["raw"],
                "table_version": row["table_version"],
                "received_at": row["received_at"],
                "request_id": row["request_id"],
                "replayed_version": row["replayed_version"],
            }
        )
    return result
