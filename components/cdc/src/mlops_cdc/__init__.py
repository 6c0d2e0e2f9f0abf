"""Change data capture into mlops-storage.

>>> from mlops_storage import Store
>>> from mlops_cdc import ChangeApplier
>>> applier = ChangeApplier(Store("/tmp/datasets"), key="id")  # doctest: +SKIP
>>> with open("events.jsonl", "rb") as events:  # doctest: +SKIP
...     result = applier.apply_lines("users", events)
>>> result.applied, result.skipped, result.version  # doctest: +SKIP
"""

from __future__ import annotations

from mlops_cdc.apply import ApplyResult, ChangeApplier, Correction, ReplayResult
from mlops_cdc.columns import TableConfig
from mlops_cdc.errors import BatchTooLarge, CdcError, KeyMismatchError, PositionRefused
from mlops_cdc.events import ChangeEvent, DeadLetter
from mlops_cdc.limits import Limits
from mlops_cdc.positions import Position
from mlops_cdc.server import CdcServer, make_server
from mlops_cdc.state import HIGH_WATER_KEY, POSITIONS_KEY

__all__ = [
    "HIGH_WATER_KEY",
    "POSITIONS_KEY",
    "ApplyResult",
    "BatchTooLarge",
    "CdcError",
    "CdcServer",
    "ChangeApplier",
    "ChangeEvent",
    "Correction",
    "DeadLetter",
    "KeyMismatchError",
    "Limits",
    "Position",
    "PositionRefused",
    "ReplayResult",
    "TableConfig",
    "make_server",
]
