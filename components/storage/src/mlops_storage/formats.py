"""Wire formats of dataset versions: Parquet and CSV bodies to and from Arrow."""

from __future__ import annotations

import io
import re

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from mlops_storage.errors import StorageError

PARQUET = "application/vnd.apache.parquet"
CSV = "text/csv"
JSON = "application/json"

#: Content types accepted for a Parquet body (the registered one first).
PARQUET_TYPES = (PARQUET, "application/x-parquet", "application/parquet")
#: Content types accepted for a CSV body.
CSV_TYPES = (CSV, "application/csv")

_CSV_COLUMN_RE = re.compile(r"CSV column #(\d+)")


class FormatError(StorageError):
    """The body is not a readable table of its declared format."""

    def __init__(self, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column


def media_type(content_type: str | None) -> str:
    """``text/csv; charset=utf-8`` -> ``text/csv`` (lower case, no parameters)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def body_format(content_type: str | None) -> str | None:
    """``"parquet"``, ``"csv"`` or None for an unsupported content type."""
    kind = media_type(content_type)
    if kind in PARQUET_TYPES:
        return "parquet"
    if kind in CSV_TYPES:
        return "csv"
    return None


def _csv_types(schema: pa.Schema | None) -> dict[str, pa.DataType]:
    """Existing column types that CSV can carry, to read a CSV body as them."""
    if schema is None:
        return {}
    types = {}
    for field in schema:
        kind = field.type
        if pa.types.is_nested(kind) or pa.types.is_dictionary(kind):
            continue
        types[field.name] = kind
    return types


def read_table(data: bytes, fmt: str, schema: pa.Schema | None = None) -> pa.Table:
    """Decode a request body; CSV columns take the existing ``schema``'s types."""
    if fmt == "parquet":
        try:
            return pq.read_table(pa.BufferReader(data))
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise FormatError(f"body is not a readable Parquet file: {exc}") from exc
    if fmt == "csv":
        if not data.strip():
            raise FormatError("CSV body is empty: a header line is required")
        # An empty field is null, a quoted empty one "" the empty string: the
        # way write_csv writes them, so a CSV download uploads back unchanged.
        options = pa_csv.ConvertOptions(
            column_types=_csv_types(schema),
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        )
        try:
            table = pa_csv.read_csv(pa.BufferReader(data), convert_options=options)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise FormatError(
                f"body is not a readable CSV table: {exc}", _csv_column(data, exc)
            ) from exc
        return _nullable_nulls(table)
    raise FormatError(f"unsupported format {fmt!r}")


def _csv_column(data: bytes, exc: Exception) -> str | None:
    """The column a CSV conversion error names by number, if any."""
    match = _CSV_COLUMN_RE.search(str(exc))
    if not match:
        return None
    try:
        header = pa_csv.read_csv(
            pa.BufferReader(data.split(b"\n", 1)[0] + b"\n")
        ).column_names
    except (pa.ArrowException, OSError, ValueError):
        return None
    index = int(match.group(1))
    return header[index] if index < len(header) else None


def _nullable_nulls(table: pa.Table) -> pa.Table:
    """An all-empty CSV column is inferred as type null; make it string."""
    if not any(pa.types.is_null(field.type) for field in table.schema):
        return table
    columns = [
        (column.cast(pa.string()) if pa.types.is_null(column.type) else column)
        for column in table.columns
    ]
    return pa.Table.from_arrays(columns, names=table.column_names)


def write_csv(table: pa.Table) -> bytes:
    """A table as CSV with a header line."""
    sink = io.BytesIO()
    pa_csv.write_csv(table, sink)
    return sink.getvalue()
