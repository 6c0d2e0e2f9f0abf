"""Change data capture into mlops-storage.

>>> from mlops_storage import Store
>>> from mlops_cdc import ChangeApplier
>>> applier = ChangeApplier(Store("/tmp/datasets"), key="id")  # doctest: +SKIP
>>> with open("events.jsonl", "rb") as events:  # doctest: +SKIP
...     result = applier.apply_lines("users", events)
>>> result.applied, result.skipped, result.version  # doctest: +SKIP
"""

from __future__ import annotations

from mlops_cdc.apply import (
    HIGH_WATER_KEY,
    ApplyResult,
    CdcError,
    ChangeApplier,
    KeyMismatchError,
    ReplayResult,
)
from mlops_cdc.events import ChangeEvent, DeadLetter
from mlops_cdc.server import CdcServer, make_server

__all__ = [
    "HIGH_WATER_KEY",
    "ApplyResult",
    "CdcError",
    "CdcServer",
    "ChangeApplier",
    "ChangeEvent",
    "DeadLetter",
    "KeyMismatchError",
    "ReplayResult",
    "make_server",
]
