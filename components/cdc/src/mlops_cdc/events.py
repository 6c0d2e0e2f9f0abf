"""Parsing and validation of Debezium change events, one line at a time.

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

Every event needs a position (:mod:`mlops_cdc.positions`). A line is parsed
within bounds (``Limits.max_line_bytes``, ``Limits.max_depth``), so no line
can fail its batch: anything that does not meet these rules becomes a
:class:`DeadLetter` with the reason; one whose position is implausible is
marked ``refused`` (the applier refuses its whole batch).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlops_cdc.limits import Limits
from mlops_cdc.positions import Position, PositionError, extract

#: Operations understood by the applier.
OPS = frozenset({"c", "r", "u", "d", "t"})

#: How much of a rejected event's text an answer shows (the store keeps it all).
RAW_LIMIT = 2000

Key = tuple[Any, ...]

# A JSON string (skipped whole: brackets inside it do not nest) or a bracket.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


@dataclass(frozen=True)
class DeadLetter:
    """An event that could not be applied, and why."""

    reason: str
    #: The event's text as an answer shows it (cut at RAW_LIMIT characters).
    raw: str
    line: int | None = None
    position: Position | None = None
    #: The whole text (what the dead-letter store keeps, to replay it).
    text: str | None = field(default=None, compare=False, repr=False)
    #: The position is implausible: the batch is refused, not dead-lettered.
    refused: bool = field(default=False, compare=False)

    @property
    def offset(self) -> int | None:
        return None if self.position is None else self.position.offset

    @property
    def full_text(self) -> str:
        return self.raw if self.text is None else self.text

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "offset": self.offset,
            "partition": None if self.position is None else self.position.partition,
            "position": None if self.position is None else list(self.position.values),
            "reason": self.reason,
            "raw": self.raw,
        }


@dataclass(frozen=True)
class ChangeEvent:
    """A structurally valid change event, ready to apply."""

    op: str
    position: Position
    raw: str
    line: int | None = None
    #: Key of the row written (c/r/u) or removed (d); empty for truncate.
    key: Key = ()
    #: Key of the ``before`` image of an update when it differs from ``key``.
    old_key: Key | None = None
    #: The ``after`` image (c/r/u); empty for d/t.
    row: Mapping[str, Any] = field(default_factory=dict)
    text: str | None = field(default=None, compare=False, repr=False)

    @property
    def offset(self) -> int:
        return self.position.offset

    def dead(self, reason: str) -> DeadLetter:
        return DeadLetter(
            reason=reason,
            raw=self.raw,
            line=self.line,
            position=self.position,
            text=self.text,
        )


class EventError(ValueError):
    """Raised internally for a malformed event; becomes a dead letter."""

    def __init__(
        self, reason: str, position: Position | None = None, refused: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.position = position
        self.refused = refused


def truncate_raw(text: str) -> str:
    if len(text) <= RAW_LIMIT:
        return text
    return text[:RAW_LIMIT] + "...[truncated]"


def too_deep(text: str, limit: int) -> bool:
    """Whether the JSON text nests arrays/objects deeper than ``limit``."""
    if text.count("[") + text.count("{") <= limit:
        return False  # the common case, at C speed
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False


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


def _parse(
    event: Any,
    key_columns: Sequence[str],
    offset_path: Sequence[str] | None,
    raw: str,
    line: int | None,
    text: str | None,
) -> ChangeEvent:
    if not isinstance(event, Mapping):
        raise EventError("event must be a JSON object")
    outer = event
    if "op" not in event and isinstance(event.get("payload"), Mapping):
        event = event["payload"]
    position: Position | None = None
    position_error: PositionError | None = None
    try:
        position = extract(event, outer, offset_path)
    except PositionError as exc:
        position_error = exc
    try:
        op = event.get("op")
        if op is None:
            raise EventError("missing op")
        if not isinstance(op, str) or op not in OPS:
            raise EventError(f"unknown op {op!r} (expected one of c, r, u, d, t)"[:300])
        if position is None:
            error = position_error or PositionError("missing offset", refused=False)
            raise EventError(error.reason, refused=error.refused)
        key: Key = ()
        old_key: Key | None = None
        row: dict[str, Any] = {}
        if op == "d":
            key = _key(_image(event, "before", op), key_columns, "before")
        elif op != "t":
            after = _image(event, "after", op)
            key = _key(after, key_columns, "after")
            row = dict(after)
            before = event.get("before")
            if op == "u" and isinstance(before, Mapping):
                if all(before.get(column) is not None for column in key_columns):
                    previous = _key(before, key_columns, "before")
                    if previous != key:
                        old_key = previous
        return ChangeEvent(
            op=op,
            position=position,
            raw=raw,
            line=line,
            key=key,
            old_key=old_key,
            row=row,
            text=text,
        )
    except EventError as exc:
        raise EventError(exc.reason, position, exc.refused) from None


def parse_line(
    text: str | bytes,
    *,
    key_columns: Sequence[str],
    offset_path: Sequence[str] | None,
    line: int | None = None,
    limits: Limits | None = None,
) -> ChangeEvent | DeadLetter | None:
    """Parse one JSON line within the limits; None for a blank line."""
    limits = limits or Limits()
    if len(text) > limits.max_line_bytes or (
        isinstance(text, str)
        and len(text) * 4 > limits.max_line_bytes
        and len(text.encode("utf-8", "surrogatepass")) > limits.max_line_bytes
    ):
        shown = text[:RAW_LIMIT]
        if isinstance(shown, bytes):
            shown = shown.decode("utf-8", errors="replace")
        return DeadLetter(
            reason=f"line of {len(text)} bytes is longer than the limit of "
            f"{limits.max_line_bytes} (--max-line-bytes)",
            raw=shown + "...[truncated]",
            line=line,
        )
    if isinstance(text, bytes):
        data = text
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            whole = data.decode("utf-8", errors="replace")
            return DeadLetter(
                reason=f"not valid UTF-8: {exc}",
                raw=truncate_raw(whole),
                line=line,
                text=whole,
            )
    stripped = text.strip()
    if not stripped:
        return None
    raw = truncate_raw(stripped)
    if too_deep(stripped, limits.max_depth):
        return DeadLetter(
            reason=f"JSON nested deeper than {limits.max_depth} levels",
            raw=raw,
            line=line,
            text=stripped,
        )
    try:
        decoded = json.loads(stripped)
    except (ValueError, RecursionError) as exc:
        return DeadLetter(
            reason=f"invalid JSON: {exc}"[:500], raw=raw, line=line, text=stripped
        )
    return parse_object(
        decoded,
        key_columns=key_columns,
        offset_path=offset_path,
        raw=raw,
        line=line,
        text=stripped,
    )


def parse_object(
    event: Any,
    *,
    key_columns: Sequence[str],
    offset_path: Sequence[str] | None,
    raw: str | None = None,
    line: int | None = None,
    text: str | None = None,
) -> ChangeEvent | DeadLetter:
    """Validate an already decoded event, turning errors into a dead letter."""
    if text is None:
        try:
            text = json.dumps(event, default=str, sort_keys=True)
        except (ValueError, RecursionError):
            text = repr(event)[: RAW_LIMIT * 2]
    if raw is None:
        raw = truncate_raw(text)
    try:
        return _parse(event, key_columns, offset_path, raw, line, text)
    except EventError as exc:
        return DeadLetter(
            reason=exc.reason,
            raw=raw,
            line=line,
            position=exc.position,
            text=text,
            refused=exc.refused,
        )
