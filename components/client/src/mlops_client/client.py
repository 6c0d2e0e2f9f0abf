"""HTTP client of the storage service, on the standard library only."""

from __future__ import annotations

import http.client
import json
import math
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from mlops_client.errors import ClientError, NotFound, ServiceError, ServiceUnavailable

DEFAULT_URL = "http://127.0.0.1:8080"


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

    def __init__(self, base_url: str = DEFAULT_URL, timeout: float = 10.0) -> None:
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
        """Rows of ``version`` (default: latest) with the version actually served."""
        path = f"/datasets/{self._quote(name)}"
        if version is not None:
            path += "?" + urlencode({"version": str(version)})
        body = self._get(path)
        rows = self._field(body, "rows", list)
        if not all(isinstance(row, dict) for row in rows):
            raise ServiceError("malformed response from service: rows must be objects")
        return DatasetRows(
            name=str(self._field(body, "name", str)),
            version=int(self._field(body, "version", int)),
            rows=rows,
        )

    def fetch_rows(self, name: str, version: int | None = None) -> list[dict[str, Any]]:
        """Rows of ``version`` (default: latest) of dataset ``name``."""
        return self.fetch(name, version).rows

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

    def _get(self, path: str) -> Any:
        url = self.base_url + path
        request = urllib.request.Request(
            url, headers={"Accept": "application/json"}, method="GET"
        )
        try:
            # B310 is safe here: __init__ only accepts http and https URLs.
            with urllib.request.urlopen(  # nosec B310
                request, timeout=self.timeout
            ) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            message = self._error_message(exc)
            if exc.code == 404:
                raise NotFound(message) from None
            raise ServiceError(message, exc.code) from None
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
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ServiceError(f"malformed response from service: {exc}") from None

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
