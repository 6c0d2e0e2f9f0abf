"""The storage service as an ASGI application (FastAPI on Starlette).

Routes::

    GET  /healthz                     {"status": "ok"}
    GET  /datasets                    {"datasets": [...]}
    GET  /datasets/{name}/versions    {"name", "versions": [...], "details": [...]}
    GET  /datasets/{name}?version=N&limit=L&cursor=C
                                      {"name", "version", "rows": [...],
                                      "next_cursor"} (one page of rows; Accept:
                                      Parquet or CSV for the whole version)
    PUT  /datasets/{name}[?expected_version=N]
                                      Parquet or CSV body -> 201 {"name", "version",
                                      "num_rows"}
    GET  /openapi.json                the OpenAPI document

Every error is ``{"error": "..."}`` (a schema error adds ``"column"``).
"""

from __future__ import annotations

import json
import logging
import re
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote

import anyio
import anyio.to_thread
import pyarrow as pa
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from mlops_storage import auth, budget, encoding, formats, pages
from mlops_storage.bodies import (
    ApiError,
    content_length,
    discard_body,
    error_response,
    read_body,
)
from mlops_storage.cache import BodyCache
from mlops_storage.errors import (
    ConcurrentWriteError,
    DatasetNotFound,
    SchemaError,
    StorageError,
    StoreWriteError,
    VersionConflict,
    VersionNotFound,
)
from mlops_storage.metrics import Metrics
from mlops_storage.middleware import RequestContext, request_id
from mlops_storage.settings import DEFAULT_PAGE_ROWS, MAX_PAGE_ROWS, Settings
from mlops_storage.store import Store, validate_name
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

__all__ = ["ApiError", "create_app", "error_response", "openapi_document"]

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
    rows: list[dict[str, Any]] = Field(description="one page of rows, in order")
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page (same version); null "
        "after the last page"
    )


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


def _table_size(data: bytearray, fmt: str, limits: formats.Limits) -> int:
    """What the body will decode to, before decoding it (TooLarge past limits)."""
    if fmt == "parquet":
        return formats.parquet_size(formats.parquet_file(data), limits)
    return len(data) * budget.CSV_TABLE_FACTOR


