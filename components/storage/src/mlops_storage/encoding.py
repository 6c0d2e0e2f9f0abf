"""Rows of a dataset version as JSON bytes.

orjson encodes ``Table.to_pylist()`` rows several times faster than the
standard library; values it cannot encode natively go through the same
conversions as before (:func:`to_jsonable`), so the JSON means the same:
non-finite floats are null, dates and times ISO 8601, durations seconds,
decimals strings, bytes base64. Anything orjson refuses altogether (an
integer beyond 64 bits) falls back to the standard library.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def to_jsonable(value: Any) -> Any:
    """Convert a value from ``Table.to_pylist()`` to something ``json`` accepts."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    return _plain(value)


def _plain(value: Any) -> Any:
    """A value orjson has no native form for (or is told to pass through)."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def dumps(payload: Any) -> bytes:
    """``payload`` (built from ``to_pylist()`` rows) as compact UTF-8 JSON."""
    try:
        return orjson.dumps(payload, default=_plain, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(
            to_jsonable(payload),
            ensure_ascii=False,
            allow_nan=False,
            separators=(",", ":"),
        ).encode("utf-8")
