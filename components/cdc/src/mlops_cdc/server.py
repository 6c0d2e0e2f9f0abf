"""HTTP front end of the change applier.

``POST /events?table=NAME[&key=a,b]``
    Body: JSON lines, one Debezium event per line. Needs
    ``Authorization: Bearer TOKEN`` by storage's rules (``mlops_storage.auth``):
    401 without or with malformed credentials, 403 with a wrong token or when
    no token is configured (unless anonymous writes are allowed), 503 when the
    token file cannot be read. Answers 200 with the
    :class:`~mlops_cdc.apply.ApplyResult` as JSON, dead letters included.
    400 for a bad request, 409 when the table's key columns or schema do not
    allow the batch, 411/413 for a missing or too large body, 500 when storage
    fails, 503 when concurrent writers kept the version number busy.
``GET /healthz``
    200 ``{"status": "ok"}``.
``GET /metrics``
    Prometheus metrics (:mod:`mlops_cdc.metrics`): requests by route and
    status, a latency histogram.

Logs are storage's (``mlops_storage.logs``): one access line per request from
``mlops_cdc.access`` with storage's fields (method, path, query, status,
duration_ms, request_id, client, bytes_out; ``/healthz`` at debug level, so
probes do not drown the rest). The request id is the client's
``X-Request-ID`` when sane, else a new one, and is echoed in the response.
Request headers, and so tokens, are never logged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from mlops_cdc import metrics
from mlops_cdc.apply import (
    CdcError,
    ChangeApplier,
    KeyMismatchError,
    validate_table_name,
)
from mlops_storage import ConcurrentWriteError, SchemaError, StorageError, auth
from mlops_storage.auth import TokenSource
from mlops_storage.middleware import CLIENT_CLOSED, accept_request_id

LOG = logging.getLogger("mlops_cdc.server")
ACCESS_LOG = logging.getLogger("mlops_cdc.access")

#: Largest request body accepted, in bytes.
DEFAULT_MAX_BODY = 64 * 1024 * 1024


class CdcServer(ThreadingHTTPServer):
    """A threading HTTP server holding the applier its handlers use."""

    # Let in-flight requests finish on shutdown instead of killing them.
    daemon_threads = False
    block_on_close = True

    def __init__(
        self,
        address: tuple[str, int],
        applier: ChangeApplier,
        max_body: int = DEFAULT_MAX_BODY,
        *,
        token: TokenSource | None = None,
        allow_anonymous_writes: bool = False,
    ) -> None:
        self.applier = applier
        self.max_body = max_body
        #: The token writes need (None: writes refused, unless anonymous).
        self.token = token
        self.allow_anonymous_writes = allow_anonymous_writes
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, CdcRequestHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        if ":" in str(host):
            host = f"[{host}]"
        return f"http://{host}:{port}"


class CdcRequestHandler(BaseHTTPRequestHandler):
    server_version = "mlops-cdc"
    protocol_version = "HTTP/1.1"

    # Per request: set in handle_one_request, parse_request and send_response.
    request_id = ""
    _started: float | None = None
    _status = 0
    _sent = 0

    @property
    def cdc(self) -> CdcServer:
        return cast(CdcServer, self.server)

    def handle_one_request(self) -> None:
        self.request_id = uuid.uuid4().hex
        self._started, self._status, self._sent = None, 0, 0
        self.command, self.path = "", ""  # not the previous request's on keep-alive
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client went away: status 499
        except Exception:
            # Logged here, once, as JSON with the request id (socketserver would
            # print a bare traceback), and answered if nothing was sent yet.
            self.close_connection = True
            LOG.exception(
                "unexpected error on %s %s",
                self.command,
                self.path,
                extra={"fields": {"request_id": self.request_id}},
            )
            if self._status == 0:
                with contextlib.suppress(OSError):
                    self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")
        finally:
            if self._started is not None or self._status:
                self._log_access()

    def parse_request(self) -> bool:
        self._started = time.perf_counter()
        if not super().parse_request():
            return False
        self.request_id = accept_request_id(self.headers.get("X-Request-ID"))
        return True

    def send_response(self, code: int, message: str | None = None) -> None:
        super().send_response(code, message)
        self._status = int(code)
        self.send_header("X-Request-ID", self.request_id)

    def send_error(
        self, code: int, message: str | None = None, explain: str | None = None
    ) -> None:
        """http.server's own refusals (bad request line, unknown method) as JSON."""
        self.close_connection = True
        status = HTTPStatus(code)
        self._error(status, message or status.phrase, {"Connection": "close"})

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Replaced by the one access line per request (``_log_access``)."""

    def log_message(self, format: str, *args: Any) -> None:
        LOG.info(
            format,
            *args,
            extra={"fields": {"request_id": self.request_id}},
        )

    def _log_access(self) -> None:
        parts = urlsplit(self.path)
        started = self._started if self._started is not None else time.perf_counter()
        fields = {
            "method": self.command or "",
            "path": parts.path,
            "query": parts.query,
            "status": self._status or CLIENT_CLOSED,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "request_id": self.request_id,
            "client": self.client_address[0],
            "bytes_out": self._sent,
        }
        level = logging.DEBUG if parts.path == "/healthz" else logging.INFO
        ACCESS_LOG.log(level, "request", extra={"fields": fields})
        status = self._status or CLIENT_CLOSED
        seconds = time.perf_counter() - started
        metrics.observe(self.command or "", parts.path, status, seconds)

    def _send_json(
        self, status: HTTPStatus, body: Any, headers: dict[str, str] | None = None
    ) -> None:
        payload = json.dumps(body).encode("utf-8") + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
            self._sent += len(payload)

    def _error(
        self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None
    ) -> None:
        self._send_json(status, {"error": message}, headers)

    def _authorized(self) -> bool:
        """Storage's rules for a write; on refusal the answer is sent."""
        verdict = auth.check(
            self.cdc.token,
            self.headers.get("Authorization"),
            anonymous=self.cdc.allow_anonymous_writes,
        )
        if verdict.status == 0:
            return True
        headers = {}
        if verdict.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="mlops-cdc"'
        if verdict.status == 503:
            LOG.error("write refused: %s", verdict.message)
        self._discard_body()
        self._error(HTTPStatus(verdict.status), verdict.message, headers)
        return False

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/healthz":
            self._send_json(HTTPStatus.OK, {"status": "ok"})
        elif path == metrics.PATH:
            body = metrics.exposition()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", metrics.CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self._sent += len(body)
        elif path == "/events":
            self._error(HTTPStatus.METHOD_NOT_ALLOWED, "use POST /events?table=NAME")
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no such path: {path}")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != "/events":
            self._discard_body()
            self._error(HTTPStatus.NOT_FOUND, f"no such path: {parts.path}")
            return
        if not self._authorized():
            return
        query = parse_qs(parts.query)
        tables = query.get("table", [])
        keys = query.get("key", [])
        if len(tables) != 1 or len(keys) > 1:
            self._discard_body()
            self._error(HTTPStatus.BAD_REQUEST, "give exactly one ?table=NAME")
            return
        body = self._read_body()
        if body is None:
            return
        try:
            table = validate_table_name(tables[0])
            result = self.cdc.applier.apply_lines(
                table, body.split(b"\n"), key=keys[0] if keys else None
            )
        except (KeyMismatchError, SchemaError) as exc:
            self._error(HTTPStatus.CONFLICT, str(exc))
        except CdcError as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
        except ConcurrentWriteError as exc:
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, str(exc))
        except StorageError as exc:
            LOG.exception(
                "storage failed for table %r",
                tables[0],
                extra={"fields": {"request_id": self.request_id}},
            )
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, str(exc))
        else:
            LOG.info(
                "table %s: applied %d, skipped %d, dead letters %d, version %s",
                result.table,
                result.applied,
                result.skipped,
                len(result.dead_letters),
                result.version,
                extra={
                    "fields": {
                        "request_id": self.request_id,
                        "table": result.table,
                        "applied": result.applied,
                        "skipped": result.skipped,
                        "dead_letters": len(result.dead_letters),
                        "version": result.version,
                    }
                },
            )
            self._send_json(HTTPStatus.OK, result.to_dict())

    def _content_length(self) -> int | None:
        header = self.headers.get("Content-Length")
        if header is None or not header.strip().isdigit():
            return None
        return int(header)

    def _discard_body(self) -> None:
        length = self._content_length()
        if length is not None and length <= self.cdc.max_body:
            self.rfile.read(length)
        else:
            self.close_connection = True

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._error(HTTPStatus.LENGTH_REQUIRED, "chunked bodies are not supported")
            return None
        length = self._content_length()
        if length is None:
            self.close_connection = True
            self._error(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
            return None
        if length > self.cdc.max_body:
            self.close_connection = True
            self._error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"body of {length} bytes exceeds {self.cdc.max_body}",
            )
            return None
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            self._error(HTTPStatus.BAD_REQUEST, "body shorter than Content-Length")
            return None
        return body


def make_server(
    applier: ChangeApplier,
    host: str = "127.0.0.1",
    port: int = 8080,
    max_body: int = DEFAULT_MAX_BODY,
    *,
    token: TokenSource | None = None,
    allow_anonymous_writes: bool = False,
) -> CdcServer:
    """Bind (port 0 picks a free port); call ``serve_forever`` to run.

    Writes need ``token``; without one they are refused, as by storage, unless
    ``allow_anonymous_writes``.
    """
    return CdcServer(
        (host, port),
        applier,
        max_body=max_body,
        token=token,
        allow_anonymous_writes=allow_anonymous_writes,
    )
