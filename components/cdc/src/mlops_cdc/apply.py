"""Apply batches of change events to keyed tables in mlops-storage.

One batch becomes at most one new dataset version:

1. Every line is parsed within bounds; a malformed one becomes a dead letter.
   A batch holding an implausible position is refused whole (``PositionRefused``,
   nothing written): :mod:`mlops_cdc.positions`.
2. The events are sorted by position within each source partition (arrival
   order breaks ties).
3. Each is held against its partition's high-water mark (:mod:`mlops_cdc.state`):
   an event applied before (the same identity: position, op and key, among the
   partition's latest applied events, the replayed ones, or earlier in the
   batch) is a duplicate and skipped; an event below the mark that is not one
   arrived out of order and is a dead letter (replay it); the rest is applied.
4. Columns are settled (:mod:`mlops_cdc.columns`); an event that does not fit
   is a dead letter.
5. The events are applied in order and the table written as one version,
   conditional on the version read (``expected_version``): if another writer
   (a second cdc process, a replay, a storage PUT) committed in between, the
   batch is worked out again on top of that version. So no writer's version is
   lost and several cdc processes may share a storage root.
6. The dead letters are stored in ``<table>.deadletters``
   (:mod:`mlops_cdc.deadstore`) before the answer, so a lost answer loses none.

Dead letters can be corrected and replayed (:meth:`ChangeApplier.replay`)
although the mark has passed them: the dead-letter record is the permission.
The identities replayed below the mark are recorded (``cdc.replayed``), so a
second replay changes nothing. A corrected event is not applied when a later
change has already touched its row (it would overwrite newer data): it is
reported as superseded.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from mlops_cdc import deadstore
from mlops_cdc.columns import Columns, TableConfig, coerce
from mlops_cdc.errors import BatchTooLarge, CdcError, KeyMismatchError, PositionRefused
from mlops_cdc.events import ChangeEvent, DeadLetter, Key, parse_line, parse_object
from mlops_cdc.history import History
from mlops_cdc.limits import Limits
from mlops_cdc.positions import Position, identity, too_far
from mlops_cdc.state import (
    HIGH_WATER_KEY,
    KEY_COLUMNS_KEY,
    OFFSET_FIELD_KEY,
    POSITIONS_KEY,
    REPLAY_MARK_KEY,
    REPLAYED_KEY,
    Mark,
    TableState,
    load,
)
from mlops_storage import ConcurrentWriteError, Store, VersionConflict

__all__ = [
    "HIGH_WATER_KEY",
    "ApplyResult",
    "BatchTooLarge",
    "CdcError",
    "ChangeApplier",
    "Correction",
    "KeyMismatchError",
    "PositionRefused",
    "ReplayResult",
    "parse_key_columns",
    "validate_table_name",
]

#: Longest table name: its dead-letter dataset's name must fit storage's 200.
MAX_TABLE_NAME = 200 - len(deadstore.SUFFIX)
_TABLE_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")


def validate_table_name(name: str) -> str:
    """Return ``name`` if it is usable as a table, else raise CdcError."""
    if (
        not _TABLE_NAME_RE.fullmatch(name)
        or set(name) == {"."}
        or len(name) > MAX_TABLE_NAME
    ):
        raise CdcError(
            f"invalid table name {name!r}: use 1-{MAX_TABLE_NAME} characters from "
            "A-Z a-z 0-9 _ . - (and not only dots)"
        )
    if name.endswith(deadstore.SUFFIX):
        raise CdcError(
            f"invalid table name {name!r}: names ending in {deadstore.SUFFIX} hold "
            "the dead letters of a table"
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
    #: The marks after the batch, per partition.
    high_water: dict[str, list[int]] = field(default_factory=dict)
    #: The largest offset of any mark (None: nothing applied yet); kept for
    #: clients of the single mark of older versions.
    high_water_offset: int | None = None
    #: The table's latest version after the batch (dead-letter records keep it,
    #: so a replay knows which later versions to check).
    table_version: int | None = field(default=None, compare=False)
    #: How many dead letters were new to ``<table>.deadletters``.
    stored: int = field(default=0, compare=False)

    def to_dict(self, max_dead_letters: int | None = None) -> dict[str, Any]:
        shown = self.dead_letters[:max_dead_letters]
        return {
            "table": self.table,
            "applied": self.applied,
            "skipped": self.skipped,
            "dead_letters": [letter.to_dict() for letter in shown],
            "dead_letters_total": len(self.dead_letters),
            "version": self.version,
            "high_water_offset": self.high_water_offset,
            "high_water": self.high_water,
        }


@dataclass
class ReplayResult(ApplyResult):
    """What replaying corrected dead letters did to one table."""

    #: Corrected events not applied because a later change touched their row.
    superseded: list[DeadLetter] = field(default_factory=list)
    #: Ids of stored dead letters now applied (or replayed before).
    replayed_ids: list[str] = field(default_factory=list, compare=False)

    def to_dict(self, max_dead_letters: int | None = None) -> dict[str, Any]:
        result = super().to_dict(max_dead_letters)
        result["superseded"] = [letter.to_dict() for letter in self.superseded]
        return result


@dataclass(frozen=True)
class Correction:
    """A dead letter to replay: the corrected event and what its record says."""

    item: ChangeEvent | DeadLetter
    #: The position recorded with the dead letter (a correction must keep it).
    position: Position | None = None
    #: The offset recorded by older dead-letter files, which have no position.
    offset: int | None = None
    #: The table's version right after the batch that rejected the event.
    table_version: int | None = None
    #: The id of the stored dead letter (``mlops-cdc replay --stored``).
    id: str | None = None


@dataclass
class _Outcome:
    """One attempt's answer and what it writes (None: nothing)."""

    result: ApplyResult
    data: pa.Table | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    #: The identities of the events applied.
    accepted: list[str] = field(default_factory=list)


