"""The storage service as an ASGI application (FastAPI on Starlette).

Routes::

    GET  /healthz                     {"status": "ok"}
    GET  /datasets                    {"datasets": [...]}
    GET  /datasets/{name}/versions    {"name", "versions": [...], "details": [...]}
    GET  /datasets/{name}?version=N   {"name", "version", "rows": [...]}
                                      (Accept: Parquet or CSV for the data itself)
    PUT  /datasets/{name}[?expected_version=N]
                                      Parquet or CSV body -> 201 {"name", "version",
                                      "num_rows"}
    GET  /openapi.json                the OpenAPI document

Every error is ``{"error": "..."}`` (a schema error adds ``"column"``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Annotated, Any
from urllib.parse import unquote

import anyio
import anyio.to_thread
import pyarrow as pa
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from mlops_storage import auth, encoding, formats
from mlops_storage.cache import BodyCache
from mlops_storage.errors import (
    ConcurrentWriteError,
    DatasetNotFound,
    SchemaError,
    StorageError,
    VersionConflict,
    VersionNotFound,
)
from mlops_storage.metrics import Metrics
from mlops_storage.middleware import RequestContext, request_id
from mlops_storage.settings import Settings
from mlops_storage.store import Store, validate_name
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

logger = logging.getLogger("mlops_storage.app")

to_jsonable = encoding.to_jsonable  # where it was before encoding.py

MAX_VERSION = 10**18 - 1


def _version_string() -> str:
    try:
        return package_version("mlops-storage")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


# ------------------------------------------------------------------ models
# Only the OpenAPI document uses these: handlers build their JSON directly.


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class DatasetList(BaseModel):
    datasets: list[str]


class VersionInfo(BaseModel):
    version: int
    created_at: str | None = Field(description="commit time, ISO 8601 UTC")
    num_rows: int | None


class VersionList(BaseModel):
    name: str
    versions: list[int] = Field(description="committed versions, ascending")
    details: list[VersionInfo]


class Rows(BaseModel):
    name: str
    version: int = Field(description="the version served")
    rows: list[dict[str, Any]]


class Written(BaseModel):
    name: str
    version: int = Field(description="the version this write created")
    num_rows: int


class Error(BaseModel):
    error: str
    column: str | None = Field(
        default=None, description="the offending column, for schema errors"
    )


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Error} for code in codes}


# ----------------------------------------------------------------- helpers


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


def _name(raw: str) -> str:
    try:
        return validate_name(raw)
    except StorageError as exc:
        raise ApiError(400, str(exc)) from exc


_MEDIA_RE = re.compile(r"^\s*([^;\s]+)\s*(?:;(.*))?$")


def negotiate(accept: str | None) -> str | None:
    """``"json"``, ``"parquet"`` or ``"csv"`` for an Accept header; None: 406."""
    if not accept or not accept.strip():
        return "json"
    offers: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept.split(",")):
        match = _MEDIA_RE.match(part)
        if not match:
            continue
        quality = 1.0
        for param in (match.group(2) or "").split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            offers.append((-quality, index, match.group(1).lower()))
    for _, _, kind in sorted(offers):
        if kind in (formats.JSON, "application/*", "*/*"):
            return "json"
        if kind in formats.PARQUET_TYPES:
            return "parquet"
        if kind in formats.CSV_TYPES or kind == "text/*":
            return "csv"
    return None


def _read_auth(request: Request) -> None:
    """Reads need the token only when the service runs with ``auth_reads``."""
    settings: Settings = request.app.state.settings
    if settings.auth_reads:
        _authorize(request, settings)


def _authorize(request: Request, settings: Settings) -> None:
    verdict = auth.check(
        settings.token,
        request.headers.get("authorization"),
        anonymous=settings.allow_anonymous_writes,
    )
    if verdict.status == 0:
        return
    headers = {}
    if verdict.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="mlops-storage"'
    if verdict.status == 503:
        logger.error("write refused: %s", verdict.message)
    raise ApiError(verdict.status, verdict.message, headers=headers)


def entity_tag(version: int, data_file: str, kind: str) -> str:
    """The ETag of one representation of one version.

    A version never changes, but each representation (JSON, CSV, Parquet) is
    other bytes, and the data file's random name tells a version from one of
    the same number in a dataset made again.
    """
    stem = data_file.rsplit("/", 1)[-1].split(".", 1)[0]
    return f'"{version}-{stem[:16]}-{kind}"'


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weak comparison) or is ``*``."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


def _dataset_headers(version: int, etag: str, settings: Settings) -> dict[str, str]:
    # Caches may keep a version's body but must ask again (If-None-Match):
    # without a version in the URL the answer changes with the next write.
    private = "private, " if settings.auth_reads else ""
    return {
        "X-Dataset-Version": str(version),
        "ETag": etag,
        "Cache-Control": f"{private}no-cache",
    }


# -------------------------------------------------------------- the write


async def _chunks(request: Request, timeout: float) -> AsyncIterator[bytes]:
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


async def _read_body(request: Request, limit: int, timeout: float) -> bytes:
    body = bytearray()
    async for chunk in _chunks(request, timeout):
        body += chunk
        if len(body) > limit:
            raise ApiError(
                413,
                f"request body exceeds the limit of {limit} bytes",
                headers={"Connection": "close"},
            )
    return bytes(body)


def _content_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit():
        raise ApiError(400, f"invalid Content-Length {raw!r}")
    return int(raw)


async def _discard_body(request: Request, settings: Settings) -> dict[str, str]:
    """Before refusing a PUT, read its body if it is small and already on the way.

    A client that did not ask ``Expect: 100-continue`` is sending the body
    regardless; reading it lets the client see the answer instead of a reset
    connection. Returns extra response headers (``Connection: close`` when the
    body is left unread).
    """
    expect = request.headers.get("expect", "").lower()
    try:
        length = _content_length(request)
    except ApiError:
        length = None
    if "100-continue" in expect or length is None or length > settings.max_body_bytes:
        return {"Connection": "close"}
    try:
        async for _ in _chunks(request, settings.body_timeout):
            pass
    except (ApiError, ClientDisconnect):
        return {"Connection": "close"}
    return {}


def _write(
    store: Store,
    name: str,
    data: bytes,
    fmt: str,
    expected: int | None,
    metadata: dict[str, str],
) -> tuple[int, int]:
    schema = None
    if fmt == "csv":  # CSV columns are read as the dataset's types
        try:
            schema = store.schema(name)
        except DatasetNotFound:
            pass
    table = formats.read_table(data, fmt, schema)
    version = store.write(name, table, metadata=metadata, expected_version=expected)
    return version, table.num_rows


# ------------------------------------------------------------------ the app


def create_app(store: Store, settings: Settings | None = None) -> Metrics:
    """The ASGI application serving ``store``: FastAPI inside the request log."""
    settings = settings or Settings()
    api = FastAPI(
        title="mlops-storage",
        version=_version_string(),
        description=(
            "Versioned dataset store of the MLOps platform. Reads are open "
            "unless the service runs with --auth-reads; writes need "
            "`Authorization: Bearer TOKEN`."
        ),
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    bodies = BodyCache(settings.cache_bytes)
    limiters: list[anyio.CapacityLimiter] = []

    def write_limiter() -> anyio.CapacityLimiter:
        """The write path's thread pool (made in the worker's event loop)."""
        if not limiters:
            limiters.append(anyio.CapacityLimiter(settings.threads))
        return limiters[0]

    api.state.store = store
    api.state.settings = settings
    api.state.bodies = bodies

    @api.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(
            exc.status, exc.message, column=exc.column, headers=exc.headers
        )

    @api.exception_handler(RequestValidationError)
    async def invalid_request(
        request: Request, exc: RequestValidationError
    ) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = first.get("loc", ("", "request"))
        field = str(where[-1]) if where else "request"
        given = first.get("input")
        if field in ("version", "expected_version"):
            wanted = "a positive integer" if field == "version" else "an integer >= 0"
            message = f"invalid {field} {given!r}: expected {wanted}"
        else:
            message = f"invalid {field} {given!r}: {first.get('msg', 'invalid')}"
        return error_response(400, message)

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 404:
            bad_name = _encoded_bad_name(request)
            if bad_name is not None:
                return error_response(400, bad_name)
            return error_response(404, f"no such route: {request.url.path}")
        if exc.status_code == 405:
            allowed = _allowed_methods(api, request) or headers.get("Allow", "")
            headers["Allow"] = allowed
            return error_response(
                405,
                f"method {request.method} not allowed on {request.url.path}"
                + (f"; allowed: {allowed}" if allowed else ""),
                headers=headers,
            )
        return error_response(exc.status_code, str(exc.detail), headers=headers)

    @api.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after this answer; RequestContext logs it once.
        return error_response(500, "internal server error")

    def storage_error(exc: StorageError) -> ApiError:
        if isinstance(exc, (DatasetNotFound, VersionNotFound)):
            return ApiError(404, str(exc))
        logger.error("storage error: %s", exc)
        return ApiError(500, str(exc))

    @api.get(
        "/healthz", response_model=Health, tags=["service"], operation_id="healthz"
    )
    def healthz() -> JSONResponse:
        """Liveness and readiness: the process answers."""
        return JSONResponse({"status": "ok"})

    @api.get(
        "/datasets",
        operation_id="listDatasets",
        response_model=DatasetList,
        responses=_errors(401, 403),
        tags=["datasets"],
    )
    def list_datasets(request: Request) -> JSONResponse:
        """Names of every dataset with at least one version, sorted."""
        _read_auth(request)
        return JSONResponse({"datasets": store.datasets()})

    api.add_api_route(
        "/datasets/",
        list_datasets,
        methods=["GET"],
        include_in_schema=False,
    )

    @api.get(
        "/datasets/{name}/versions",
        operation_id="listVersions",
        response_model=VersionList,
        responses=_errors(400, 401, 403, 404),
        tags=["datasets"],
    )
    def list_versions(name: str, request: Request) -> JSONResponse:
        """Committed versions of a dataset, with when each was made and its size."""
        _read_auth(request)
        name = _name(name)
        try:
            versions = store.versions(name)
            details = []
            for number in versions:
                try:
                    details.append(store.describe(name, number))
                except VersionNotFound:  # pragma: no cover - versions never vanish
                    continue
        except StorageError as exc:
            raise storage_error(exc) from exc
        return JSONResponse({"name": name, "versions": versions, "details": details})

    @api.get(
        "/datasets/{name}",
        operation_id="readDataset",
        response_model=Rows,
        responses={
            200: {
                "description": "The rows as JSON; with `Accept: "
                f"{formats.PARQUET}` the Parquet file, with `Accept: "
                f"{formats.CSV}` CSV. `X-Dataset-Version` names the version.",
                "content": {
                    formats.PARQUET: {"schema": {"type": "string", "format": "binary"}},
                    formats.CSV: {"schema": {"type": "string"}},
                },
            },
            304: {
                "description": "Not modified: `If-None-Match` named this "
                "version's `ETag` (no body)."
            },
            **_errors(400, 401, 403, 404, 406),
        },
        tags=["datasets"],
    )
    async def read_dataset(
        name: str,
        request: Request,
        version: Annotated[
            int | None,
            Query(ge=1, le=MAX_VERSION, description="version (default: latest)"),
        ] = None,
    ) -> Response:
        """One version of a dataset (default: the latest).

        Each answer carries the version's `ETag`; a request whose
        `If-None-Match` names it is answered 304 without a body.
        """
        _read_auth(request)
        name = _name(name)
        if len(request.query_params.getlist("version")) > 1:
            raise ApiError(400, "give the version parameter at most once")
        kind = negotiate(request.headers.get("accept"))
        if kind is None:
            raise ApiError(
                406,
                "cannot answer in any accepted type: use "
                f"{formats.JSON}, {formats.PARQUET} or {formats.CSV}",
            )
        # Finding the version is a few stat calls (manifests are cached), cheap
        # enough for the event loop; encoding a body is not (the thread pool).
        try:
            number, path = store.data_file(name, version)
        except StorageError as exc:
            raise storage_error(exc) from exc
        etag = entity_tag(number, path.name, kind)
        headers = _dataset_headers(number, etag, settings)
        if not_modified(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        if kind == "parquet":
            headers["Content-Disposition"] = (
                f'attachment; filename="{name}-v{number}.parquet"'
            )
            return FileResponse(path, media_type=formats.PARQUET, headers=headers)
        key = (kind, name, number, path.name)
        if kind == "csv":
            body = await bodies.get_or_make(key, lambda: _csv_body(name, number))
            headers["Content-Disposition"] = (
                f'attachment; filename="{name}-v{number}.csv"'
            )
            return Response(body, media_type=formats.CSV, headers=headers)
        body = await bodies.get_or_make(key, lambda: _json_body(name, number))
        return Response(body, media_type=formats.JSON, headers=headers)

    def _table(name: str, number: int) -> pa.Table:
        try:
            return store.read(name, number)
        except StorageError as exc:
            raise storage_error(exc) from exc

    def _json_body(name: str, number: int) -> bytes:
        rows = _table(name, number).to_pylist()
        return encoding.dumps({"name": name, "version": number, "rows": rows})

    def _csv_body(name: str, number: int) -> bytes:
        try:
            return formats.write_csv(_table(name, number))
        except (pa.ArrowException, ValueError) as exc:
            raise ApiError(
                406,
                f"dataset {name!r} version {number} cannot be written as CSV "
                f"({exc}); ask for {formats.PARQUET} or {formats.JSON}",
            ) from exc

    @api.put(
        "/datasets/{name}",
        operation_id="writeDataset",
        status_code=201,
        response_model=Written,
        responses=_errors(400, 401, 403, 408, 409, 413, 415, 503),
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "The whole new version as a Parquet file or as CSV "
                "with a header line (CSV columns of an existing dataset are read "
                "as that dataset's column types).",
                "content": {
                    formats.PARQUET: {"schema": {"type": "string", "format": "binary"}},
                    formats.CSV: {"schema": {"type": "string"}},
                },
            },
            "security": [{"bearer": []}],
        },
        tags=["datasets"],
    )
    async def write_dataset(
        name: str,
        request: Request,
        expected_version: Annotated[
            int | None,
            Query(
                ge=0,
                le=MAX_VERSION,
                description="write only if this is still the latest version "
                "(0: only if the dataset does not exist yet); else 409",
            ),
        ] = None,
    ) -> JSONResponse:
        """Create the next version of a dataset from the request body, atomically.

        The schema rules of the store apply: a version may add nullable columns
        and reorder columns; dropping or retyping a column is a 400 naming it.
        """
        try:
            name = _name(name)
            _authorize(request, settings)
            if len(request.query_params.getlist("expected_version")) > 1:
                raise ApiError(400, "give the expected_version parameter at most once")
            fmt = formats.body_format(request.headers.get("content-type"))
            if fmt is None:
                given = formats.media_type(request.headers.get("content-type"))
                raise ApiError(
                    415,
                    f"unsupported Content-Type {given or '(none)'!r}: send "
                    f"{formats.PARQUET} or {formats.CSV}",
                )
            length = _content_length(request)
            if length is not None and length > settings.max_body_bytes:
                raise ApiError(
                    413,
                    f"request body of {length} bytes exceeds the limit of "
                    f"{settings.max_body_bytes} bytes",
                )
        except ApiError as exc:
            exc.headers.update(await _discard_body(request, settings))
            raise
        try:
            data = await _read_body(
                request, settings.max_body_bytes, settings.body_timeout
            )
        except ClientDisconnect:
            raise ApiError(400, "client disconnected while sending the body") from None
        metadata = {"source": "http", "request_id": request_id(request.scope)}
        try:
            # A pool of their own: writes queued on the commit lock never hold
            # up the reads' encoding in the default pool.
            version, num_rows = await anyio.to_thread.run_sync(
                _write,
                store,
                name,
                data,
                fmt,
                expected_version,
                metadata,
                limiter=write_limiter(),
            )
        except formats.FormatError as exc:
            raise ApiError(400, str(exc), column=exc.column) from exc
        except SchemaError as exc:
            raise ApiError(400, str(exc), column=exc.column) from exc
        except VersionConflict as exc:
            raise ApiError(409, str(exc)) from exc
        except ConcurrentWriteError as exc:
            raise ApiError(503, str(exc), headers={"Retry-After": "1"}) from exc
        except StorageError as exc:
            raise storage_error(exc) from exc
        headers = {
            "X-Dataset-Version": str(version),
            "Location": f"/datasets/{name}?version={version}",
        }
        return JSONResponse(
            {"name": name, "version": version, "num_rows": num_rows},
            status_code=201,
            headers=headers,
        )

    original_openapi = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = original_openapi()
            # Validation errors are answered 400 {"error"}, never FastAPI's 422.
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            components = schema.setdefault("components", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                components.get("schemas", {}).pop(unused, None)
            components.setdefault("securitySchemes", {})["bearer"] = {
                "type": "http",
                "scheme": "bearer",
                "description": "the service's token (--token-file, "
                f"${auth.TOKEN_FILE_ENV} or ${auth.TOKEN_ENV})",
            }
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
    # Outermost, so a request's time is what its client waits, every layer
    # included; the router names the route template in the shared scope.
    return Metrics(RequestContext(api))


def _allowed_methods(api: FastAPI, request: Request) -> str:
    """Every method some route serves on this path (Starlette names only one's)."""
    methods: set[str] = set()
    for route in api.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


def _encoded_bad_name(request: Request) -> str | None:
    """A dataset route whose name held an encoded ``/``: the name is invalid."""
    raw = request.scope.get("raw_path") or b""
    parts = raw.split(b"?", 1)[0].split(b"/")
    if len(parts) in (3, 4) and parts[1] == b"datasets":
        if len(parts) == 4 and parts[3] != b"versions":
            return None
        name = unquote(parts[2].decode("latin-1"))
        try:
            validate_name(name)
        except StorageError as exc:
            return str(exc)
    return None


def openapi_document(app: Metrics) -> dict[str, Any]:
    """The OpenAPI document of an application made by :func:`create_app`."""
    context = app.app
    inner = context.app if isinstance(context, RequestContext) else None
    if not isinstance(inner, FastAPI):
        raise TypeError("not an application made by create_app")
    return inner.openapi()


def dump_openapi(doc: dict[str, Any]) -> str:
    """The OpenAPI document as checked in: indented JSON, newline at the end."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
