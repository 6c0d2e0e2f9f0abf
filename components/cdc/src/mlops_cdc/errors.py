"""cdc's errors: each is a whole batch refused, with nothing written.

The HTTP service answers them: :class:`KeyMismatchError` 409,
:class:`BatchTooLarge` 413, the others 400.
"""

from __future__ import annotations


class CdcError(Exception):
    """The batch cannot be applied to the table at all (nothing was written)."""


class KeyMismatchError(CdcError):
    """The table exists with other key columns than the ones requested."""


class BatchTooLarge(CdcError):
    """The batch has more lines than ``Limits.max_lines``."""


class PositionRefused(CdcError):
    """Some event's position is implausible (``mlops_cdc.positions``)."""
