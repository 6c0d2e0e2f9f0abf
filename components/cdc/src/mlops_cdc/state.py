"""A table as cdc sees it: its rows, columns, and per-partition marks.

What cdc keeps in a version's metadata (every cdc version carries it on):

``cdc.key``
    the key columns, ``tenant,id``;
``cdc.positions``
    JSON, per source partition: ``{"mark": [...], "recent": "..."}``, the
    high-water position and the identities (:func:`positions.identity`, 8
    characters each, back to back) of the latest ``DUPLICATE_WINDOW`` events
    applied;
``cdc.replayed``
    the identities of the events applied by a replay below their mark.

A version written by another writer (a storage PUT) has none of it: the marks
are then those of the latest version that has them, so such a write never
makes cdc apply old events again. Tables written before marks were kept per
partition have one ``cdc.high_water_offset``: it becomes the starting mark of
every plain-offset partition (:data:`positions.LEGACY_PARTITION`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from mlops_cdc.errors import CdcError, KeyMismatchError
from mlops_cdc.events import Key
from mlops_cdc.limits import DUPLICATE_WINDOW, MAX_POSITION
from mlops_cdc.positions import IDENTITY_LENGTH, LEGACY_PARTITION, Position
from mlops_storage import DatasetNotFound, Store

KEY_COLUMNS_KEY = "cdc.key"
POSITIONS_KEY = "cdc.positions"
REPLAYED_KEY = "cdc.replayed"
REPLAY_MARK_KEY = "cdc.replay"
OFFSET_FIELD_KEY = "cdc.offset_field"
#: The single mark of tables written before marks were per partition.
HIGH_WATER_KEY = "cdc.high_water_offset"


class StateError(CdcError):
    """The table's cdc metadata is malformed."""


@dataclass
class Mark:
    """One partition's high-water position and its latest applied identities."""

    values: tuple[int, ...]
    recent: list[str] = field(default_factory=list)

    def advance(self, values: tuple[int, ...], identities: Iterable[str]) -> None:
        self.values = max(self.values, values)
        self.recent.extend(identities)
        del self.recent[:-DUPLICATE_WINDOW]


def _values(raw: Any) -> tuple[int, ...]:
    if (
        not isinstance(raw, list)
        or not raw
        or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_POSITION
            for v in raw
        )
    ):
        raise ValueError(f"malformed mark {raw!r}")
    return tuple(raw)


class Marks:
    """The marks of a table's partitions."""

    def __init__(self, marks: dict[str, Mark] | None = None) -> None:
        self.marks = marks or {}

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> Marks:
        marks: dict[str, Mark] = {}
        if POSITIONS_KEY in meta:
            try:
                data = json.loads(meta[POSITIONS_KEY])
                if not isinstance(data, dict):
                    raise ValueError("not an object")
                for partition, entry in data.items():
                    recent = entry.get("recent", "")
                    if not isinstance(recent, str):
                        raise ValueError("recent must be text")
                    if len(recent) % IDENTITY_LENGTH:
                        raise ValueError("recent is not a list of identities")
                    marks[partition] = Mark(
                        _values(entry.get("mark")),
                        [
                            recent[i : i + IDENTITY_LENGTH]
                            for i in range(0, len(recent), IDENTITY_LENGTH)
                        ],
                    )
            except (ValueError, AttributeError) as exc:
                raise StateError(f"malformed {POSITIONS_KEY}: {exc}") from None
        elif HIGH_WATER_KEY in meta:
            try:
                legacy = int(meta[HIGH_WATER_KEY])
            except ValueError:
                raise StateError(
                    f"malformed {HIGH_WATER_KEY} {meta[HIGH_WATER_KEY]!r}"
                ) from None
            marks[LEGACY_PARTITION] = Mark((legacy,))
        return cls(marks)

    def get(self, partition: str) -> Mark | None:
        mark = self.marks.get(partition)
        if mark is None and partition.startswith("offset:"):
            legacy = self.marks.get(LEGACY_PARTITION)
            if legacy is not None:
                return Mark(legacy.values)
        return mark

    def position(self, partition: str) -> Position | None:
        mark = self.get(partition)
        return None if mark is None else Position(partition, mark.values)

    def to_metadata(self) -> str:
        return json.dumps(
            {
                partition: {"mark": list(mark.values), "recent": "".join(mark.recent)}
                for partition, mark in sorted(self.marks.items())
            },
            separators=(",", ":"),
        )

    def highest_offset(self) -> int | None:
        """The largest last component of any mark (the old single mark's reading)."""
        offsets = [mark.values[-1] for mark in self.marks.values()]
        return max(offsets) if offsets else None

    def as_dict(self) -> dict[str, list[int]]:
        return {p: list(m.values) for p, m in sorted(self.marks.items())}


@dataclass
class TableState:
    rows: dict[Key, dict[str, Any]]
    fields: dict[str, pa.Field]
    #: The latest version (0: the table has none yet): what a write expects.
    version: int
    marks: Marks
    replayed: set[str] = field(default_factory=set)


def cdc_metadata(store: Store, table: str, versions: list[int]) -> dict[str, str]:
    """The metadata of the latest version cdc wrote (another writer's carries none)."""
    for version in reversed(versions):
        meta = store.metadata(table, version)
        if KEY_COLUMNS_KEY in meta or POSITIONS_KEY in meta or HIGH_WATER_KEY in meta:
            return meta
    return {}


def load(store: Store, table: str, key_columns: tuple[str, ...]) -> TableState:
    """The latest version of ``table`` with cdc's marks.

    KeyMismatchError when the table is keyed otherwise, StateError when its
    metadata or columns do not suit cdc.
    """
    try:
        versions = store.versions(table)
    except DatasetNotFound:
        return TableState(rows={}, fields={}, version=0, marks=Marks())
    latest = versions[-1]
    meta = cdc_metadata(store, table, versions)
    recorded = meta.get(KEY_COLUMNS_KEY)
    if recorded is not None:
        columns = tuple(part.strip() for part in recorded.split(","))
        if columns != key_columns:
            raise KeyMismatchError(
                f"table {table!r} is keyed by ({recorded}), not "
                f"({','.join(key_columns)})"
            )
    marks = Marks.from_metadata(meta)
    replayed = {item for item in meta.get(REPLAYED_KEY, "").split(",") if item}
    data = store.read(table, latest)
    missing = [column for column in key_columns if column not in data.schema.names]
    if missing:
        raise StateError(f"table {table!r} has no key column {missing[0]!r}")
    rows: dict[Key, dict[str, Any]] = {}
    for row in data.to_pylist():
        rows[tuple(row[column] for column in key_columns)] = row
    fields = {schema_field.name: schema_field for schema_field in data.schema}
    return TableState(
        rows=rows, fields=fields, version=latest, marks=marks, replayed=replayed
    )
