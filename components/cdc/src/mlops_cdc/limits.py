"""The limits of cdc's input and of its HTTP service, in one place.

The README's "Limits and errors" section names each of them (a test keeps the
two in step). The defaults are the production defaults: the image runs
``mlops-cdc serve`` without flags, and the Deployment's memory limit is sized
for ``max_batches`` batches of ``max_body`` bytes at once (README, "Sizing").
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024

#: The largest position component: Postgres LSNs and Kafka offsets are 64-bit.
MAX_POSITION = 2**64 - 1
#: Identities of the latest applied events kept per source partition, to tell
#: a re-sent event (a duplicate) from one that arrived out of order (a dead
#: letter): Debezium's default batch (max.batch.size 2048), four times Kafka
#: Connect's (max.poll.records 500). Each costs 8 bytes of every version's
#: manifest, written and read with each batch.
DUPLICATE_WINDOW = 2048
#: Longest column name a batch may add (Postgres allows 63 bytes).
MAX_COLUMN_NAME = 128
#: Longest partition label (a Kafka topic name is at most 249 characters).
MAX_PARTITION_LABEL = 256


@dataclass(frozen=True)
class Limits:
    """What one batch and the service accept; beyond it, a refusal with a reason."""

    #: Largest request body of ``POST /events``, in bytes (413 beyond).
    max_body: int = 16 * MIB
    #: Most lines in one batch (413 beyond).
    max_lines: int = 100_000
    #: Largest line, in bytes; a longer line is a dead letter.
    max_line_bytes: int = 1 * MIB
    #: Deepest JSON nesting of a line; a deeper line is a dead letter.
    max_depth: int = 64
    #: Most columns of a table; an event adding more is a dead letter.
    max_columns: int = 256
    #: Most source partitions (Kafka partitions, Debezium servers) per table.
    max_partitions: int = 64
    #: How far ahead of its partition's mark (in the position's own unit:
    #: bytes of WAL, Kafka records) an event may be; further is refused (400).
    max_position_jump: int = 2**40
    #: Seconds to receive a request's line and headers, counted from the
    #: connection (or the previous answer on a kept-alive one); then 408.
    header_timeout: float = 10.0
    #: Seconds to receive a whole request body; then 408.
    body_timeout: float = 60.0
    #: Connections served at once; one more is answered 503 and closed.
    max_connections: int = 32
    #: Batches received or applied at once; one more is answered 503.
    max_batches: int = 2
    #: Dead letters listed in one answer (all of them are stored).
    max_answer_dead_letters: int = 1000

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"limit {name} must be a number, got {value!r}")
            if value <= 0:
                raise ValueError(f"limit {name} must be positive, got {value!r}")
