"""Reads that never hold a whole version: JSON pages and streamed CSV.

A JSON read answers one page of rows: at most ``limit`` rows and about
:data:`PAGE_BYTES` of Arrow data (at least one row), decoded from the
Parquet file's row groups around the page, never the whole file. The page
names the next one with a cursor, ``"<version>:<offset>"``, so paging the
latest version stays on that version while others are written. CSV is
written batch by batch as the client takes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from mlops_storage import formats

#: Arrow bytes one JSON page holds at most (a wider row still makes a page).
PAGE_BYTES = 4 * 1024 * 1024
#: Rows decoded at a time when reading a page, and when streaming CSV (the
#: store writes row groups of ``store.ROW_GROUP_ROWS``: a page decodes from
#: the one holding its first row).
BATCH_ROWS = 1024
CSV_BATCH_ROWS = 8192

_CURSOR_RE = re.compile(r"(\d{1,18}):(\d{1,18})")


class BadCursor(ValueError):
    """A cursor that no page ever gave."""


def cursor(version: int, offset: int) -> str:
    return f"{version}:{offset}"


def parse_cursor(text: str) -> tuple[int, int]:
    """``(version, offset)`` of a cursor; BadCursor if malformed."""
    match = _CURSOR_RE.fullmatch(text)
    if not match or int(match.group(1)) < 1:
        raise BadCursor(
            f"invalid cursor {text!r}: pass the next_cursor of the previous page"
        )
    return int(match.group(1)), int(match.group(2))


def _batches_from(parquet: pq.ParquetFile, offset: int) -> Iterator[pa.RecordBatch]:
    """The file's rows from ``offset`` on, decoding from its row group."""
    meta = parquet.metadata
    start = 0
    for group in range(meta.num_row_groups):
        rows = meta.row_group(group).num_rows
        if start + rows > offset:
            break
        start += rows
    else:
        return
    skip = offset - start
    groups = list(range(group, meta.num_row_groups))
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, row_groups=groups):
        if skip >= batch.num_rows:
            skip -= batch.num_rows
            continue
        yield batch.slice(skip)
        skip = 0


def read_page(path: Path, offset: int, limit: int) -> tuple[pa.Table, int | None]:
    """Rows ``offset``.. of a data file, at most ``limit`` and about PAGE_BYTES;
    and the offset of the next page (None: this was the last).

    BadCursor when ``offset`` is past the end.
    """
    parquet = pq.ParquetFile(path)
    total = parquet.metadata.num_rows
    if offset > total:
        raise BadCursor(f"cursor offset {offset} is past the last row ({total})")
    taken: list[pa.RecordBatch] = []
    rows = size = 0
    for batch in _batches_from(parquet, offset):
        part = batch.slice(0, limit - rows)
        if size + part.nbytes > PAGE_BYTES:
            per_row = max(1, part.nbytes // max(1, part.num_rows))
            fits = (PAGE_BYTES - size) // per_row
            part = part.slice(0, max(fits, 0 if rows else 1))
            taken.append(part)
            rows += part.num_rows
            break
        taken.append(part)
        rows += part.num_rows
        size += part.nbytes
        if rows >= limit:
            break
    table = pa.Table.from_batches(taken, schema=parquet.schema_arrow)
    end = offset + rows
    return table, (end if end < total else None)


def csv_stream(path: Path) -> Iterator[bytes]:
    """The data file as CSV, a batch at a time (check_csv first: the header)."""
    parquet = pq.ParquetFile(path)
    yield from formats.csv_chunks(
        parquet.iter_batches(batch_size=CSV_BATCH_ROWS), parquet.schema_arrow
    )


def check_csv(path: Path) -> None:
    """Raise (Arrow's error) unless the file's columns can all be CSV."""
    formats.check_csv(pq.read_schema(path))
