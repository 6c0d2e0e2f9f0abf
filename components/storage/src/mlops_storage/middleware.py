"""ASGI middleware: request ids and one structured access-log line per request.

The request id is the client's ``X-Request-ID`` when it is a sane token (1-128
characters from ``A-Z a-z 0-9 . _ : -``), else a fresh one; it is echoed in the
response's ``X-Request-ID`` and logged. Request headers are never logged, so
neither is a token.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mlops_storage import tracing
from mlops_storage.logs import ACCESS_LOGGER

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger(ACCESS_LOGGER)
error_log = logging.getLogger("mlops_storage.app")

_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_STATE_KEY = "request_id"

#: Logged when the client went away before any answer was sent.
CLIENT_CLOSED = 499


def accept_request_id(given: str | None) -> str:
    """The client's ``X-Request-ID`` when it is a sane token, else a fresh one."""
    return given if given and _REQUEST_ID_RE.fullmatch(given) else uuid.uuid4().hex


def request_id(scope: Scope) -> str:
    """The id of the request being served (empty outside a request)."""
    state = scope.get("state")
    if isinstance(state, dict):
        return str(state.get(_STATE_KEY, ""))
    return ""


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class RequestContext:
    """Wraps an ASGI app: request id, ``Cache-Control``, HEAD, the access log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = accept_request_id(_header(scope, b"x-request-id"))
        name = f"{scope.get('method', '')} {scope.get('path', '')}"
        trace = tracing.start_request(name, _header(scope, b"traceparent"))
        state = scope.setdefault("state", {})
        state[_STATE_KEY] = rid
        started = time.perf_counter()
        status = 0
        sent = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [
                    (key, value)
                    for key, value in message.get("headers", [])
                    if key.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", rid.encode()))
                if not any(key.lower() == b"cache-control" for key, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        inner = scope
        if scope.get("method") == "HEAD":
            # HEAD is GET without the body: the server drops the body itself
            # (it still sees HEAD in its own scope).
            inner = dict(scope, method="GET")
        failure: BaseException | None = None
        try:
            await self.app(inner, receive, send_with_id)
        except Exception as exc:  # logged below, once, with the request id
            failure = exc
            if status == 0:
                with contextlib.suppress(Exception):  # the client may be gone
                    await _internal_error(send_with_id)
        finally:
            duration = time.perf_counter() - started
            fields = {
                "method": scope.get("method", ""),
                "path": scope.get("path", ""),
                "query": bytes(scope.get("query_string", b"")).decode("latin-1"),
                "status": status or CLIENT_CLOSED,
                "duration_ms": round(duration * 1000, 3),
                "request_id": rid,
                "client": (scope.get("client") or ("", 0))[0],
                "bytes_out": sent,
            }
            if failure is not None:
                error_log.error(
                    "unexpected error on %s %s",
                    fields["method"],
                    fields["path"],
                    exc_info=(type(failure), failure, failure.__traceback__),
                    extra={"fields": {"request_id": rid}},
                )
            access_log.info("request", extra={"fields": fields})
            tracing.end_request(trace, status or CLIENT_CLOSED)


async def _internal_error(send: Send) -> None:
    body = b'{"error":"internal server error"}'
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
