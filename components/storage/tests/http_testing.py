"""A small HTTP client for the tests, on http.client (full control of headers)."""

from __future__ import annotations

import http.client
import io
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

PARQUET = "application/vnd.apache.parquet"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> Answer:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port, timeout=timeout
    )
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path or "/", body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return Answer(
            response.status, {k.lower(): v for k, v in response.getheaders()}, data
        )
    finally:
        conn.close()


def parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def from_parquet(data: bytes) -> pa.Table:
    return pq.read_table(pa.BufferReader(data))


def put(
    url: str,
    name: str,
    body: bytes,
    *,
    token: str | None = None,
    content_type: str = PARQUET,
    query: str = "",
    headers: dict[str, str] | None = None,
) -> Answer:
    sent = {"Content-Type": content_type, **(headers or {})}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    target = f"{url}/datasets/{name}" + (f"?{query}" if query else "")
    return request(target, "PUT", body, sent)
