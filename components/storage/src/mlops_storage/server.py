"""Read-only JSON HTTP service over a :class:`~mlops_storage.Store`.

Routes (GET and HEAD only)::

    /healthz                      {"status": "ok"}
    /datasets                     {"datasets": [...]}
    /datasets/{name}/versions     {"name": ..., "versions": [...]}
    /datasets/{name}?version=N    {"name": ..., "version": N, "rows": [...]}

Errors are ``{"error": "..."}`` with 404 (unknown dataset, version or route),
400 (invalid name or version parameter), 405 (other methods) or 500.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import logging
import math
import re
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from mlops_storage.errors import DatasetNotFound, StorageError, VersionNotFound
from mlops_storage.store import Store, validate_name

logger = logging.getLogger(__name__)

_VERSION_RE = re.compile(r"[0-9]{1,18}")


class BadRequest(Exception):
    """A client error detected while parsing the request."""


def to_jsonable(value: Any) -> Any:
    """Convert a value from ``Table.to_pylist()`` to something ``json`` accepts."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


class StorageHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the store its handlers serve."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: Store) -> None:
        self.store = store
        super().__init__(address, StorageRequestHandler)


class StorageRequestHandler(BaseHTTPRequestHandler):
    """Routes GET requests to the store and answers in JSON."""

    server: StorageHTTPServer
    server_version = "mlops-storage/0.1"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._handle(send_body=True)

    def do_HEAD(self) -> None:
        self._handle(send_body=False)

    def _method_not_allowed(self) -> None:
        self._send_json(
            HTTPStatus.METHOD_NOT_ALLOWED,
            {"error": f"method {self.command} not allowed; this service is read-only"},
            headers={"Allow": "GET, HEAD"},
        )

    do_POST = do_PUT = do_PATCH = do_DELETE = _method_not_allowed

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s - %s", self.address_string(), format % args)

    # ---------------------------------------------------------------- routing

    def _handle(self, *, send_body: bool) -> None:
        try:
            status, payload = self._route()
        except BadRequest as exc:
            status, payload = HTTPStatus.BAD_REQUEST, {"error": str(exc)}
        except (DatasetNotFound, VersionNotFound) as exc:
            status, payload = HTTPStatus.NOT_FOUND, {"error": str(exc)}
        except StorageError as exc:
            logger.error("storage error on %s: %s", self.path, exc)
            status, payload = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(exc)}
        except Exception:
            logger.exception("unexpected error on %s", self.path)
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            payload = {"error": "internal server error"}
        self._send_json(status, payload, send_body=send_body)

    def _route(self) -> tuple[HTTPStatus, dict[str, Any]]:
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        parts = [unquote(part) for part in path.split("/")[1:]]
        store = self.server.store

        if parts == ["healthz"]:
            return HTTPStatus.OK, {"status": "ok"}
        if parts == ["datasets"]:
            return HTTPStatus.OK, {"datasets": store.datasets()}
        if len(parts) == 3 and parts[0] == "datasets" and parts[2] == "versions":
            name = self._name(parts[1])
            return HTTPStatus.OK, {"name": name, "versions": store.versions(name)}
        if len(parts) == 2 and parts[0] == "datasets":
            name = self._name(parts[1])
            version = self._version(parse_qs(url.query, keep_blank_values=True))
            if version is None:
                version = store.versions(name)[-1]
            table = store.read(name, version)
            rows = [to_jsonable(row) for row in table.to_pylist()]
            return HTTPStatus.OK, {"name": name, "version": version, "rows": rows}
        return HTTPStatus.NOT_FOUND, {"error": f"no such route: {url.path}"}

    @staticmethod
    def _name(raw: str) -> str:
        try:
            return validate_name(raw)
        except StorageError as exc:
            raise BadRequest(str(exc)) from exc

    @staticmethod
    def _version(query: dict[str, list[str]]) -> int | None:
        values = query.get("version")
        if values is None:
            return None
        if len(values) != 1:
            raise BadRequest("give the version parameter at most once")
        raw = values[0].strip()
        if not _VERSION_RE.fullmatch(raw) or int(raw) < 1:
            raise BadRequest(
                f"invalid version {values[0]!r}: expected a positive integer"
            )
        return int(raw)

    # --------------------------------------------------------------- response

    def _send_json(
        self,
        status: HTTPStatus,
        payload: dict[str, Any],
        *,
        send_body: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        body = json.dumps(payload, allow_nan=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if send_body:
            self.wfile.write(body)


def make_server(store: Store, host: str, port: int) -> ThreadingHTTPServer:
    """Bind (but do not start) the service; port 0 picks a free port."""
    return StorageHTTPServer((host, port), store)
