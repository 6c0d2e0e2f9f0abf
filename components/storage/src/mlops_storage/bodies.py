"""Error answers, and reading request bodies within their limits.

A body is read whole into memory (a write needs all of it to decode), so it is
bounded in size (413), in silence and in rate (408): a client sending a byte
now and then holds a connection and a share of the write memory, and must not
hold them for long.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from mlops_storage.settings import Settings
from starlette.requests import ClientDisconnect

#: Bytes per second a body must average once ``body_timeout`` has passed.
MIN_BODY_RATE = 16 * 1024


class ApiError(Exception):
    """An error answer: status, message and optional extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        column: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.column = column
        self.headers = headers or {}


def error_response(
    status: int,
    message: str,
    *,
    column: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    payload: dict[str, Any] = {"error": message}
    if column is not None:
        payload["column"] = column
    return JSONResponse(payload, status_code=status, headers=headers)


async def chunks(request: Request, timeout: float) -> AsyncIterator[bytes]:
    """The request body in chunks; ApiError 408 when the client goes silent."""
    stream = request.stream().__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), timeout)
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            raise ApiError(
                408,
                f"request body not received within {timeout:g} s",
                headers={"Connection": "close"},
            ) from None
        yield chunk


async def read_body(request: Request, limit: int, timeout: float) -> bytearray:
    """The whole body, at most ``limit`` bytes (413), sent in time (408).

    Silence longer than ``timeout`` is 408, and so is a trickle: once
    ``timeout`` has passed, the body must keep arriving at
    :data:`MIN_BODY_RATE` bytes per second on average.
    """
    body = bytearray()
    started = time.monotonic()
    async for chunk in chunks(request, timeout):
        body += chunk
        if len(body) > limit:
            raise ApiError(
                413,
                f"request body exceeds the limit of {limit} bytes",
                headers={"Connection": "close"},
            )
        late = time.monotonic() - started - timeout
        if late > 0 and len(body) < late * MIN_BODY_RATE:
            raise ApiError(
                408,
                f"request body arrives slower than {MIN_BODY_RATE} bytes/s",
                headers={"Connection": "close"},
            )
    return body


def content_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit():
        raise ApiError(400, f"invalid Content-Length {raw!r}")
    return int(raw)


async def discard_body(request: Request, settings: Settings) -> dict[str, str]:
    """Before refusing a PUT, read its body if it is small and already on the way.

    A client that did not ask ``Expect: 100-continue`` is sending the body
    regardless; reading it lets the client see the answer instead of a reset
    connection. Returns extra response headers (``Connection: close`` when the
    body is left unread).
    """
    expect = request.headers.get("expect", "").lower()
    try:
        length = content_length(request)
    except ApiError:
        length = None
    if "100-continue" in expect or length is None or length > settings.max_body_bytes:
        return {"Connection": "close"}
    try:
        async for _ in chunks(request, settings.body_timeout):
            pass
    except (ApiError, ClientDisconnect):
        return {"Connection": "close"}
    return {}
