"""A table's versions, to tell whether a row changed after an event.

A replay applies a corrected event below its partition's mark; if a later
version changed the event's row, applying it would overwrite newer data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mlops_cdc.events import ChangeEvent, Key
from mlops_cdc.state import REPLAY_MARK_KEY, Marks, StateError
from mlops_storage import DatasetNotFound, Store


def _comparable(row: Mapping[str, Any] | None) -> str | None:
    """A row as text, ignoring null columns (a column added later is null)."""
    if row is None:
        return None
    return json.dumps(
        {name: value for name, value in row.items() if value is not None},
        sort_keys=True,
        default=str,
    )


class History:
    """The versions of a table, to tell whether a row changed after an event."""

    def __init__(self, store: Store, table: str, key_columns: tuple[str, ...]) -> None:
        self.store = store
        self.table = table
        self.key_columns = key_columns
        self._meta: dict[int, dict[str, str]] | None = None
        self._rows: dict[int, dict[Key, str | None]] = {}

    def _metadata(self) -> dict[int, dict[str, str]]:
        if self._meta is None:
            try:
                versions = self.store.versions(self.table)
            except DatasetNotFound:
                versions = []
            self._meta = {v: self.store.metadata(self.table, v) for v in versions}
        return self._meta

    def _row(self, version: int, key: Key) -> str | None:
        if version == 0:
            return None
        if version not in self._rows:
            rows: dict[Key, str | None] = {}
            for row in self.store.read(self.table, version).to_pylist():
                rows[tuple(row.get(c) for c in self.key_columns)] = _comparable(row)
            self._rows[version] = rows
        return self._rows[version].get(key)

    def _reached(self, version: int, event: ChangeEvent) -> bool:
        """Whether that version's mark of the event's partition passed the event."""
        try:
            mark = Marks.from_metadata(self._metadata()[version]).get(
                event.position.partition
            )
        except StateError:
            return False
        return mark is not None and mark.values >= event.position.values

    def superseded(self, event: ChangeEvent, since: int | None) -> str | None:
        """Why ``event`` must not be replayed, or None.

        ``since`` is the table's version right after the batch that rejected
        the event: the versions after it hold only later changes. If one of
        them (other than a replay) changed the event's row, applying the event
        would overwrite newer data. (A later change in the very batch that
        rejected the event cannot be told apart and is not detected.) Without
        ``since``, the check starts at the last version whose mark is below
        the event: stricter, it may also flag earlier changes of the event's
        own batch.
        """
        meta = self._metadata()
        versions = sorted(meta)
        if since is None:
            since = 0
            for version in versions:
                if not self._reached(version, event):
                    since = version
        chain = [version for version in versions if version >= since]
        if since == 0:
            chain.insert(0, 0)  # the table before its first version: empty
        keys = [event.key] + ([event.old_key] if event.old_key is not None else [])
        for before, after in zip(chain, chain[1:]):
            if meta[after].get(REPLAY_MARK_KEY) == "true":
                continue
            if event.op == "t":
                changed = True
            else:
                changed = any(
                    self._row(before, key) != self._row(after, key) for key in keys
                )
            if changed:
                what = "the table" if event.op == "t" else f"the row {list(event.key)}"
                return (
                    f"superseded: {what} changed in version {after}, after position "
                    f"{list(event.position.values)}; not applied, as it would "
                    "overwrite newer data (replay with --force to apply it anyway)"
                )
        return None
