"""HTTP client of the storage service, on the standard library only."""

from __future__ import annotations

import http.client
import io
import json
import math
import os
import re
import select
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlencode, urlsplit

from mlops_client.errors import (
    AuthError,
    ClientError,
    Conflict,
    NotFound,
    ServiceError,
    ServiceUnavailable,
    TokenError,
)

DEFAULT_URL = "http://127.0.0.1:8080"
# Names of environment variables, not secrets.
TOKEN_ENV = "MLOPS_TOKEN"  # nosec B105
TOKEN_FILE_ENV = "MLOPS_TOKEN_FILE"  # nosec B105
#: The caller's W3C trace context; the xtask sets it in the Jobs it runs.
TRACEPARENT_ENV = "TRACEPARENT"
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")

#: Media types of the formats a dataset version travels in.
MEDIA_TYPES = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv"}
#: File name suffixes that tell a format.
SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}

#: Rows asked for per JSON page (the service's largest page).
PAGE_ROWS = 10_000

#: How long an upload waits for "100 Continue" before sending the body anyway.
CONTINUE_WAIT = 5.0


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    default = {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), parts.port or default


class _TokenStaysHome(urllib.request.HTTPRedirectHandler):
    """Follows redirects as urllib does, but a redirect to another scheme,
    host or port loses ``Authorization``: urllib's own handler forwards every
    header but the body's, which hands the token to whoever the service (or
    anyone between) redirects to."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(newurl) != _origin(req.full_url):
            new.remove_header("Authorization")
        return new


_OPENER = urllib.request.build_opener(_TokenStaysHome)


def read_token_file(path: str | os.PathLike[str]) -> str:
    """The token in a file (surrounding whitespace removed); TokenError if none."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise TokenError(f"cannot read token file {path}: {reason}") from None
    if not token:
        raise TokenError(f"token file {path} is empty")
    return token


def token_from_environment(environ: dict[str, str] | None = None) -> str | None:
    """``$MLOPS_TOKEN``, else the token in ``$MLOPS_TOKEN_FILE``, else None."""
    env = os.environ if environ is None else environ
    value = env.get(TOKEN_ENV, "").strip()
    if value:
        return value
    path = env.get(TOKEN_FILE_ENV, "").strip()
    return read_token_file(path) if path else None


def traceparent_from_environment(environ: dict[str, str] | None = None) -> str | None:
    """``$TRACEPARENT`` when it is a valid W3C ``traceparent``, else None.

    Sent with every request, it makes the services log the request inside the
    caller's trace (a pipeline run's smoke check leads to storage's log lines).
    """
    env = os.environ if environ is None else environ
    value = env.get(TRACEPARENT_ENV, "").strip()
    match = _TRACEPARENT.fullmatch(value)
    if not match or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
        return None
    return value


def format_of(path: str | os.PathLike[str]) -> str | None:
    """``"parquet"`` or ``"csv"`` from a file name's suffix, else None."""
    return SUFFIXES.get(Path(path).suffix.lower())


@dataclass(frozen=True)
class VersionInfo:
    """One committed version: its number, commit time and row count."""

    version: int
    created_at: str | None
    num_rows: int | None


@dataclass(frozen=True)
class Download:
    """One version of a dataset as a file: name, version, format and bytes."""

    name: str
    version: int
    format: str
    content: bytes


@dataclass(frozen=True)
class DatasetRows:
    """One version of a dataset as served: its name, version number and rows."""

    name: str
    version: int
    rows: list[dict[str, Any]]


