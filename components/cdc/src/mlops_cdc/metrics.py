"""Prometheus metrics of cdc's HTTP front end, for the canary judge.

The same families as storage's (``mlops_storage.metrics``, whose multiprocess
store this reuses): ``http_requests_total{method,route,status}`` and the
``http_request_duration_seconds`` histogram, served on ``GET /metrics``. The
routes are cdc's own paths; any other path counts as ``other``.
"""

from __future__ import annotations

from mlops_storage import metrics as _shared

PATH = _shared.PATH
CONTENT_TYPE = _shared.CONTENT_TYPE
ROUTES = frozenset({"/healthz", "/events"})
#: Methods counted by name; any other is ``other``: a client picks the method,
#: and each new label value is a new series in every process's metrics file.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})


def route(path: str) -> str:
    """The route label of a request path (bounded: unknown paths are ``other``)."""
    return path if path in ROUTES else "other"


def method_label(method: str) -> str:
    """The method label of a request (bounded: unknown methods are ``other``)."""
    return method if method in METHODS else "other"


def observe(method: str, path: str, status: int, seconds: float) -> None:
    """Count one request (not ``/metrics`` itself) and its duration."""
    if path != PATH:
        _shared.observe(method_label(method), route(path), status, seconds)


def exposition() -> bytes:
    """The metrics in the Prometheus text format."""
    return _shared.exposition()