def _by_position(event: ChangeEvent) -> tuple[str, tuple[int, ...]]:
    return (event.position.partition, event.position.values)


def _apply_one(rows: dict[Key, dict[str, Any]], event: ChangeEvent) -> None:
    if event.op == "t":
        rows.clear()
    elif event.op == "d":
        rows.pop(event.key, None)
    else:
        if event.old_key is not None:
            rows.pop(event.old_key, None)
        rows[event.key] = dict(event.row)


def _build(
    state: TableState, key_columns: tuple[str, ...], types: Mapping[str, pa.DataType]
) -> pa.Table | None:
    if any(column not in types for column in key_columns):
        return None
    order = list(state.fields) or list(key_columns)
    order += [column for column in types if column not in order]
    fields = [state.fields.get(name) or pa.field(name, types[name]) for name in order]
    rows = list(state.rows.values())
    arrays = [
        pa.array(
            [coerce(row.get(schema_field.name), schema_field.type) for row in rows],
            type=schema_field.type,
        )
        for schema_field in fields
    ]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


class ChangeApplier:
    """Applies change-event batches to tables of one :class:`Store`.

    ``offset_field`` None: each event's position is chosen as
    :mod:`mlops_cdc.positions` says; a dotted path: that field, always.
    ``tables``: per-table configs (``"*"``: the default one).
    """

    #: Conditional writes tried before giving up (ConcurrentWriteError).
    attempts = 32

    def __init__(
        self,
        store: Store,
        key: str | Sequence[str] = ("id",),
        offset_field: str | None = None,
        *,
        limits: Limits | None = None,
        tables: Mapping[str, TableConfig] | None = None,
    ) -> None:
        self.store = store
        self.key_columns = parse_key_columns(key)
        self.offset_field = offset_field
        self.offset_path: tuple[str, ...] | None = None
        if offset_field is not None:
            self.offset_path = tuple(offset_field.split("."))
            if not all(self.offset_path):
                raise CdcError(f"invalid offset field {offset_field!r}")
        self.limits = limits or Limits()
        self.tables = dict(tables or {})
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # ------------------------------------------------------------ public API

    def apply_lines(
        self,
        table: str,
        lines: Iterable[str | bytes],
        *,
        key: str | Sequence[str] | None = None,
        request_id: str | None = None,
    ) -> ApplyResult:
        """Apply JSON lines (one event per line; blank lines are ignored)."""
        key_columns = self._key_for(key)
        parsed: list[ChangeEvent | DeadLetter] = []
        for number, text in enumerate(lines, start=1):
            item = parse_line(
                text,
                key_columns=key_columns,
                offset_path=self.offset_path,
                line=number,
                limits=self.limits,
            )
            if item is None:
                continue
            if number > self.limits.max_lines:
                raise BatchTooLarge(
                    f"the batch has more than {self.limits.max_lines} lines "
                    "(--max-lines): send it in smaller batches"
                )
            parsed.append(item)
        return self._apply(table, key_columns, parsed, request_id)

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
            parse_object(event, key_columns=key_columns, offset_path=self.offset_path)
            for event in events
        ]
        return self._apply(table, key_columns, parsed, None)

    def replay(
        self,
        table: str,
        corrections: Iterable[Correction],
        *,
        key: str | Sequence[str] | None = None,
        force: bool = False,
    ) -> ReplayResult:
        """Apply corrected dead letters, even below their partition's mark.

        A correction must keep the recorded position. Events replayed (or
        applied) before are skipped, so replaying twice changes nothing the
        second time. A corrected event whose row a later change has touched is
        reported as superseded and not applied, unless ``force``. Everything
        applied becomes one version; the stored dead letters replayed are
        marked so.
        """
        validate_table_name(table)
        key_columns = self._key_for(key)
        dead: list[DeadLetter] = []
        events: list[ChangeEvent] = []
        since: dict[str, int | None] = {}
        ids: dict[str, list[str]] = {}
        for correction in corrections:
            item = correction.item
            if isinstance(item, DeadLetter):
                dead.append(item)
                continue
            moved = (
                item.position != correction.position
                if correction.position is not None
                else correction.offset is not None
                and item.position.offset != correction.offset
            )
            if moved:
                was = correction.position or correction.offset
                dead.append(
                    item.dead(
                        f"the corrected event is at {item.position.to_dict()} but the "
                        f"dead letter was at {was}: a correction must keep its offset"
                    )
                )
                continue
            events.append(item)
            ident = identity(item.position, item.op, item.key)
            since.setdefault(ident, correction.table_version)
            if correction.id is not None:
                ids.setdefault(ident, []).append(correction.id)
        events.sort(key=_by_position)
        result = ReplayResult(table=table)  # the last attempt's, the one written

        def attempt(state: TableState) -> _Outcome:
            nonlocal result
            result = ReplayResult(table=table, dead_letters=list(dead))
            history = History(self.store, table, key_columns)
            todo: list[tuple[ChangeEvent, str]] = []
            seen: set[str] = set()
            windows: dict[str, set[str]] = {}
            for event in events:
                ident = identity(event.position, event.op, event.key)
                mark = state.marks.get(event.position.partition)
                window = windows.setdefault(
                    event.position.partition, set(mark.recent) if mark else set()
                )
                if ident in state.replayed or ident in seen or ident in window:
                    result.skipped += 1
                    result.replayed_ids.extend(ids.get(ident, []))
                    continue
                below = mark is not None and event.position.values <= mark.values
                if below and not force:
                    reason = history.superseded(event, since.get(ident))
                    if reason is not None:
                        result.superseded.append(event.dead(reason))
                        continue
                seen.add(ident)
                todo.append((event, ident))
            outcome = self._outcome(
                table, key_columns, state, result, todo, replay=True
            )
            for ident in outcome.accepted:
                result.replayed_ids.extend(ids.get(ident, []))
            return outcome

        with self._lock(table):
            self._write(table, key_columns, attempt)
            if result.replayed_ids:
                deadstore.mark_replayed(
                    self.store, table, result.replayed_ids, result.table_version or 0
                )
            return result

    # ------------------------------------------------------------- internals

    def _key_for(self, key: str | Sequence[str] | None) -> tuple[str, ...]:
        return self.key_columns if key is None else parse_key_columns(key)

    def _lock(self, table: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(table, threading.Lock())

    def _config(self, table: str) -> TableConfig:
        return self.tables.get(table) or self.tables.get("*") or TableConfig()

    def _write(
        self,
        table: str,
        key_columns: tuple[str, ...],
        attempt: Callable[[TableState], _Outcome],
    ) -> _Outcome:
        """Run ``attempt`` on the latest version and write its outcome on top of
        exactly that version; on a conflict, again on the newer one."""
        for number in range(self.attempts):
            state = load(self.store, table, key_columns)
            outcome = attempt(state)
            result = outcome.result
            if outcome.data is not None:
                try:
                    result.version = self.store.write(
                        table,
                        outcome.data,
                        metadata=outcome.metadata,
                        expected_version=state.version,
                    )
                except VersionConflict:
                    deadstore.backoff(number)
                    continue
            result.table_version = result.version or state.version or None
            result.dead_letters.sort(key=lambda d: (d.line is None, d.line or 0))
            return outcome
        raise ConcurrentWriteError(
            f"could not write table {table!r}: other writers committed a version "
            f"between each of {self.attempts} reads and writes; retry later"
        )

    def _apply(
        self,
        table: str,
        key_columns: tuple[str, ...],
        parsed: list[ChangeEvent | DeadLetter],
        request_id: str | None,
    ) -> ApplyResult:
        validate_table_name(table)
        refused = [i for i in parsed if isinstance(i, DeadLetter) and i.refused]
        if refused:
            raise PositionRefused(_refusal(refused))
        dead = [item for item in parsed if isinstance(item, DeadLetter)]
        events = sorted(
            (item for item in parsed if isinstance(item, ChangeEvent)),
            key=_by_position,
        )

        def attempt(state: TableState) -> _Outcome:
            result = ApplyResult(table=table, dead_letters=list(dead))
            todo = self._plan(state, events, result)
            return self._outcome(table, key_columns, state, result, todo)

        with self._lock(table):
            result = self._write(table, key_columns, attempt).result
            if result.dead_letters:
                result.stored = deadstore.add(
                    self.store,
                    table,
                    result.dead_letters,
                    result.table_version,
                    request_id,
                )
            return result

    def _plan(
        self, state: TableState, events: list[ChangeEvent], result: ApplyResult
    ) -> list[tuple[ChangeEvent, str]]:
        """The events to apply, each with its identity; the rest is counted
        as skipped or dead-lettered. PositionRefused for an implausible one."""
        todo: list[tuple[ChangeEvent, str]] = []
        seen: set[str] = set()
        windows: dict[str, set[str]] = {}
        firsts: dict[str, Position] = {}
        refused: list[DeadLetter] = []
        partitions = set(state.marks.marks)
        for event in events:
            partition = event.position.partition
            mark = state.marks.get(partition)
            if partition not in windows:
                windows[partition] = set(mark.recent) if mark is not None else set()
            ident = identity(event.position, event.op, event.key)
            if ident in seen or ident in windows[partition] or ident in state.replayed:
                result.skipped += 1
                continue
            if mark is not None and event.position.values < mark.values:
                result.dead_letters.append(
                    event.dead(
                        f"position {list(event.position.values)} is below the mark "
                        f"{list(mark.values)} of partition {partition!r} and was not "
                        "applied before: it arrived out of order (mlops-cdc replay "
                        "--stored applies it)"
                    )
                )
                continue
            if partition not in partitions:
                if len(partitions) >= self.limits.max_partitions:
                    result.dead_letters.append(
                        event.dead(
                            f"the table already has {len(partitions)} source "
                            f"partitions, its limit (--max-partitions): {partition!r} "
                            "is one more"
                        )
                    )
                    continue
                partitions.add(partition)
            reference = state.marks.position(partition)
            if reference is None:
                reference = firsts.setdefault(partition, event.position)
            why = too_far(event.position, reference, self.limits.max_position_jump)
            if why is not None:
                refused.append(event.dead(why))
                continue
            seen.add(ident)
            todo.append((event, ident))
        if refused:
            raise PositionRefused(_refusal(refused))
        return todo

    def _outcome(
        self,
        table: str,
        key_columns: tuple[str, ...],
        state: TableState,
        result: ApplyResult,
        todo: list[tuple[ChangeEvent, str]],
        *,
        replay: bool = False,
    ) -> _Outcome:
        """Check columns, apply ``todo`` in order, and the version to write."""
        result.high_water = state.marks.as_dict()
        result.high_water_offset = state.marks.highest_offset()
        columns = Columns(
            table,
            state.fields,
            key_columns,
            self._config(table),
            self.limits.max_columns,
        )
        columns.settle(event for event, _ in todo)
        accepted: list[tuple[ChangeEvent, str]] = []
        for event, ident in todo:
            reason = columns.misfit(event)
            if reason is None:
                accepted.append((event, ident))
            else:
                result.dead_letters.append(event.dead(reason))
        if not accepted:
            return _Outcome(result)
        columns.keep_only(event for event, _ in accepted)

        replayed = set(state.replayed)
        by_partition: dict[str, list[tuple[ChangeEvent, str]]] = {}
        for event, ident in accepted:
            _apply_one(state.rows, event)
            by_partition.setdefault(event.position.partition, []).append((event, ident))
        for partition, items in by_partition.items():
            mark = state.marks.get(partition)
            if replay and mark is not None:
                replayed.update(i for e, i in items if e.position.values <= mark.values)
            mark = mark or Mark(items[0][0].position.values)
            mark.advance(
                max(e.position.values for e, _ in items), [i for _, i in items]
            )
            state.marks.marks[partition] = mark
        result.applied = len(accepted)
        result.high_water = state.marks.as_dict()
        result.high_water_offset = state.marks.highest_offset()

        data = _build(state, key_columns, columns.types)
        if data is None:
            # A new table whose key types are still unknown (e.g. only a
            # truncate was seen) has nothing to store yet.
            return _Outcome(result)
        metadata = {
            POSITIONS_KEY: state.marks.to_metadata(),
            KEY_COLUMNS_KEY: ",".join(key_columns),
            OFFSET_FIELD_KEY: self.offset_field or "auto",
            "cdc.applied": str(result.applied),
            "cdc.skipped": str(result.skipped),
            "cdc.dead_letters": str(len(result.dead_letters)),
            "cdc.base_version": str(state.version),
        }
        if replayed:
            metadata[REPLAYED_KEY] = ",".join(sorted(replayed))
        if replay:
            metadata[REPLAY_MARK_KEY] = "true"
        return _Outcome(result, data, metadata, [ident for _, ident in accepted])


def _refusal(letters: list[DeadLetter]) -> str:
    shown = "; ".join(
        f"line {letter.line}: {letter.reason}" if letter.line else letter.reason
        for letter in letters[:5]
    )
    more = f" (and {len(letters) - 5} more)" if len(letters) > 5 else ""
    return (
        f"implausible event positions, batch refused (nothing applied): {shown}{more}"
    )
