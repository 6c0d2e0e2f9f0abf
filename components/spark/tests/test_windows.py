from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from mlops_spark.windows import (
    WindowError,
    from_micros,
    parse_as_of,
    parse_window,
    to_micros,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("90s", timedelta(seconds=90)),
        (" 7d ", timedelta(days=7)),
    ],
)
def test_parse_window(text: str, expected: timedelta) -> None:
    assert parse_window(text) == expected


@pytest.mark.parametrize(
    "text", ["", "7", "d", "7x", "-1d", "0d", "1.5h", "7D", "7d2h", "seven days"]
)
def test_parse_window_rejects(text: str) -> None:
    with pytest.raises(WindowError, match="invalid window"):
        parse_window(text)


def test_parse_window_too_long() -> None:
    with pytest.raises(WindowError, match="too long"):
        parse_window("99999999999d")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-07", datetime(2024, 1, 7, tzinfo=timezone.utc)),
        ("2024-01-07T12:30:00", datetime(2024, 1, 7, 12, 30, tzinfo=timezone.utc)),
        ("2024-01-07T12:30:00Z", datetime(2024, 1, 7, 12, 30, tzinfo=timezone.utc)),
        (
            "2024-01-07T14:30:00+02:00",
            datetime(2024, 1, 7, 12, 30, tzinfo=timezone.utc),
        ),
    ],
)
def test_parse_as_of(text: str, expected: datetime) -> None:
    parsed = parse_as_of(text)
    assert parsed == expected
    assert parsed.tzinfo == timezone.utc


def test_parse_as_of_rejects() -> None:
    with pytest.raises(WindowError, match="invalid as-of"):
        parse_as_of("yesterday")


def test_micros_round_trip() -> None:
    moment = datetime(2024, 1, 7, 12, 30, 0, 123456, tzinfo=timezone.utc)
    assert to_micros(moment) == 1_704_630_600_123_456
    assert from_micros(to_micros(moment)) == moment
