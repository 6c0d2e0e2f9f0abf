"""Parsing and validation of Debezium change events.

An event is a JSON object in Debezium's envelope format::

    {"op": "u", "before": {...}, "after": {...}, "source": {"lsn": 1234, ...}}

Events serialised by Kafka Connect's JSON converter with schemas enabled wrap
the envelope as ``{"schema": ..., "payload": {...}}``; the payload is unwrapped.

Supported operations:

``c`` (create), ``r`` (snapshot read), ``u`` (update)
    Upsert the ``after`` image, which must carry every key column. An update
    whose ``before`` image has a different key moves the row (the old key is
    deleted). An update of a key that is not in the table inserts it: Debezium
    row images are complete, so the result is the same as if the insert had
    been seen.
``d`` (delete)
    Remove the row whose key is in the ``before`` image. Deleting a key that is
    not in the table is a no-op (it may have been created and deleted before
    the table was first captured).
``t`` (truncate)
    Remove every row.

Every event needs a non-negative integer offset (by default ``source.lsn``)
giving its position in the change stream. Anything that does not meet these
rules becomes a :class:`DeadLetter` with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Operations understood by the applier.
OPS = frozenset({"c", "r", "u", "d", "t"})

#: How much of a rejected event's text a dead letter keeps.
RAW_LIMIT = 2000

Key = tuple[Any, ...]


@dataclass(frozen=True)
class DeadLetter:
    """An event that could not be applied, and why."""

    reason: str
    raw: str
    line: int | None = None
    offset: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "offset": self.offset,
            "reason": self.reason,
            "raw": self.raw,
        }


@dataclass(frozen=True)
class ChangeEvent:
    """A structurally valid change event, ready to apply."""

    op: str
    offset: int
    raw: str
    line: int | None = None
    #: Key of the row written (c/r/u) or removed (d); empty for truncate.
    key: Key = ()
    #: Key of the ``before`` image of an update when it differs from ``key``.
    old_key: Key | None = None
    #: The ``after`` image (c/r/u); empty for d/t.
    row: Mapping[str, Any] = field(default_factory=dict)

    def dead(self, reason: str) -> DeadLetter:
        return DeadLetter(
            reason=reason, raw=self.raw, line=self.line, offset=self.offset
        )


class EventError(ValueError):
    """Raised internally for a malformed event; becomes a dead letter."""

    def __init__(self, reason: str, offset: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset


def truncate_raw(text: str) -> str:
    if len(text) <= RAW_LIMIT:
        return text
    return text[:RAW_LIMIT] + "...[truncated]"


def _lookup(obj: Mapping[str, Any], path: Sequence[str]) -> Any:
    current: Any = obj
    for part in path:
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def _offset(envelope: Mapping[str, Any], path: Sequence[str]) -> int:
    dotted = ".".join(path)
    value = _lookup(envelope, path)
    if value is None:
        raise EventError(f"missing offset {dotted}")
    if isinstance(value, bool):
        raise EventError(f"offset {dotted} must be a non-negative integer")
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or value < 0:
        raise EventError(f"offset {dotted} must be a non-negative integer")
    return value


def _key(image: Mapping[str, Any], key_columns: Sequence[str], which: str) -> Key:
    values = []
    for column in key_columns:
        value = image.get(column)
        if value is None:
            raise EventError(f"missing key column {column!r} in {which} image")
        if isinstance(value, (dict, list)):
            raise EventError(f"key column {column!r} in {which} image is not a scalar")
        values.append(value)
    return tuple(values)


def _image(envelope: Mapping[str, Any], name: str, op: str) -> Mapping[str, Any]:
    image = envelope.get(name)
    if image is None:
        raise EventError(f"op {op!r} requires a {name!r} image")
    if not isinstance(image, Mapping):
        raise EventError(f"{name!r} image must be a JSON object")
    return image


def parse_event(
    event: Any,
    *,
    key_columns: Sequence[str],
    offset_path: Sequence[str],
    raw: str,
    line: int | None = None,
) -> ChangeEvent:
    """Validate one decoded event; raise :class:`EventError` if malformed."""
    if not isinstance(event, Mapping):
        raise EventError("event must be a JSON object")
    if "op" not in event and isinstance(event.get("payload"), Mapping):
        event = event["payload"]
    offset: int | None = None
    offset_error: EventError | None = None
    try:
        offset = _offset(event, offset_path)
    except EventError as exc:
        offset_error = exc
    try:
        op = event.get("op")
        if op is None:
            raise EventError("missing op")
        if not isinstance(op, str) or op not in OPS:
            raise EventError(f"unknown op {op!r} (expected one of c, r, u, d, t)")
        if offset is None:
            raise offset_error or EventError("missing offset")
        if op == "t":
            return ChangeEvent(op=op, offset=offset, raw=raw, line=line)
        if op == "d":
            before = _image(event, "before", op)
            key = _key(before, key_columns, "before")
            return ChangeEvent(op=op, offset=offset, raw=raw, line=line, key=key)
        after = _image(event, "after", op)
        key = _key(after, key_columns, "after")
        old_key: Key | None = None
        before = event.get("before")
        if op == "u" and isinstance(before, Mapping):
            if all(before.get(column) is not None for column in key_columns):
                previous = _key(before, key_columns, "before")
                if previous != key:
                    old_key = previous
        return ChangeEvent(
            op=op,
            offset=offset,
            raw=raw,
            line=line,
            key=key,
            old_key=old_key,
            row=dict(after),
        )
    except EventError as exc:
        raise EventError(exc.reason, offset) from None


def parse_line(
    text: str | bytes,
    *,
    key_columns: Sequence[str],
    offset_path: Sequence[str],
    line: int | None = None,
) -> ChangeEvent | DeadLetter | None:
    """Parse one JSON line; None for a blank line."""
    if isinstance(text, bytes):
        data = text
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raw = truncate_raw(data.decode("utf-8", errors="replace"))
            return DeadLetter(reason=f"not valid UTF-8: {exc}", raw=raw, line=line)
    stripped = text.strip()
    if not stripped:
        return None
    raw = truncate_raw(stripped)
    try:
        decoded = json.loads(stripped)
    except ValueError as exc:
        return DeadLetter(reason=f"invalid JSON: {exc}", raw=raw, line=line)
    return parse_object(
        decoded, key_columns=key_columns, offset_path=offset_path, raw=raw, line=line
    )


def parse_object(
    event: Any,
    *,
    key_columns: Sequence[str],
    offset_path: Sequence[str],
    raw: str | None = None,
    line: int | None = None,
) -> ChangeEvent | DeadLetter:
    """Validate an already decoded event, turning errors into a dead letter."""
    if raw is None:
        raw = truncate_raw(json.dumps(event, default=str, sort_keys=True))
    try:
        return parse_event(
            event,
            key_columns=key_columns,
            offset_path=offset_path,
            raw=raw,
            line=line,
        )
    except EventError as exc:
        return DeadLetter(reason=exc.reason, raw=raw, line=line, offset=exc.offset)
