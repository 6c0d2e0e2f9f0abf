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

Dead letters can be corrected and replayed (:meth:`ChangeApplier.replay`)
although the high-water mark has passed them: the dead-letter record is the
permission. The offsets replayed below the high-water mark are recorded in the
table's metadata (``cdc.replayed_offsets``), so a second replay changes
nothing. A corrected event is not applied when a later change has already
touched its row (it would overwrite newer data): it is reported as superseded.
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
REPLAYED_KEY = "cdc.replayed_offsets"
REPLAY_MARK_KEY = "cdc.replay"
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
    #: The table's latest version after the batch (not serialised: dead-letter
    #: records keep it, so a replay knows which later versions to check).
    table_version: int | None = field(default=None, compare=False)

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
class ReplayResult(ApplyResult):
    """What replaying corrected dead letters did to one table."""

    #: Corrected events not applied because a later change touched their row.
    superseded: list[DeadLetter] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        result = super().to_dict()
        result["superseded"] = [letter.to_dict() for letter in self.superseded]
        return result


@dataclass
class _TableState:
    rows: dict[Key, dict[str, Any]]
    fields: dict[str, pa.Field]
    high_water: int | None
    version: int | None
    replayed: set[int] = field(default_factory=set)


def format_offsets(offsets: Iterable[int]) -> str:
    """``{1, 2, 3, 7}`` -> ``"1-3,7"``."""
    ordered = sorted(set(offsets))
    parts: list[str] = []
    index = 0
    while index < len(ordered):
        end = index
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        first, last = ordered[index], ordered[end]
        parts.append(str(first) if first == last else f"{first}-{last}")
        index = end + 1
    return ",".join(parts)