def _write(
    store: Store,
    name: str,
    data: bytearray,
    fmt: str,
    expected: int | None,
    metadata: dict[str, str],
    limits: formats.Limits,
) -> tuple[int, int]:
    schema = None
    if fmt == "csv":  # CSV columns are read as the dataset's types
        try:
            schema = store.schema(name)
        except DatasetNotFound:
            pass
    table = formats.read_table(data, fmt, schema, limits)
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
    budgets: list[budget.Budget] = []
    limits = formats.Limits(settings.max_rows, settings.max_table_bytes)

    def write_limiter() -> anyio.CapacityLimiter:
        """The write path's thread pool (made in the worker's event loop)."""
        if not limiters:
            limiters.append(anyio.CapacityLimiter(settings.threads))
        return limiters[0]

    def write_memory() -> budget.Budget:
        """The worker's memory for writes (each forked worker has its own)."""
        if not budgets:
            budgets.append(budget.Budget(settings.write_memory))
        return budgets[0]

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
        if isinstance(exc, StoreWriteError):
            return ApiError(507, str(exc))
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
                "description": "One page of rows as JSON (`limit`, `cursor`); "
                f"with `Accept: {formats.PARQUET}` the version's Parquet file, "
                f"with `Accept: {formats.CSV}` the version as CSV (streamed). "
                "`X-Dataset-Version` names the version.",
                "content": {
                    formats.PARQUET: {"schema": {"type": "string", "format": "binary"}},
                    formats.CSV: {"schema": {"type": "string"}},
                },
            },
            304: {
                "description": "Not modified: `If-None-Match` named this "
                "representation's `ETag` (no body)."
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
        limit: Annotated[
            int,
            Query(
                ge=1,
                le=MAX_PAGE_ROWS,
                description="rows per JSON page at most (a page also stops near "
                f"{pages.PAGE_BYTES // 1024 // 1024} MiB of data)",
            ),
        ] = DEFAULT_PAGE_ROWS,
        cursor: Annotated[
            str | None,
            Query(
                max_length=40,
                description="where the JSON page starts: the `next_cursor` of "
                "the previous page (it names its version too)",
            ),
        ] = None,
    ) -> Response:
        """One version of a dataset (default: the latest): a page of its rows
        as JSON, or the whole version as Parquet or CSV.

        Each answer carries an `ETag`; a request whose `If-None-Match` names
        it is answered 304 without a body.
        """
        _read_auth(request)
        name = _name(name)
        for param in ("version", "limit", "cursor"):
            if len(request.query_params.getlist(param)) > 1:
                raise ApiError(400, f"give the {param} parameter at most once")
        kind = negotiate(request.headers.get("accept"))
        if kind is None:
            raise ApiError(
                406,
                "cannot answer in any accepted type: use "
                f"{formats.JSON}, {formats.PARQUET} or {formats.CSV}",
            )
        offset = 0
        if cursor is not None:
            try:
                at, offset = pages.parse_cursor(cursor)
            except pages.BadCursor as exc:
                raise ApiError(400, str(exc)) from exc
            if version is not None and version != at:
                raise ApiError(
                    400, f"cursor {cursor!r} is of version {at}, not {version}"
                )
            version = at
        # Finding the version is a few stat calls (manifests are cached), cheap
        # enough for the event loop; reading rows is not (the thread pool).
        try:
            number, path = store.data_file(name, version)
        except StorageError as exc:
            raise storage_error(exc) from exc
        page = f"json.{offset}.{limit}"
        etag = entity_tag(number, path.name, page if kind == "json" else kind)
        headers = _dataset_headers(number, etag, settings)
        if not_modified(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        if kind == "parquet":
            headers["Content-Disposition"] = (
                f'attachment; filename="{name}-v{number}.parquet"'
            )
            return FileResponse(path, media_type=formats.PARQUET, headers=headers)
        if kind == "csv":
            await anyio.to_thread.run_sync(_check_csv, name, number, path)
            headers["Content-Disposition"] = (
                f'attachment; filename="{name}-v{number}.csv"'
            )
            return StreamingResponse(
                pages.csv_stream(path), media_type=formats.CSV, headers=headers
            )
        key = (page, name, number, path.name)
        body = await bodies.get_or_make(
            key, lambda: _json_page(name, number, path, offset, limit)
        )
        return Response(body, media_type=formats.JSON, headers=headers)

    def _json_page(
        name: str, number: int, path: Path, offset: int, limit: int
    ) -> bytes:
        try:
            rows, after = pages.read_page(path, offset, limit)
        except pages.BadCursor as exc:
            raise ApiError(400, str(exc)) from exc
        except (OSError, pa.ArrowException) as exc:
            raise storage_error(
                StorageError(f"cannot read data of {name!r} version {number}: {exc}")
            ) from exc
        return encoding.dumps(
            {
                "name": name,
                "version": number,
                "rows": rows.to_pylist(),
                "next_cursor": None if after is None else pages.cursor(number, after),
            }
        )

    def _check_csv(name: str, number: int, path: Path) -> None:
        try:
            pages.check_csv(path)
        except (pa.ArrowException, ValueError) as exc:
            raise ApiError(
                406,
                f"dataset {name!r} version {number} cannot be written as CSV "
                f"({exc}); ask for {formats.PARQUET} or {formats.JSON}",
            ) from exc
        except OSError as exc:
            raise storage_error(
                StorageError(f"cannot read data of {name!r} version {number}: {exc}")
            ) from exc

    @api.put(
        "/datasets/{name}",
        operation_id="writeDataset",
        status_code=201,
        response_model=Written,
        responses=_errors(400, 401, 403, 408, 409, 413, 415, 503, 507),
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
        A body over the size limit, or holding more rows or decoding to more
        bytes than an upload may, is a 413 naming the limit; a store that
        cannot write (its volume full) answers 507.
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
            length = content_length(request)
            if length is not None and length > settings.max_body_bytes:
                raise ApiError(
                    413,
                    f"request body of {length} bytes exceeds the limit of "
                    f"{settings.max_body_bytes} bytes",
                )
        except ApiError as exc:
            exc.headers.update(await discard_body(request, settings))
            raise
        metadata = {"source": "http", "request_id": request_id(request.scope)}
        memory = write_memory()
        wait = settings.body_timeout
        read = False
        try:
            # The body's share of the worker's write memory before it is read,
            # the table's once the body tells its size.
            async with memory.hold(length or settings.max_body_bytes, wait) as lease:
                data = await read_body(request, settings.max_body_bytes, wait)
                read = True
                # A pool of their own: writes queued on the commit lock never
                # hold up the reads in the default pool.
                size = await anyio.to_thread.run_sync(
                    _table_size, data, fmt, limits, limiter=write_limiter()
                )
                await lease.resize(budget.write_need(len(data), size), wait)
                version, num_rows = await anyio.to_thread.run_sync(
                    _write,
                    store,
                    name,
                    data,
                    fmt,
                    expected_version,
                    metadata,
                    limits,
                    limiter=write_limiter(),
                )
        except budget.BudgetTimeout:
            headers = {"Retry-After": "1"}
            if not read:
                headers.update(await discard_body(request, settings))
            raise ApiError(
                503,
                f"the service is busy writing other versions (no memory free "
                f"for this one within {wait:g} s): retry later",
                headers=headers,
            ) from None
        except ClientDisconnect:
            raise ApiError(400, "client disconnected while sending the body") from None
        except formats.TooLarge as exc:
            raise ApiError(413, str(exc)) from exc
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
