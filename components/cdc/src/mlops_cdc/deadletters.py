"""Dead-letter files: where rejected events wait to be corrected and replayed.

A dead-letter file is JSON lines, one record per rejected event, as
``mlops-cdc apply --dead-letter-file`` appends them and ``mlops-cdc
deadletters`` lists the stored ones::

    {"table": "users", "line": 3, "offset": 42, "partition": "offset:",
     "position": [42], "reason": "...", "raw": "{...}", "table_version": 7}

(``table_version``: the table's version right after the batch that rejected
the event; a replay checks the versions after it for newer changes. ``id``,
in listed records: the stored dead letter a replay marks as replayed.)

To correct an event, edit its ``raw`` text, or add an ``"event"`` object that
replaces it (easier than editing JSON inside a string); keep its position.
The JSON answer of ``apply`` and of ``POST /events`` (an object with ``table``
and ``dead_letters``) is accepted as a dead-letter file too (an answer shows
at most 2000 characters of each event: the stored record has them all).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_cdc.apply import Correction
from mlops_cdc.events import ChangeEvent, DeadLetter, parse_line, parse_object
from mlops_cdc.positions import Position


class DeadLetterFileError(ValueError):
    """The file is not a dead-letter file."""


@dataclass(frozen=True)
class DeadLetterRecord:
    """One record of a dead-letter file."""

    #: The record's position in the file (JSON-lines line, or list index + 1).
    position: int
    table: str | None
    offset: int | None
    #: The table's version right after the rejecting batch, if known.
    table_version: int | None = None
    #: The corrected event: a decoded ``event`` object, else the ``raw`` text.
    event: Any = None
    raw: str | None = None
    #: Where the rejected event was in its stream (None: unknown).
    recorded: Position | None = None
    #: The stored dead letter's id (records listed by ``mlops-cdc deadletters``).
    id: str | None = None

    def correction(
        self, key_columns: Sequence[str], offset_path: Sequence[str] | None
    ) -> Correction:
        """The record as the applier replays it."""
        return Correction(
            item=self.parse(key_columns, offset_path),
            position=self.recorded,
            offset=self.offset,
            table_version=self.table_version,
            id=self.id,
        )

    def parse(
        self, key_columns: Sequence[str], offset_path: Sequence[str] | None
    ) -> ChangeEvent | DeadLetter:
        """The corrected event, or a dead letter if it is still invalid."""
        if self.event is not None:
            return parse_object(
                self.event,
                key_columns=key_columns,
                offset_path=offset_path,
                line=self.position,
            )
        item = parse_line(
            self.raw or "",
            key_columns=key_columns,
            offset_path=offset_path,
            line=self.position,
        )
        if item is None:
            return DeadLetter(reason="empty raw event", raw="", line=self.position)
        return item


def records_for(
    table: str, letters: Iterable[DeadLetter], table_version: int | None = None
) -> list[dict[str, Any]]:
    """Dead letters of ``table`` as dead-letter file records (whole texts)."""
    return [
        {
            "table": table,
            **letter.to_dict(),
            "raw": letter.full_text,
            "table_version": table_version,
        }
        for letter in letters
    ]


def append(
    path: str | Path,
    table: str,
    letters: Sequence[DeadLetter],
    table_version: int | None = None,
) -> int:
    """Append the dead letters to a dead-letter file; return how many."""
    if not letters:
        return 0
    text = "".join(
        json.dumps(record, sort_keys=True) + "\n"
        for record in records_for(table, letters, table_version)
    )
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)
    return len(letters)


def _count(obj: dict[str, Any], key: str, position: int) -> int | None:
    value = obj.get(key)
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or value < 0
    ):
        raise DeadLetterFileError(f"record {position}: invalid {key} {value!r}")
    return value


def _record(
    position: int, obj: Any, table: str | None, table_version: int | None = None
) -> DeadLetterRecord:
    if not isinstance(obj, dict):
        raise DeadLetterFileError(f"record {position}: not a JSON object")
    offset = _count(obj, "offset", position)
    version = _count(obj, "table_version", position)
    record_table = obj.get("table", table)
    if record_table is not None and not isinstance(record_table, str):
        raise DeadLetterFileError(f"record {position}: invalid table {record_table!r}")
    recorded = _recorded(obj, position)
    ident = obj.get("id")
    if ident is not None and not isinstance(ident, str):
        raise DeadLetterFileError(f"record {position}: invalid id {ident!r}")
    event = obj.get("event")
    raw = obj.get("raw")
    if event is None and not isinstance(raw, str):
        raise DeadLetterFileError(
            f'record {position}: needs the event as "raw" text or an "event" object'
        )
    return DeadLetterRecord(
        position=position,
        table=record_table,
        offset=offset,
        table_version=version if version is not None else table_version,
        event=event,
        raw=raw,
        recorded=recorded,
        id=ident,
    )


def _recorded(obj: dict[str, Any], position: int) -> Position | None:
    partition, values = obj.get("partition"), obj.get("position")
    if partition is None and values is None:
        return None
    if (
        not isinstance(partition, str)
        or not isinstance(values, list)
        or not values
        or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values
        )
    ):
        raise DeadLetterFileError(
            f"record {position}: invalid partition/position {partition!r} {values!r}"
        )
    return Position(partition, tuple(values))


def read(text: str) -> list[DeadLetterRecord]:
    """The records of a dead-letter file's text (JSON lines, or one result)."""
    stripped = text.strip()
    if stripped.startswith("{") and "\n" in stripped:
        try:
            whole = json.loads(stripped)
        except ValueError:
            whole = None
        if isinstance(whole, dict) and isinstance(whole.get("dead_letters"), list):
            return _answer(whole, None)
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise DeadLetterFileError(f"line {number}: not JSON: {exc}") from None
        if isinstance(obj, dict) and isinstance(obj.get("dead_letters"), list):
            records.extend(_answer(obj, number))
        else:
            records.append(_record(number, obj, None))
    return records


def _answer(answer: dict[str, Any], position: int | None) -> list[DeadLetterRecord]:
    """The records of an apply answer; its ``version``, if any, is the table's
    version after the batch."""
    table = answer.get("table")
    version = answer.get("version")
    return [
        _record(
            position or index,
            obj,
            table if isinstance(table, str) else None,
            version if isinstance(version, int) and version > 0 else None,
        )
        for index, obj in enumerate(answer["dead_letters"], start=1)
    ]
