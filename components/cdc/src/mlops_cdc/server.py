"""HTTP front end of the change applier.

``POST /events?table=NAME[&key=a,b]``
    Body: JSON lines, one Debezium event per line. Needs
    ``Authorization: Bearer TOKEN`` by storage's rules (``mlops_storage.auth``).
    Answers 200 with the :class:`~mlops_cdc.apply.ApplyResult` as JSON, dead
    letters included (at most ``Limits.max_answer_dead_letters``; all are
    stored). The README's "Limits and errors" lists every other answer.
``GET /healthz``
    200 ``{"status": "ok"}``.
``GET /metrics``
    Prometheus metrics (:mod:`mlops_cdc.metrics`).

A request is refused before its body is read: the route, the credentials, the
query and the declared ``Content-Length`` are checked first, and a refusal
closes the connection instead of reading what the client still sends. Reads
have deadlines (:mod:`mlops_cdc.watchdog`): the request line and headers
within ``Limits.header_timeout``, the body within ``Limits.body_timeout``,
else 408. At most ``Limits.max_connections`` connections are served and
``Limits.max_batches`` batches received or applied at once; beyond, 503 with
``Retry-After``.

Logs are storage's (``mlops_storage.logs``): one access line per request from
``mlops_cdc.access`` (method, path, query, status, duration_ms, request_id,
client, bytes_out; ``/healthz`` at debug level). The request id is the
client's ``X-Request-ID`` when sane, else a new one, and is echoed in the
response. Request headers, and so tokens, are never logged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from mlops_cdc import metrics
from mlops_cdc.apply import ChangeApplier, validate_table_name
from mlops_cdc.errors import BatchTooLarge, CdcError, KeyMismatchError
from mlops_cdc.limits import Limits
from mlops_cdc.watchdog import Watchdog
from mlops_storage import ConcurrentWriteError, SchemaError, StorageError, auth, tracing
from mlops_storage.auth import TokenSource
from mlops_storage.middleware import CLIENT_CLOSED, accept_request_id

LOG = logging.getLogger("mlops_cdc.server")
ACCESS_LOG = logging.getLogger("mlops_cdc.access")

#: Largest request body accepted, in bytes (kept for callers of older versions).
DEFAULT_MAX_BODY = Limits().max_body
#: A refused request's body is read (and dropped) up to this much, for at most
#: LINGER_SECONDS, so the client sees the answer instead of a reset.
LINGER_BYTES = 64 * 1024
LINGER_SECONDS = 1.0
#: Backstop for each socket operation (a client that stops reading the answer).
SOCKET_TIMEOUT = 30.0
_CHUNK = 256 * 1024


def _busy_answer(message: str) -> bytes:
    body = json.dumps({"error": message}).encode() + b"\n"
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class CdcServer(ThreadingHTTPServer):
    """A threading HTTP server holding the applier its handlers use."""

    # Let in-flight requests finish on shutdown instead of killing them (the
    # deadlines end idle and slow connections).
    daemon_threads = False
    block_on_close = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        applier: ChangeApplier,
        max_body: int | None = None,
        *,
        token: TokenSource | None = None,
        allow_anonymous_writes: bool = False,
        limits: Limits | None = None,
    ) -> None:
        self.applier = applier
        limits = limits or applier.limits
        if max_body is not None:
            limits = _replace(limits, max_body=max_body)
        self.limits = limits
        self.max_body = limits.max_body
        #: The token writes need (None: writes refused, unless anonymous).
        self.token = token
        self.allow_anonymous_writes = allow_anonymous_writes
        self.connections = threading.BoundedSemaphore(limits.max_connections)
        #: Batches being received or applied now (at most ``max_batches``).
        self.batches = 0
        self._batches_lock = threading.Lock()
        self.watchdog = Watchdog()
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

    def process_request(self, request: Any, client_address: Any) -> None:
        """One thread per connection, up to ``max_connections``; beyond, 503."""
        if not self.connections.acquire(blocking=False):
            LOG.warning(
                "connection from %s refused: %d connections already served",
                client_address[0],
                self.limits.max_connections,
            )
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                request.sendall(
                    _busy_answer(
                        f"the service serves {self.limits.max_connections} "
                        "connections at once (--max-connections); retry"
                    )
                )
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.connections.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.watchdog.forget(request)
            self.connections.release()

    def take_batch(self) -> bool:
        """A place for one more batch (False: ``max_batches`` are in)."""
        with self._batches_lock:
            if self.batches >= self.limits.max_batches:
                return False
            self.batches += 1
            return True

    def batch_done(self) -> None:
        with self._batches_lock:
            self.batches -= 1

    def server_close(self) -> None:
        super().server_close()
        self.watchdog.stop()


def _replace(limits: Limits, **changes: Any) -> Limits:
    return Limits(**{**vars(limits), **changes})


class CdcRequestHandler(BaseHTTPRequestHandler):
    server_version = "mlops-cdc"
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT

    # Per request: set in handle_one_request, parse_request and send_response.
    request_id = ""
    _started: float | None = None
    _status = 0
    _sent = 0
    _unread = False
    _trace: tracing.Request | None = None

    @property
    def cdc(self) -> CdcServer:
        return cast(CdcServer, self.server)

    def handle_one_request(self) -> None:
        self.request_id = uuid.uuid4().hex
        self._started, self._status, self._sent = None, 0, 0
        self.command, self.path = "", ""  # not the previous request's on keep-alive
        # The line and headers, from now (or the previous answer), in time.
        self.cdc.watchdog.arm(self.connection, self.cdc.limits.header_timeout)
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
            self.cdc.watchdog.disarm(self.connection)
            if self._started is not None or self._status:
                self._log_access()
            tracing.end_request(self._trace, self._status or CLIENT_CLOSED)
            self._trace = None

    def parse_request(self) -> bool:
        self._started = time.perf_counter()
        parsed = super().parse_request()
        if self.cdc.watchdog.fired(self.connection):
            if self._status == 0:
                self._timeout(
                    "request line and headers", self.cdc.limits.header_timeout
                )
            return False
        if not parsed:
            return False
        self.cdc.watchdog.disarm(self.connection)
        self.request_id = accept_request_id(self.headers.get("X-Request-ID"))
        name = f"{self.command} {urlsplit(self.path).path}"
        self._trace = tracing.start_request(name, self.headers.get("traceparent"))
        return True

    def handle_expect_100(self) -> bool:
        """``Expect: 100-continue`` is answered only once the body is wanted."""
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
        LOG.info(format, *args, extra={"fields": {"request_id": self.request_id}})

    def finish(self) -> None:
        super().finish()
        if self._unread:
            self._linger()

    def _linger(self) -> None:
        """Read (and drop) a little of what a refused client still sends, so
        closing does not reset the connection before it reads the answer."""
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER_SECONDS
            left = LINGER_BYTES
            while left > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.connection.settimeout(remaining)
                data = self.connection.recv(min(left, 16384))
                if not data:
                    break
                left -= len(data)

    def _log_access(self) -> None:
        parts = urlsplit(self.path)
        started = self._started if self._started is not None else time.perf_counter()
        status = self._status or CLIENT_CLOSED
        seconds = time.perf_counter() - started
        fields = {
            "method": self.command or "",
            "path": parts.path,
            "query": parts.query,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "request_id": self.request_id,
            "client": self.client_address[0],
            "bytes_out": self._sent,
        }
        level = logging.DEBUG if parts.path == "/healthz" else logging.INFO
        ACCESS_LOG.log(level, "request", extra={"fields": fields})
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

    def _refuse(
        self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None
    ) -> None:
        """Answer without reading the body, and close the connection."""
        self.close_connection = True
        self._unread = self.command not in ("GET", "HEAD")
        self._error(status, message, {**(headers or {}), "Connection": "close"})

    def _timeout(self, what: str, seconds: float) -> None:
        self._refuse(
            HTTPStatus.REQUEST_TIMEOUT, f"{what} not received within {seconds:g} s"
        )
        self._unread = False  # the reading side is already shut

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
        self._refuse(HTTPStatus(verdict.status), verdict.message, headers)
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
            self._refuse(HTTPStatus.NOT_FOUND, f"no such path: {parts.path}")
            return
        if not self._authorized():
            return
        query = parse_qs(parts.query)
        tables, keys = query.get("table", []), query.get("key", [])
        if len(tables) != 1 or len(keys) > 1:
            self._refuse(HTTPStatus.BAD_REQUEST, "give exactly one ?table=NAME")
            return
        try:
            table = validate_table_name(tables[0])
        except CdcError as exc:
            self._refuse(HTTPStatus.BAD_REQUEST, str(exc))
            return
        length = self._declared_length()
        if length is None:
            return
        if not self.cdc.take_batch():
            self._refuse(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"the service takes {self.cdc.limits.max_batches} batches at once "
                "(--max-batches); retry",
                {"Retry-After": "1"},
            )
            return
        try:
            body = self._read_body(length)
            if body is not None:
                self._apply(table, keys[0] if keys else None, body)
        finally:
            self.cdc.batch_done()

    def _apply(self, table: str, key: str | None, body: bytes) -> None:
        limits = self.cdc.limits
        if body.count(b"\n") > limits.max_lines:
            self._error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the batch has more than {limits.max_lines} lines (--max-lines): "
                "send it in smaller batches",
            )
            return
        try:
            result = self.cdc.applier.apply_lines(
                table, body.split(b"\n"), key=key, request_id=self.request_id
            )
        except (KeyMismatchError, SchemaError) as exc:
            self._error(HTTPStatus.CONFLICT, str(exc))
        except BatchTooLarge as exc:
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, str(exc))
        except CdcError as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
        except ConcurrentWriteError as exc:
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, str(exc), {"Retry-After": "1"})
        except StorageError as exc:
            LOG.exception(
                "storage failed for table %r",
                table,
                extra={"fields": {"request_id": self.request_id}},
            )
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, str(exc))
        else:
            counts = {
                "table": result.table,
                "applied": result.applied,
                "skipped": result.skipped,
                "dead_letters": len(result.dead_letters),
                "version": result.version,
            }
            LOG.info(
                "table %s: applied %d, skipped %d, dead letters %d, version %s",
                result.table,
                result.applied,
                result.skipped,
                len(result.dead_letters),
                result.version,
                extra={"fields": {"request_id": self.request_id, **counts}},
            )
            answer = result.to_dict(limits.max_answer_dead_letters)
            self._send_json(HTTPStatus.OK, answer)

    def _declared_length(self) -> int | None:
        """The body's declared length, or None with the refusal sent."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._refuse(HTTPStatus.LENGTH_REQUIRED, "chunked bodies are not supported")
            return None
        header = self.headers.get("Content-Length")
        if (
            header is None
            or not header.strip().isascii()
            or not header.strip().isdigit()
        ):
            self._refuse(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
            return None
        length = int(header)
        if length > self.cdc.limits.max_body:
            self._refuse(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"body of {length} bytes exceeds {self.cdc.limits.max_body} "
                "(--max-body): send smaller batches",
            )
            return None
        return length

    def _read_body(self, length: int) -> bytes | None:
        """The body, read within the body deadline (else 408 sent, None)."""
        if self.headers.get("Expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
        seconds = self.cdc.limits.body_timeout
        self.cdc.watchdog.arm(self.connection, seconds)
        chunks: list[bytes] = []
        received = 0
        silent = False  # the socket's own timeout: as late as the deadline
        try:
            while received < length:
                chunk = self.rfile.read1(min(_CHUNK, length - received))
                if not chunk:
                    break
                chunks.append(chunk)
                received += len(chunk)
        except TimeoutError:
            silent = True
        finally:
            self.cdc.watchdog.disarm(self.connection)
        if received == length:
            return b"".join(chunks)
        if silent or self.cdc.watchdog.fired(self.connection):
            self._timeout("request body", seconds)
        else:
            self.close_connection = True
            self._error(HTTPStatus.BAD_REQUEST, "body shorter than Content-Length")
        return None


def make_server(
    applier: ChangeApplier,
    host: str = "127.0.0.1",
    port: int = 8080,
    max_body: int | None = None,
    *,
    token: TokenSource | None = None,
    allow_anonymous_writes: bool = False,
    limits: Limits | None = None,
) -> CdcServer:
    """Bind (port 0 picks a free port); call ``serve_forever`` to run.

    Writes need ``token``; without one they are refused, as by storage, unless
    ``allow_anonymous_writes``. ``limits``: the applier's unless given
    (``max_body`` overrides theirs).
    """
    return CdcServer(
        (host, port),
        applier,
        max_body=max_body,
        token=token,
        allow_anonymous_writes=allow_anonymous_writes,
        limits=limits,
    )
