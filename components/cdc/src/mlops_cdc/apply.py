"""Apply batches of change events to keyed tables in mlops-storage.

One batch becomes at most one new dataset version:

1. Every event is parsed; malformed ones become dead letters.
2. The valid events are sorted by offset (arrival order breaks ties).
3. Events at or below the table's high-water offset, which the latest version
   records in its metadata, were applied by an earlier batch and are skipped;
   so is a second event with an offset already seen in this batch.
4. Column types are settled: existing columns keep their type (storage refuses
   retyping); a new column gets the type Arrow infers from the batch's values.
   Nested values (objects, arrays) in a new column are stored as JSON text.
   An event with a value that does not fit its column is dead-lettered.
5. The remaining events are applied in offset order and the table, with the new
   high-water offset, is written as one version. With nothing applied, nothing
   is written.

Offsets below the high-water mark are taken as already applied, so a stream
must deliver each table's events in offset order across batches (within a
batch any order is fine).

The read-modify-write of a table is serialised per table within one
:class:`ChangeApplier`; run a single applier per storage root.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from mlops_cdc.events import (
    ChangeEvent,
    DeadLetter,
    Key,
    parse_line,
    parse_object,
)
from mlops_storage import DatasetNotFound, Store

HIGH_WATER_KEY = "cdc.high_water_offset"
KEY_COLUMNS_KEY = "cdc.key"
OFFSET_FIELD_KEY = "cdc.offset_field"

DEFAULT_OFFSET_FIELD = "source.lsn"

_TABLE_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,200}")
_ARROW_ERRORS = (
    pa.ArrowInvalid,
    pa.ArrowTypeError,
    TypeError,
    ValueError,
    OverflowError,
)


class CdcError(Exception):
    """The batch cannot be applied to the table at all (nothing was written)."""


class KeyMismatchError(CdcError):
    """The table exists with other key columns than the ones requested."""


def validate_table_name(name: str) -> str:
    """Return ``name`` if it is usable as a dataset name, else raise CdcError."""
    if not _TABLE_NAME_RE.fullmatch(name) or set(name) == {"."}:
        raise CdcError(
            f"invalid table name {name!r}: use 1-200 characters from "
            "A-Z a-z 0-9 _ . - (and not only dots)"
        )
    return name


def parse_key_columns(spec: str | Sequence[str]) -> tuple[str, ...]:
    """``"tenant,id"`` or ``["tenant", "id"]`` -> ``("tenant", "id")``."""
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    columns = tuple(part.strip() for part in parts)
    if not columns or any(not column for column in columns):
        raise CdcError(f"invalid key column list {spec!r}")
    if len(set(columns)) != len(columns):
        raise CdcError(f"duplicate key column in {spec!r}")
    return columns


@dataclass
class ApplyResult:
    """What one batch did to one table."""

    table: str
    applied: int = 0
    skipped: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    #: The version written, or None when the batch had nothing new.
    version: int | None = None
    #: The table's high-water offset after the batch (None: nothing applied yet).
    high_water_offset: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "applied": self.applied,
            "skipped": self.skipped,
            "dead_letters": [letter.to_dict() for letter in self.dead_letters],
            "version": self.version,
            "high_water_offset": self.high_water_offset,
        }


@dataclass
class _TableState:
    rows: dict[Key, dict[str, Any]]
    fields: dict[str, pa.Field]
    high_water: int | None
    version: int | None


def _coerce(value: Any, dtype: pa.DataType) -> Any:
    """Nested JSON values go into string columns as JSON text."""
    if isinstance(value, (dict, list)) and pa.types.is_string(dtype):
        return json.dumps(value, sort_keys=True)
    return value


def _infer_type(values: Sequence[Any]) -> pa.DataType | None:
    """Arrow type for a new column from its non-null values (None: no fit)."""
    if any(isinstance(value, (dict, list)) for value in values):
        return pa.string()
    try:
        return pa.array(values).type
    except _ARROW_ERRORS:
        pass
    # Mixed types: the first value that Arrow can represent decides.
    for value in values:
        try:
            return pa.array([value]).type
        except _ARROW_ERRORS:
            continue
    return None


def _fits(value: Any, dtype: pa.DataType) -> bool:
    try:
        pa.array([_coerce(value, dtype)], type=dtype)
    except _ARROW_ERRORS:
        return False
    return True


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


class ChangeApplier:
    """Applies change-event batches to tables of one :class:`Store`."""

    def __init__(
        self,
        store: Store,
        key: str | Sequence[str] = ("id",),
        offset_field: str = DEFAULT_OFFSET_FIELD,
    ) -> None:
        self.store = store
        self.key_columns = parse_key_columns(key)
        path = tuple(offset_field.split("."))
        if not all(path):
            raise CdcError(f"invalid offset field {offset_field!r}")
        self.offset_field = offset_field
        self._offset_path = path
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # ------------------------------------------------------------ public API

    def apply_lines(
        self,
        table: str,
        lines: Iterable[str | bytes],
        *,
        key: str | Sequence[str] | None = None,
    ) -> ApplyResult:
        """Apply JSON lines (one event per line; blank lines are ignored)."""
        key_columns = self._key_for(key)
        parsed: list[ChangeEvent | DeadLetter] = []
        for number, text in enumerate(lines, start=1):
            item = parse_line(
                text,
                key_columns=key_columns,
                offset_path=self._offset_path,
                line=number,
            )
            if item is not None:
                parsed.append(item)
        return self._apply(table, key_columns, parsed)

    def apply_events(
        self,
        table: str,
        events: Iterable[Any],
        *,
        key: str | Sequence[str] | None = None,
    ) -> ApplyResult:
        """Apply already decoded events (dead letters carry no line number)."""
        key_columns = self._key_for(key)
        parsed = [
            parse_object(event, key_columns=key_columns, offset_path=self._offset_path)
            for event in events
        ]
        return self._apply(table, key_columns, parsed)

    # ------------------------------------------------------------- internals

    def _key_for(self, key: str | Sequence[str] | None) -> tuple[str, ...]:
        return self.key_columns if key is None else parse_key_columns(key)

    def _lock(self, table: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(table, threading.Lock())

    def _load(self, table: str, key_columns: tuple[str, ...]) -> _TableState:
        try:
            versions = self.store.versions(table)
        except DatasetNotFound:
            return _TableState(rows={}, fields={}, high_water=None, version=None)
        latest = versions[-1]
        meta = self.store.metadata(table, latest)
        recorded = meta.get(KEY_COLUMNS_KEY)
        if recorded is not None and parse_key_columns(recorded) != key_columns:
            raise KeyMismatchError(
                f"table {table!r} is keyed by ({recorded}), not "
                f"({','.join(key_columns)})"
            )
        high_water: int | None = None
        if HIGH_WATER_KEY in meta:
            try:
                high_water = int(meta[HIGH_WATER_KEY])
            except ValueError:
                raise CdcError(
                    f"table {table!r} version {latest} has a malformed "
                    f"{HIGH_WATER_KEY} {meta[HIGH_WATER_KEY]!r}"
                ) from None
        data = self.store.read(table, latest)
        missing = [column for column in key_columns if column not in data.schema.names]
        if missing:
            raise CdcError(f"table {table!r} has no key column {missing[0]!r}")
        rows: dict[Key, dict[str, Any]] = {}
        for row in data.to_pylist():
            rows[tuple(row[column] for column in key_columns)] = row
        fields = {schema_field.name: schema_field for schema_field in data.schema}
        return _TableState(
            rows=rows, fields=fields, high_water=high_water, version=latest
        )

    def _apply(
        self,
        table: str,
        key_columns: tuple[str, ...],
        parsed: list[ChangeEvent | DeadLetter],
    ) -> ApplyResult:
        validate_table_name(table)
        dead = [item for item in parsed if isinstance(item, DeadLetter)]
        events = sorted(
            (item for item in parsed if isinstance(item, ChangeEvent)),
            key=lambda event: event.offset,
        )
        with self._lock(table):
            state = self._load(table, key_columns)
            result = ApplyResult(table=table, high_water_offset=state.high_water)

            todo: list[ChangeEvent] = []
            seen: set[int] = set()
            for event in events:
                already = (
                    state.high_water is not None and event.offset <= state.high_water
                )
                if already or event.offset in seen:
                    result.skipped += 1
                    continue
                seen.add(event.offset)
                todo.append(event)

            types = self._settle_types(state, key_columns, todo)
            suspect = self._suspect_columns(key_columns, types, todo)
            accepted: list[ChangeEvent] = []
            for event in todo:
                reason = self._misfit(event, key_columns, types, suspect)
                if reason is None:
                    accepted.append(event)
                else:
                    dead.append(event.dead(reason))
            result.dead_letters = sorted(
                dead, key=lambda letter: (letter.line is None, letter.line or 0)
            )
            if not accepted:
                return result

            for event in accepted:
                self._apply_one(state.rows, event, key_columns)
            result.applied = len(accepted)
            high_water = max(event.offset for event in accepted)
            if state.high_water is not None:
                high_water = max(high_water, state.high_water)
            result.high_water_offset = high_water

            data = self._build(state, key_columns, types)
            if data is None:
                # A new table whose key types are still unknown (e.g. only a
                # truncate was seen) has nothing to store yet.
                return result
            result.version = self.store.write(
                table,
                data,
                metadata={
                    HIGH_WATER_KEY: str(high_water),
                    KEY_COLUMNS_KEY: ",".join(key_columns),
                    OFFSET_FIELD_KEY: self.offset_field,
                    "cdc.applied": str(result.applied),
                    "cdc.skipped": str(result.skipped),
                    "cdc.dead_letters": str(len(result.dead_letters)),
                    "cdc.base_version": str(state.version or 0),
                },
            )
            return result

    @staticmethod
    def _values(
        event: ChangeEvent, key_columns: tuple[str, ...]
    ) -> Iterable[tuple[str, Any]]:
        """Every (column, value) the event would store or look up."""
        yield from event.row.items()
        if event.op == "d":
            yield from zip(key_columns, event.key)
        if event.old_key is not None:
            yield from zip(key_columns, event.old_key)

    def _settle_types(
        self,
        state: _TableState,
        key_columns: tuple[str, ...],
        todo: list[ChangeEvent],
    ) -> dict[str, pa.DataType]:
        types = {name: schema_field.type for name, schema_field in state.fields.items()}
        candidates: dict[str, list[Any]] = {}
        if not state.fields:
            for column in key_columns:  # key columns lead a new table
                candidates[column] = []
        for event in todo:
            for column, value in self._values(event, key_columns):
                if column not in types and value is not None:
                    candidates.setdefault(column, []).append(value)
        for column, values in candidates.items():
            inferred = _infer_type(values) if values else None
            if inferred is not None:
                types[column] = inferred
        return types

    def _suspect_columns(
        self,
        key_columns: tuple[str, ...],
        types: Mapping[str, pa.DataType],
        todo: list[ChangeEvent],
    ) -> set[str]:
        """Columns where some value does not convert (checked a column at a time)."""
        values: dict[str, list[Any]] = {}
        for event in todo:
            for column, value in self._values(event, key_columns):
                if value is not None and column in types:
                    values.setdefault(column, []).append(_coerce(value, types[column]))
        suspect = set()
        for column, column_values in values.items():
            try:
                pa.array(column_values, type=types[column])
            except _ARROW_ERRORS:
                suspect.add(column)
        return suspect

    def _misfit(
        self,
        event: ChangeEvent,
        key_columns: tuple[str, ...],
        types: Mapping[str, pa.DataType],
        suspect: set[str],
    ) -> str | None:
        for column, value in self._values(event, key_columns):
            if value is None:
                continue
            dtype = types.get(column)
            if dtype is None:
                return f"column {column!r}: cannot store {_short(value)}"
            if column in suspect and not _fits(value, dtype):
                return f"column {column!r}: cannot store {_short(value)} as {dtype}"
        return None

    @staticmethod
    def _apply_one(
        rows: dict[Key, dict[str, Any]],
        event: ChangeEvent,
        key_columns: tuple[str, ...],
    ) -> None:
        if event.op == "t":
            rows.clear()
        elif event.op == "d":
            rows.pop(event.key, None)
        else:
            if event.old_key is not None:
                rows.pop(event.old_key, None)
            rows[event.key] = dict(event.row)

    @staticmethod
    def _build(
        state: _TableState,
        key_columns: tuple[str, ...],
        types: Mapping[str, pa.DataType],
    ) -> pa.Table | None:
        if any(column not in types for column in key_columns):
            return None
        order = list(state.fields)
        if not order:
            order = list(key_columns)
        order += [column for column in types if column not in order]
        fields = [
            state.fields.get(name) or pa.field(name, types[name]) for name in order
        ]
        rows = list(state.rows.values())
        arrays = [
            pa.array(
                [
                    _coerce(row.get(schema_field.name), schema_field.type)
                    for row in rows
                ],
                type=schema_field.type,
            )
            for schema_field in fields
        ]
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
