"""Small event tables for the feature tests."""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa

UTC = timezone.utc


def at(text: str) -> datetime:
    """Naive ISO text -> aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (entity, timestamp, value). The latest event is 2024-01-08T00:00, so a 7d
# window is (2024-01-01T00:00, 2024-01-08T00:00].
EVENTS: list[tuple[str | None, str | None, float | None]] = [
    ("a", "2024-01-01T00:00:00", 1.0),  # exactly at the 7d start: excluded
    ("a", "2024-01-05T12:00:00", 2.0),
    ("a", "2024-01-08T00:00:00", 4.0),
    ("b", "2024-01-07T00:00:00", 10.0),
    ("b", "2024-01-07T06:00:00", None),  # counted, not summed
    ("c", "2023-12-25T00:00:00", 100.0),  # outside every window below
    (None, "2024-01-06T00:00:00", 50.0),  # no entity: ignored
    ("d", None, 7.0),  # no timestamp: ignored
]


def events_table(
    rows: list[tuple[str | None, str | None, float | None]] = EVENTS,
) -> pa.Table:
    return pa.table(
        {
            "entity_id": pa.array([row[0] for row in rows], pa.string()),
            "timestamp": pa.array(
                [datetime.fromisoformat(row[1]) if row[1] else None for row in rows],
                pa.timestamp("us"),
            ),
            "value": pa.array([row[2] for row in rows], pa.float64()),
        }
    )
