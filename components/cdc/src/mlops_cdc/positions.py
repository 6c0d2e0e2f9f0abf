"""Where an event sits in its change stream: its source partition and position.

Events are applied once, in stream order, so each needs a position that grows
in the order the stream delivers them. A Postgres LSN alone does not: Debezium
delivers in commit order, and a long transaction committed after a short one
has lower LSNs. The position is, by preference:

``kafka``
    ``{"kafka": {"topic": T, "partition": P, "offset": O}}`` beside the envelope
    (or in it), as a sink adds it: partition ``kafka:T:P``, position ``[O]``.
``sequence``
    Debezium's ``source.sequence`` (Postgres: ``["<last commit LSN>", "<LSN>"]``,
    a JSON text), which is commit-ordered: partition ``sequence:<source.name>``,
    position ``[commit LSN, LSN]`` (a null counts as 0).
``offset``
    The offset field (``source.lsn`` unless configured), for sources whose
    offset is already delivery-ordered: partition ``offset:<source.name>``.

With a configured offset field (``--offset-field``) that field is the position
of every event. Each partition keeps its own high-water mark; positions of
different partitions are never compared.

A position is *implausible* (the batch is refused, 400) when a component is
not a whole number, is negative or beyond 2**64-1, or the event is further
ahead of its partition's mark than ``Limits.max_position_jump``: one bad
position would otherwise hide every later event of the stream.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlops_cdc.limits import MAX_PARTITION_LABEL, MAX_POSITION

#: The offset field used when none is configured.
DEFAULT_OFFSET_FIELD = "source.lsn"
#: Characters of an event identity (:func:`identity`).
IDENTITY_LENGTH = 8
#: Partitions of plain offsets that have no mark of their own start at this
#: one's: the single mark of tables written before marks were per partition.
LEGACY_PARTITION = "offset:*"


class PositionError(ValueError):
    """An event's position is missing (``refused`` False) or implausible."""

    def __init__(self, reason: str, *, refused: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.refused = refused


@dataclass(frozen=True, order=True)
class Position:
    """A source partition and the event's place in it (compared within one)."""

    partition: str
    values: tuple[int, ...]

    @property
    def offset(self) -> int:
        """The last component: the LSN, the Kafka offset or the plain offset."""
        return self.values[-1]

    @property
    def magnitude(self) -> int:
        """The largest component, for the distance check."""
        return max(self.values)

    def to_dict(self) -> dict[str, Any]:
        return {"partition": self.partition, "position": list(self.values)}


def _component(value: Any, what: str) -> int:
    if value is None:
        return 0
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PositionError(
            f"{what} must be a whole number, got {value!r}"[:300], refused=True
        )
    if value < 0:
        raise PositionError(f"{what} must not be negative, got {value}", refused=True)
    if value > MAX_POSITION:
        raise PositionError(
            f"{what} {value} is beyond 2**64-1, the largest position", refused=True
        )
    return value


def _label(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise PositionError(
            f"{what} must be a string, got {value!r}"[:300], refused=False
        )
    text = str(value)
    if len(text) > MAX_PARTITION_LABEL:
        raise PositionError(
            f"{what} is longer than {MAX_PARTITION_LABEL} characters", refused=False
        )
    return text


def _lookup(obj: Any, path: Sequence[str]) -> Any:
    for part in path:
        if not isinstance(obj, Mapping) or part not in obj:
            return None
        obj = obj[part]
    return obj


def _kafka(coordinates: Any) -> Position:
    if not isinstance(coordinates, Mapping):
        raise PositionError("kafka must be an object", refused=False)
    topic = _label(coordinates.get("topic"), "kafka.topic")
    if coordinates.get("partition") is None or coordinates.get("offset") is None:
        raise PositionError("kafka needs a partition and an offset", refused=False)
    partition = _component(coordinates["partition"], "kafka.partition")
    offset = _component(coordinates["offset"], "kafka.offset")
    return Position(f"kafka:{topic}:{partition}", (offset,))


def _sequence(source: Mapping[str, Any], value: Any) -> Position:
    if isinstance(value, str):
        if len(value) > 200:
            raise PositionError("source.sequence is too long", refused=True)
        try:
            value = json.loads(value)
        except ValueError:
            raise PositionError(
                f"source.sequence must be a JSON list of LSNs, got {value!r}",
                refused=True,
            ) from None
    if not isinstance(value, list) or not 1 <= len(value) <= 4:
        raise PositionError(
            f"source.sequence must list 1 to 4 LSNs, got {value!r}"[:300], refused=True
        )
    if all(item is None for item in value):
        raise PositionError("source.sequence holds no LSN", refused=True)
    values = tuple(_component(item, "source.sequence item") for item in value)
    name = _label(source.get("name"), "source.name")
    return Position(f"sequence:{name}", values)


def extract(
    envelope: Mapping[str, Any],
    outer: Mapping[str, Any],
    offset_path: Sequence[str] | None,
) -> Position:
    """The event's position; PositionError when missing or implausible.

    ``outer`` is the line's object (the envelope, or what wraps it as
    ``payload``); ``offset_path`` None means the automatic choice above.
    """
    source = envelope.get("source")
    source = source if isinstance(source, Mapping) else {}
    if offset_path is None:
        for holder in (outer, envelope):
            if holder.get("kafka") is not None:
                return _kafka(holder["kafka"])
        if source.get("sequence") is not None:
            return _sequence(source, source["sequence"])
        offset_path = tuple(DEFAULT_OFFSET_FIELD.split("."))
    dotted = ".".join(offset_path)
    value = _lookup(envelope, offset_path)
    if value is None:
        raise PositionError(f"missing offset {dotted}", refused=False)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PositionError(
            f"offset {dotted} must be a non-negative integer, got {value!r}"[:300],
            refused=True,
        )
    offset = _component(value, f"offset {dotted}")
    name = _label(source.get("name"), "source.name")
    return Position(f"offset:{name}", (offset,))


def identity(position: Position, op: str, key: Sequence[Any]) -> str:
    """A short digest naming one event: same position, op and key, same identity.

    48 bits in 8 characters (:data:`IDENTITY_LENGTH`): an event taken for one
    of the window's few thousand by chance has a probability of about 10**-11.
    """
    # repr of a tuple of JSON scalars is as stable as JSON, and much faster.
    text = repr((position.partition, position.values, op, tuple(key)))
    digest = hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=6).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


def too_far(position: Position, reference: Position | None, jump: int) -> str | None:
    """Why ``position`` is implausibly far ahead of ``reference``, or None."""
    if reference is None:
        return None
    distance = position.magnitude - reference.magnitude
    if distance <= jump:
        return None
    return (
        f"position {list(position.values)} is {distance} ahead of "
        f"{list(reference.values)} in partition {position.partition!r}, more than "
        f"the {jump} allowed: a misconfigured source? (--max-position-jump)"
    )