class Client:
    """Read datasets from the storage service at ``base_url``.

    >>> client = Client("http://127.0.0.1:8080")  # doctest: +SKIP
    >>> client.list_datasets()  # doctest: +SKIP
    ['events']
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        timeout: float = 10.0,
        token: str | None = None,
        traceparent: str | None = None,
    ) -> None:
        """``token`` is sent as ``Authorization: Bearer``; None: from
        ``$MLOPS_TOKEN`` or the file named by ``$MLOPS_TOKEN_FILE``, if set.
        ``traceparent`` is sent as the W3C header; None: ``$TRACEPARENT`` if valid."""
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ClientError(
                f"invalid service URL {base_url!r}: expected http(s)://host[:port]"
            )
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            raise ClientError(
                f"invalid timeout {timeout!r}: expected a positive number of seconds"
            )
        self.base_url = base_url.rstrip("/")
        self.timeout = float(timeout)
        self.token = token if token is not None else token_from_environment()
        self.traceparent = (
            traceparent if traceparent is not None else traceparent_from_environment()
        )

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    def health(self) -> bool:
        """True if the service answers ``/healthz`` with status ok."""
        body = self._get("/healthz")
        return isinstance(body, dict) and body.get("status") == "ok"

    def list_datasets(self) -> list[str]:
        """Names of all datasets, sorted."""
        body = self._get("/datasets")
        datasets = self._field(body, "datasets", list)
        return [str(name) for name in datasets]

    def list_versions(self, name: str) -> list[int]:
        """Version numbers of dataset ``name``, ascending."""
        body = self._get(f"/datasets/{self._quote(name)}/versions")
        return [int(version) for version in self._field(body, "versions", list)]

    def fetch(self, name: str, version: int | None = None) -> DatasetRows:
        """Rows of ``version`` (default: latest) with the version actually served.

        The service answers JSON a page at a time; the pages are followed by
        their cursor (which names the first page's version, so a version
        written meanwhile never mixes in) up to the last.
        """
        path = f"/datasets/{self._quote(name)}"
        query = {"limit": str(PAGE_ROWS)}
        if version is not None:
            query["version"] = str(version)
        rows: list[dict[str, Any]] = []
        while True:
            body = self._get(path + "?" + urlencode(query))
            page = self._field(body, "rows", list)
            if not all(isinstance(row, dict) for row in page):
                raise ServiceError(
                    "malformed response from service: rows must be objects"
                )
            rows.extend(page)
            after = body.get("next_cursor")
            if after is None:
                break
            if not isinstance(after, str) or after == query.get("cursor"):
                raise ServiceError("malformed response from service: bad next_cursor")
            query = {"limit": str(PAGE_ROWS), "cursor": after}
        return DatasetRows(
            name=str(self._field(body, "name", str)),
            version=int(self._field(body, "version", int)),
            rows=rows,
        )

    def fetch_rows(self, name: str, version: int | None = None) -> list[dict[str, Any]]:
        """Rows of ``version`` (default: latest) of dataset ``name``."""
        return self.fetch(name, version).rows

    def versions(self, name: str) -> list[VersionInfo]:
        """Every version of ``name`` with its commit time and row count."""
        body = self._get(f"/datasets/{self._quote(name)}/versions")
        numbers = [int(v) for v in self._field(body, "versions", list)]
        details = body.get("details") if isinstance(body, dict) else None
        known: dict[int, dict[str, Any]] = {}
        if isinstance(details, list):
            for item in details:
                if isinstance(item, dict) and isinstance(item.get("version"), int):
                    known[item["version"]] = item
        infos = []
        for number in numbers:
            item = known.get(number, {})
            created = item.get("created_at")
            rows = item.get("num_rows")
            infos.append(
                VersionInfo(
                    version=number,
                    created_at=created if isinstance(created, str) else None,
                    num_rows=rows if isinstance(rows, int) else None,
                )
            )
        return infos

    def download(
        self, name: str, version: int | None = None, format: str = "parquet"
    ) -> Download:
        """The data of ``version`` (default: latest) as Parquet or CSV bytes."""
        if format not in MEDIA_TYPES:
            raise ClientError(f"unknown format {format!r}: use parquet or csv")
        path = f"/datasets/{self._quote(name)}"
        if version is not None:
            path += "?" + urlencode({"version": str(version)})
        content, headers = self._fetch(path, MEDIA_TYPES[format])
        served = headers.get("X-Dataset-Version", "")
        if not served.isdigit():
            raise ServiceError("malformed response from service: no X-Dataset-Version")
        return Download(name=name, version=int(served), format=format, content=content)

    def put(
        self,
        name: str,
        data: bytes | IO[bytes],
        format: str,
        *,
        expected_version: int | None = None,
        length: int | None = None,
    ) -> int:
        """Write ``data`` (Parquet or CSV) as the next version; return its number.

        With ``expected_version`` the write only happens if that is still the
        latest version (0: the dataset must not exist yet), else :class:`Conflict`.
        A file object needs ``length`` (its size in bytes).
        """
        if format not in MEDIA_TYPES:
            raise ClientError(f"unknown format {format!r}: use parquet or csv")
        if isinstance(data, (bytes, bytearray)):
            length = len(data)
            data = io.BytesIO(data)
        if length is None:
            raise ClientError("put() of a file object needs its length")
        path = f"/datasets/{self._quote(name)}"
        if expected_version is not None:
            path += "?" + urlencode({"expected_version": str(expected_version)})
        body = self._upload(path, data, length, MEDIA_TYPES[format])
        return int(self._field(body, "version", int))

    def put_file(
        self,
        name: str,
        path: str | os.PathLike[str],
        format: str | None = None,
        *,
        expected_version: int | None = None,
    ) -> int:
        """Write a Parquet or CSV file as the next version (format from the suffix)."""
        fmt = format or format_of(path)
        if fmt is None:
            raise ClientError(
                f"cannot tell the format of {path} from its name: give the format "
                "(parquet or csv)"
            )
        try:
            handle = open(path, "rb")
        except OSError as exc:
            raise ClientError(f"cannot read {path}: {exc.strerror}") from None
        with handle:
            size = os.fstat(handle.fileno()).st_size
            return self.put(
                name, handle, fmt, expected_version=expected_version, length=size
            )

    # -------------------------------------------------------------- internals

    @staticmethod
    def _quote(name: str) -> str:
        return quote(name, safe="")

    @staticmethod
    def _field(body: Any, key: str, kind: type) -> Any:
        if not isinstance(body, dict) or not isinstance(body.get(key), kind):
            raise ServiceError(
                f"malformed response from service: missing {kind.__name__} {key!r}"
            )
        return body[key]

    def _headers(self, accept: str) -> dict[str, str]:
        headers = {"Accept": accept}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.traceparent:
            headers["traceparent"] = self.traceparent
        return headers

    def _get(self, path: str) -> Any:
        raw, _ = self._fetch(path, "application/json")
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ServiceError(f"malformed response from service: {exc}") from None

    def _fetch(self, path: str, accept: str) -> tuple[bytes, http.client.HTTPMessage]:
        url = self.base_url + path
        request = urllib.request.Request(
            url, headers=self._headers(accept), method="GET"
        )
        try:
            # B310 is safe here: __init__ only accepts http and https URLs.
            with _OPENER.open(request, timeout=self.timeout) as response:  # nosec B310
                raw = response.read()
                headers = response.headers
        except urllib.error.HTTPError as exc:
            raise self._status_error(exc.code, self._error_message(exc)) from None
        except urllib.error.URLError as exc:
            raise ServiceUnavailable(self.base_url, str(exc.reason)) from None
        except TimeoutError:
            raise ServiceUnavailable(
                self.base_url, f"no answer within {self.timeout:g} s"
            ) from None
        except OSError as exc:  # reset or dropped connection
            raise ServiceUnavailable(self.base_url, str(exc)) from None
        except http.client.HTTPException as exc:
            raise ServiceError(f"invalid HTTP response from service: {exc!r}") from None
        return raw, headers

    @staticmethod
    def _status_error(status: int, message: str) -> ServiceError:
        if status == 404:
            return NotFound(message)
        if status in (401, 403):
            return AuthError(message, status)
        if status == 409:
            return Conflict(message)
        return ServiceError(message, status)

    def _upload(self, path: str, body: IO[bytes], length: int, media: str) -> Any:
        """PUT a body; with ``Expect: 100-continue`` over plain HTTP, so that a
        refusal (token, type, size) arrives before the body is sent."""
        parts = urlsplit(self.base_url)
        plain = parts.scheme == "http"
        connection_class = (
            http.client.HTTPConnection if plain else http.client.HTTPSConnection
        )
        conn = connection_class(parts.netloc, timeout=self.timeout)
        try:
            conn.putrequest("PUT", parts.path + path, skip_accept_encoding=True)
            for key, value in self._headers("application/json").items():
                conn.putheader(key, value)
            conn.putheader("Content-Type", media)
            conn.putheader("Content-Length", str(length))
            if plain:
                conn.putheader("Expect", "100-continue")
            conn.endheaders()
            if not plain or self._continue(conn.sock):
                try:
                    conn.send(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the service answered early and closed; read why
            response = conn.getresponse()
            status, raw = response.status, response.read()
        except TimeoutError:
            raise ServiceUnavailable(
                self.base_url, f"no answer within {self.timeout:g} s"
            ) from None
        except OSError as exc:  # refused, reset or dropped connection
            raise ServiceUnavailable(self.base_url, exc.strerror or str(exc)) from None
        except http.client.HTTPException as exc:
            raise ServiceError(f"invalid HTTP response from service: {exc!r}") from None
        finally:
            conn.close()
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        if status >= 400:
            message = f"HTTP {status}"
            if isinstance(payload, dict) and isinstance(payload.get("error"), str):
                message = payload["error"]
            raise self._status_error(status, message)
        if payload is None:
            raise ServiceError("malformed response from service: not JSON")
        return payload

    def _continue(self, sock: socket.socket) -> bool:
        """After headers with ``Expect: 100-continue``: True to send the body
        (the service said 100 Continue, or nothing in time), False when the
        service already answered (a refusal) and the body must not follow."""
        deadline = time.monotonic() + min(self.timeout, CONTINUE_WAIT)
        seen = b""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            ready, _, _ = select.select([sock], [], [], remaining)
            if not ready:
                return True
            seen = sock.recv(1024, socket.MSG_PEEK)
            if not seen:
                return False  # closed: getresponse() reports it
            if len(seen) >= 12 and not seen.startswith(
                (b"HTTP/1.1 100", b"HTTP/1.0 100")
            ):
                return False
            end = seen.find(b"\r\n\r\n")
            if end >= 0:
                sock.recv(end + 4)  # consume the interim response
                return True
            time.sleep(0.001)  # part of a status line: let the rest arrive

    @staticmethod
    def _error_message(exc: urllib.error.HTTPError) -> str:
        try:
            body = json.loads(exc.read())
        except (ValueError, OSError):
            body = None
        finally:
            exc.close()
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return str(body["error"])
        return f"HTTP {exc.code} {exc.reason}"
