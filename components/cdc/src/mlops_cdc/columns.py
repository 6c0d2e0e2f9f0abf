"""Which columns a batch may store, and their types.

A table's columns are permanent (storage refuses to drop one), so a key of an
event does not become a column just by appearing: a batch may add a column
only if its name is usable (1-128 printable characters), the table's config
allows it (``TableConfig.columns``) and the table stays within its column
limit (``TableConfig.max_columns``, else ``Limits.max_columns``). An event
with a value for a column it may not add is a dead letter with the reason.

Types: existing columns keep theirs (storage refuses retyping); a new column
gets the type Arrow infers from the batch's values, nested values (objects,
arrays) as JSON text. An event with a value that does not fit is a dead letter.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from mlops_cdc.events import ChangeEvent
from mlops_cdc.limits import MAX_COLUMN_NAME

ARROW_ERRORS = (
    pa.ArrowInvalid,
    pa.ArrowTypeError,
    TypeError,
    ValueError,
    OverflowError,
)


class TableConfigError(ValueError):
    """The table config file cannot be used."""


@dataclass(frozen=True)
class TableConfig:
    """What a table may become; the default: any usable column, up to the limit."""

    #: The only columns the table may gain (None: any usable name).
    columns: frozenset[str] | None = None
    #: Most columns of the table (None: ``Limits.max_columns``).
    max_columns: int | None = None


def load_table_config(path: str | Path) -> dict[str, TableConfig]:
    """``{"users": {"columns": [...], "max_columns": 40}, "*": {...}}`` from JSON."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TableConfigError(f"cannot read table config {path}: {exc}") from None
    if not isinstance(data, dict):
        raise TableConfigError(f"table config {path}: expected a JSON object of tables")
    configs = {}
    for table, entry in data.items():
        where = f"table config {path}, table {table!r}"
        if not isinstance(entry, dict) or set(entry) - {"columns", "max_columns"}:
            raise TableConfigError(
                f"{where}: expected an object with columns and/or max_columns"
            )
        columns = entry.get("columns")
        if columns is not None and (
            not isinstance(columns, list)
            or not all(isinstance(name, str) for name in columns)
        ):
            raise TableConfigError(f"{where}: columns must be a list of names")
        limit = entry.get("max_columns")
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise TableConfigError(f"{where}: max_columns must be a positive integer")
        configs[table] = TableConfig(
            columns=None if columns is None else frozenset(columns),
            max_columns=limit,
        )
    return configs


def usable_name(name: str) -> bool:
    if not 0 < len(name) <= MAX_COLUMN_NAME or not name.isprintable():
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def coerce(value: Any, dtype: pa.DataType) -> Any:
    """Nested JSON values go into string columns as JSON text."""
    if isinstance(value, (dict, list)) and pa.types.is_string(dtype):
        return json.dumps(value, sort_keys=True)
    return value


def infer_type(values: Sequence[Any]) -> pa.DataType | None:
    """Arrow type for a new column from its non-null values (None: no fit)."""
    if any(isinstance(value, (dict, list)) for value in values):
        return pa.string()
    try:
        return pa.array(values).type
    except ARROW_ERRORS:
        pass
    # Mixed types: the first value that Arrow can represent decides.
    for value in values:
        try:
            return pa.array([value]).type
        except ARROW_ERRORS:
            continue
    return None


def fits(value: Any, dtype: pa.DataType) -> bool:
    try:
        pa.array([coerce(value, dtype)], type=dtype)
    except ARROW_ERRORS:
        return False
    return True


def short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def values_of(
    event: ChangeEvent, key_columns: Sequence[str]
) -> Iterable[tuple[str, Any]]:
    """Every (column, value) the event would store or look up."""
    yield from event.row.items()
    if event.op == "d":
        yield from zip(key_columns, event.key)
    if event.old_key is not None:
        yield from zip(key_columns, event.old_key)


