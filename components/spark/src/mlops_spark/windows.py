"""Parsing of time windows (``30m``, ``12h``, ``7d``) and as-of times."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICROSECOND = timedelta(microseconds=1)

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_WINDOW_RE = re.compile(r"([0-9]+)([smhdw])")


class WindowError(ValueError):
    """A window or as-of string that cannot be parsed."""


def parse_window(text: str) -> timedelta:
    """``"30m"`` -> 30 minutes; units s, m, h, d, w; the amount must be > 0."""
    match = _WINDOW_RE.fullmatch(text.strip())
    if match is None:
        raise WindowError(
            f"invalid window {text!r}: expected a positive integer followed by "
            "s, m, h, d or w (e.g. 30m, 12h, 7d)"
        )
    amount, unit = int(match.group(1)), match.group(2)
    if amount == 0:
        raise WindowError(f"invalid window {text!r}: must be longer than zero")
    try:
        return timedelta(**{_UNITS[unit]: amount})
    except OverflowError:
        raise WindowError(f"invalid window {text!r}: too long") from None


def parse_as_of(text: str) -> datetime:
    """ISO 8601 date or date-time as an aware UTC datetime (naive means UTC)."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise WindowError(
            f"invalid as-of time {text!r}: expected ISO 8601, e.g. "
            "2024-01-31 or 2024-01-31T12:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def to_micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime."""
    return (moment - EPOCH) // MICROSECOND


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)