def parse_offsets(text: str) -> set[int]:
    """``"1-3,7"`` -> ``{1, 2, 3, 7}``; ValueError when malformed."""
    offsets: set[int] = set()
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        first, dash, last = part.partition("-")
        low = int(first)
        high = int(last) if dash else low
        if low < 0 or high < low:
            raise ValueError(f"bad offset range {part!r}")
        offsets.update(range(low, high + 1))
    return offsets


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

    def replay(
        self,
        table: str,
        items: Iterable[tuple[int | None, int | None, ChangeEvent | DeadLetter]],
        *,
        key: str | Sequence[str] | None = None,
        force: bool = False,
    ) -> ReplayResult:
        """Apply corrected dead letters, even below the high-water mark.

        ``items`` holds, for each dead letter, its recorded offset (None if the
        original event had none), the table's version right after the batch that
        rejected it (None if unknown) and the corrected event, parsed (a
        DeadLetter when the correction is still invalid). A correction must
        keep the recorded offset. Offsets replayed before are skipped, so
        replaying twice changes nothing the second time. A corrected event
        whose row a later change has touched is reported as superseded and not
        applied, unless ``force``. Everything applied becomes one version.
        """
        validate_table_name(table)
        key_columns = self._key_for(key)
        dead: list[DeadLetter] = []
        events: list[ChangeEvent] = []
        since: dict[int, int | None] = {}
        for recorded, table_version, item in items:
            if isinstance(item, DeadLetter):
                dead.append(item)
            elif recorded is not None and item.offset != recorded:
                dead.append(
                    item.dead(
                        f"the corrected event has offset {item.offset} but the dead "
                        f"letter was at {recorded}: a correction must keep its offset"
                    )
                )
            else:
                events.append(item)
                since[item.offset] = table_version
        events.sort(key=lambda event: event.offset)
        with self._lock(table):
            state = self._load(table, key_columns)
            result = ReplayResult(table=table, high_water_offset=state.high_water)
            history = _History(self.store, table, key_columns)
            todo: list[ChangeEvent] = []
            for event in events:
                if event.offset in state.replayed or any(
                    done.offset == event.offset for done in todo
                ):
                    result.skipped += 1
                    continue
                passed = (
                    state.high_water is not None and event.offset <= state.high_water
                )
                if passed and not force:
                    reason = history.superseded(event, since.get(event.offset))
                    if reason is not None:
                        result.superseded.append(event.dead(reason))
                        continue
                todo.append(event)
            self._commit(
                table,
                key_columns,
                state,
                result,
                todo,
                dead,
                replayed=[event.offset for event in todo],
            )
            return result

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
        replayed: set[int] = set()
        if meta.get(REPLAYED_KEY):
            try:
                replayed = parse_offsets(meta[REPLAYED_KEY])
            except ValueError:
                raise CdcError(
                    f"table {table!r} version {latest} has a malformed "
                    f"{REPLAYED_KEY} {meta[REPLAYED_KEY]!r}"
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
            rows=rows,
            fields=fields,
            high_water=high_water,
            version=latest,
            replayed=replayed,
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
            self._commit(table, key_columns, state, result, todo, dead)
            result.table_version = result.version or state.version
            return result

    def _commit(
        self,
        table: str,
        key_columns: tuple[str, ...],
        state: _TableState,
        result: ApplyResult,
        todo: list[ChangeEvent],
        dead: list[DeadLetter],
        *,
        replayed: Iterable[int] = (),
    ) -> None:
        """Check types, apply ``todo`` in offset order and write one version.

        ``replayed``: offsets below the high-water mark applied by a replay.
        Nothing is written when nothing is applied. Runs under the table lock.
        """
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
            return

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
            return
        applied = {event.offset for event in accepted}
        replayed_now = {offset for offset in replayed if offset in applied}
        metadata = {
            HIGH_WATER_KEY: str(high_water),
            KEY_COLUMNS_KEY: ",".join(key_columns),
            OFFSET_FIELD_KEY: self.offset_field,
            "cdc.applied": str(result.applied),
            "cdc.skipped": str(result.skipped),
            "cdc.dead_letters": str(len(result.dead_letters)),
            "cdc.base_version": str(state.version or 0),
        }
        every_replayed = state.replayed | replayed_now
        if every_replayed:
            metadata[REPLAYED_KEY] = format_offsets(every_replayed)
        if isinstance(result, ReplayResult):
            metadata[REPLAY_MARK_KEY] = "true"
        result.version = self.store.write(table, data, metadata=metadata)

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


def _comparable(row: Mapping[str, Any] | None) -> str | None:
    """A row as text, ignoring null columns (a column added later is null)."""
    if row is None:
        return None
    return json.dumps(
        {name: value for name, value in row.items() if value is not None},
        sort_keys=True,
        default=str,
    )


class _History:
    """The versions of a table, to tell whether a row changed after an offset."""

    def __init__(self, store: Store, table: str, key_columns: tuple[str, ...]) -> None:
        self.store = store
        self.table = table
        self.key_columns = key_columns
        self._meta: dict[int, dict[str, str]] | None = None
        self._rows: dict[int, dict[Key, str | None]] = {}

    def _metadata(self) -> dict[int, dict[str, str]]:
        if self._meta is None:
            try:
                versions = self.store.versions(self.table)
            except DatasetNotFound:
                versions = []
            self._meta = {v: self.store.metadata(self.table, v) for v in versions}
        return self._meta

    def _row(self, version: int, key: Key) -> str | None:
        if version == 0:
            return None
        if version not in self._rows:
            rows: dict[Key, str | None] = {}
            for row in self.store.read(self.table, version).to_pylist():
                rows[tuple(row.get(c) for c in self.key_columns)] = _comparable(row)
            self._rows[version] = rows
        return self._rows[version].get(key)

    def superseded(self, event: ChangeEvent, since: int | None) -> str | None:
        """Why ``event`` must not be replayed, or None.

        ``since`` is the table's version right after the batch that rejected
        the event: the versions after it hold only later changes. If one of
        them (other than a replay) changed the event's row, applying the event
        would overwrite newer data. (A later change in the very batch that
        rejected the event cannot be told apart and is not detected.) Without
        ``since``, the check starts at the last version whose high-water mark
        is below the offset: stricter, it may also flag earlier changes of the
        event's own batch.
        """
        meta = self._metadata()
        versions = sorted(meta)
        if since is None:
            since = 0
            for version in versions:
                try:
                    reached = int(meta[version].get(HIGH_WATER_KEY, "-1"))
                except ValueError:
                    reached = -1
                if reached < event.offset:
                    since = version
        chain = [version for version in versions if version >= since]
        if since == 0:
            chain.insert(0, 0)  # the table before its first version: empty
        keys = [event.key] + ([event.old_key] if event.old_key is not None else [])
        for before, after in zip(chain, chain[1:]):
            if meta[after].get(REPLAY_MARK_KEY) == "true":
                continue
            if event.op == "t":
                changed = True
            else:
                changed = any(
                    self._row(before, key) != self._row(after, key) for key in keys
                )
            if changed:
                what = "the table" if event.op == "t" else f"the row {list(event.key)}"
                return (
                    f"superseded: {what} changed in version {after}, after offset "
                    f"{event.offset}; not applied, as it would overwrite newer data "
                    "(replay with --force to apply it anyway)"
                )
        return None