class Columns:
    """The column types of one batch: the table's, plus the new ones allowed."""

    def __init__(
        self,
        table: str,
        fields: Mapping[str, pa.Field],
        key_columns: Sequence[str],
        config: TableConfig,
        max_columns: int,
    ) -> None:
        self.table = table
        self.key_columns = tuple(key_columns)
        self.existing = set(fields)
        self.types = {name: field.type for name, field in fields.items()}
        self.config = config
        self.limit = config.max_columns or max_columns
        self.new_table = not fields
        #: Events (by id) that would add a column they may not, and why.
        self.refused: dict[int, str] = {}
        self.suspect: set[str] = set()

    def _unusable(self, column: str) -> str | None:
        """Why ``column`` may never be added (None: it may, within the limit)."""
        if not usable_name(column):
            return (
                f"column name {short(column)} is not usable: 1-{MAX_COLUMN_NAME} "
                "printable characters"
            )
        allowed = self.config.columns
        if (
            allowed is not None
            and column not in allowed
            and column not in self.key_columns
        ):
            return (
                f"column {column!r} is not a column of table {self.table!r} and its "
                "table config does not allow it (columns in --table-config)"
            )
        return None

    def settle(self, events: Iterable[ChangeEvent]) -> None:
        """Type the new columns of ``events``; an event whose new columns may not
        all be added is refused whole (earlier events win the places left)."""
        planned: dict[str, list[Any]] = {}
        if self.new_table:
            for column in self.key_columns:  # key columns lead a new table
                planned[column] = []
        events = list(events)
        for event in events:
            values = [
                (c, v) for c, v in values_of(event, self.key_columns) if v is not None
            ]
            new = [c for c, _ in values if c not in self.types and c not in planned]
            if not new and not planned:
                continue  # nothing new, nothing to type (the common case)
            new = list(dict.fromkeys(new))
            reason = next(filter(None, map(self._unusable, new)), None)
            room = self.limit - len(self.types) - len(planned)
            if reason is None and len(new) > room:
                reason = (
                    f"column {new[max(room, 0)]!r} would be column "
                    f"{self.limit + 1} of table {self.table!r}, over its limit of "
                    f"{self.limit} (max_columns in --table-config, or --max-columns)"
                )
            if reason is not None:
                self.refused[id(event)] = reason
                continue
            for column in new:
                planned[column] = []
            for column, value in values:
                if column in planned:
                    planned[column].append(value)
        for column, column_values in planned.items():
            inferred = infer_type(column_values) if column_values else None
            if inferred is not None:
                self.types[column] = inferred
        self._find_suspects([e for e in events if id(e) not in self.refused])

    def keep_only(self, events: Iterable[ChangeEvent]) -> None:
        """Drop the new columns none of ``events`` (those applied) has a value for."""
        if len(self.types) == len(self.existing):
            return  # no new column (the common case)
        used = {
            column
            for event in events
            for column, value in values_of(event, self.key_columns)
            if value is not None
        }
        for column in list(self.types):
            if column not in self.existing and column not in used:
                if column not in self.key_columns:
                    del self.types[column]

    def _find_suspects(self, events: Sequence[ChangeEvent]) -> None:
        """Columns where some value does not convert (checked a column at a time)."""
        values: dict[str, list[Any]] = {}
        for event in events:
            for column, value in values_of(event, self.key_columns):
                if value is not None and column in self.types:
                    values.setdefault(column, []).append(
                        coerce(value, self.types[column])
                    )
        for column, column_values in values.items():
            try:
                pa.array(column_values, type=self.types[column])
            except ARROW_ERRORS:
                self.suspect.add(column)

    def misfit(self, event: ChangeEvent) -> str | None:
        """Why ``event`` cannot be stored with these columns (None: it can)."""
        if id(event) in self.refused:
            return self.refused[id(event)]
        for column, value in values_of(event, self.key_columns):
            if value is None:
                continue
            dtype = self.types.get(column)
            if dtype is None:
                return f"column {column!r}: cannot store {short(value)}"
            if column in self.suspect and not fits(value, dtype):
                return f"column {column!r}: cannot store {short(value)} as {dtype}"
        return None
