"""Prometheus metrics of the HTTP service, for the canary judge.

``GET /metrics`` answers the Prometheus text format with two families:

``http_requests_total{method,route,status}``
    requests served, by method (the usual ones; any other is ``other``), route
    template (``/datasets/{name}``, never the raw path) and status code, so
    the label set stays small whatever clients send;
``http_request_duration_seconds{method,route}``
    a latency histogram.

Unmatched paths count under ``route="other"``. The server forks workers
(``mlops_storage.server``), so the client library runs in its multiprocess
mode: every process writes its samples to files in one directory
(``PROMETHEUS_MULTIPROC_DIR``, made here under the temporary directory when
unset) and ``/metrics`` sums them, whichever worker answers.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
if not os.environ.get(_DIR_ENV):
    # Before the client library is imported: it picks its value store then.
    _made = tempfile.mkdtemp(prefix="mlops-metrics-")
    os.environ[_DIR_ENV] = _made
    _owner = os.getpid()

    def _remove_dir() -> None:
        # Forked workers inherit the hook: only the process that made it removes it.
        if os.getpid() == _owner:
            shutil.rmtree(_made, ignore_errors=True)

    atexit.register(_remove_dir)

from prometheus_client import (  # noqa: E402 (after the directory is chosen)
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Where the metrics are served; not counted itself.
PATH = "/metrics"
#: The exposition's media type.
CONTENT_TYPE = str(CONTENT_TYPE_LATEST)
#: Latency buckets (seconds): fine below 100 ms, where the service answers.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "http_requests", "HTTP requests served", ["method", "route", "status"]
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to serve an HTTP request",
    ["method", "route"],
    buckets=BUCKETS,
)


#: Methods counted under their own name; any other (a client may send any
#: token) is ``other``, so no client can add series to the metrics files.
METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"})


def observe(method: str, route: str, status: int, seconds: float) -> None:
    """Count one request and its duration."""
    method = method if method in METHODS else "other"
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


def exposition() -> bytes:
    """Every process's metrics summed, in the Prometheus text format."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return bytes(generate_latest(registry))


class Metrics:
    """Wraps an ASGI app: counts and times each request, serves ``/metrics``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("path") == PATH and scope.get("method") == "GET":
            body = exposition()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", CONTENT_TYPE.encode()),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        started = time.perf_counter()
        status = 500  # an exception before any answer is answered 500 outside

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "other"
            observe(
                str(scope.get("method", "")),
                route,
                status,
                time.perf_counter() - started,
            )
