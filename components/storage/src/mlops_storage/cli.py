"""The ``mlops-storage`` command.

Exit status: 0 served and stopped cleanly (SIGTERM/SIGINT), 1 cannot bind or
a worker process died, 2 bad usage or configuration (one line on stderr).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn, TypeVar

from mlops_storage import logs
from mlops_storage.auth import TOKEN_ENV, TOKEN_FILE_ENV, TokenError, token_source
from mlops_storage.errors import RootError
from mlops_storage.root import resolve_root
from mlops_storage.settings import (
    AUTH_READS_ENV,
    BODY_TIMEOUT_ENV,
    CACHE_BYTES_ENV,
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_CACHE_BYTES,
    DEFAULT_GRACEFUL_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_KEEPALIVE_TIMEOUT,
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_ROWS,
    DEFAULT_MAX_TABLE,
    DEFAULT_THREADS,
    DEFAULT_WORKERS,
    DEFAULT_WRITE_MEMORY,
    GRACEFUL_TIMEOUT_ENV,
    HEADER_TIMEOUT_ENV,
    KEEPALIVE_TIMEOUT_ENV,
    MAX_BODY_ENV,
    MAX_CONNECTIONS_ENV,
    MAX_ROWS_ENV,
    MAX_TABLE_ENV,
    THREADS_ENV,
    WORKERS_ENV,
    WRITE_MEMORY_ENV,
    Settings,
    parse_connections,
    parse_flag,
    parse_rows,
    parse_seconds,
    parse_size,
    parse_threads,
    parse_workers,
)
from mlops_storage.store import ROOT_ENV, Store, default_root

if TYPE_CHECKING:
    from mlops_storage.server import StorageServer

PROG = "mlops-storage"
EXIT_OK, EXIT_BIND, EXIT_USAGE = 0, 1, 2
EXIT_FAILED = 1  # a worker process died

T = TypeVar("T")


class UsageError(Exception):
    """Bad usage or configuration: reported as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one line: ``mlops-storage: error: ...``."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: error: {message} (see {self.prog} --help)\n")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: use 0-65535")
    return value


def _typed(parse: Callable[[str], T]) -> Callable[[str], T]:
    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Versioned Parquet dataset store of the MLOps platform.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve the store over HTTP (JSON API, Parquet/CSV upload and download)",
        description="Serve the store over HTTP: /healthz, /datasets, "
        "/datasets/NAME/versions, GET and PUT /datasets/NAME, /openapi.json. "
        "Every setting with a variable can come from the environment; a flag wins.",
    )
    serve.add_argument(
        "--root",
        default=None,
        help=f"store directory; must exist unless --create (default: ${ROOT_ENV}, "
        "else ~/.local/share/mlops-storage)",
    )
    serve.add_argument(
        "--create",
        action="store_true",
        help="create the store directory if it does not exist",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)"
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=8080,
        help="port to bind, 0 for any (default: 8080)",
    )
    serve.add_argument(
        "--token-file",
        default=None,
        help=f"file holding the bearer token writes need (default: ${TOKEN_FILE_ENV}; "
        f"or the token itself in ${TOKEN_ENV})",
    )
    serve.add_argument(
        "--allow-anonymous-writes",
        action="store_true",
        help="with no token configured, accept writes from anyone (else they are "
        "refused)",
    )
    serve.add_argument(
        "--auth-reads",
        action="store_true",
        default=None,
        help=f"reads need the token too (default: ${AUTH_READS_ENV}, else off)",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=_typed(parse_size),
        default=None,
        help=f"largest accepted request body, e.g. 64M (default: ${MAX_BODY_ENV}, "
        f"else {DEFAULT_MAX_BODY // 1024 // 1024}M)",
    )
    serve.add_argument(
        "--body-timeout",
        type=_typed(parse_seconds),
        default=None,
        help="seconds a client may stay silent while sending a body "
        f"(default: ${BODY_TIMEOUT_ENV}, else {DEFAULT_BODY_TIMEOUT:g})",
    )
    serve.add_argument(
        "--graceful-timeout",
        type=_typed(parse_seconds),
        default=None,
        help="seconds in-flight requests get to finish after SIGTERM "
        f"(default: ${GRACEFUL_TIMEOUT_ENV}, else {DEFAULT_GRACEFUL_TIMEOUT:g})",
    )
    serve.add_argument(
        "--keepalive-timeout",
        type=_typed(parse_seconds),
        default=None,
        help="seconds an idle keep-alive connection stays open "
        f"(default: ${KEEPALIVE_TIMEOUT_ENV}, else {DEFAULT_KEEPALIVE_TIMEOUT:g})",
    )
    serve.add_argument(
        "--workers",
        type=_typed(parse_workers),
        default=None,
        help="worker processes accepting on the port "
        f"(default: ${WORKERS_ENV}, else {DEFAULT_WORKERS})",
    )
    serve.add_argument(
        "--threads",
        type=_typed(parse_threads),
        default=None,
        help="threads per worker in each of its pools (reads, writes) "
        f"(default: ${THREADS_ENV}, else {DEFAULT_THREADS})",
    )
    serve.add_argument(
        "--cache-bytes",
        type=_typed(parse_size),
        default=None,
        help="encoded version bodies each worker keeps in memory, e.g. 64M "
        f"(default: ${CACHE_BYTES_ENV}, else {DEFAULT_CACHE_BYTES // 1024 // 1024}M)",
    )
    serve.add_argument(
        "--max-rows",
        type=_typed(parse_rows),
        default=None,
        help=f"rows one upload may hold (default: ${MAX_ROWS_ENV}, else "
        f"{DEFAULT_MAX_ROWS})",
    )
    serve.add_argument(
        "--max-table-bytes",
        type=_typed(parse_size),
        default=None,
        help="bytes one upload may take once decoded, e.g. 64M "
        f"(default: ${MAX_TABLE_ENV}, else {DEFAULT_MAX_TABLE // 1024 // 1024}M)",
    )
    serve.add_argument(
        "--write-memory",
        type=_typed(parse_size),
        default=None,
        help="memory the writes in flight of each worker may take, e.g. 160M "
        f"(default: ${WRITE_MEMORY_ENV}, else "
        f"{DEFAULT_WRITE_MEMORY // 1024 // 1024}M)",
    )
    serve.add_argument(
        "--header-timeout",
        type=_typed(parse_seconds),
        default=None,
        help="seconds a client has to send a request's headers "
        f"(default: ${HEADER_TIMEOUT_ENV}, else {DEFAULT_HEADER_TIMEOUT:g})",
    )
    serve.add_argument(
        "--max-connections",
        type=_typed(parse_connections),
        default=None,
        help="connections each worker serves at once, 503 beyond "
        f"(default: ${MAX_CONNECTIONS_ENV}, else {DEFAULT_MAX_CONNECTIONS})",
    )
    serve.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging level (default: INFO); logs are JSON lines on stderr",
    )
    openapi = commands.add_parser(
        "openapi",
        help="print the service's OpenAPI document",
        description="Print the OpenAPI document the service serves at /openapi.json "
        "(the checked-in copy is components/storage/openapi.json).",
    )
    openapi.add_argument(
        "--output", default=None, help="write it to this file instead of stdout"
    )
    return parser


def _env(
    environ: Mapping[str, str], name: str, parse: Callable[[str], T], default: T
) -> T:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise UsageError(f"${name}: {exc}") from None


def settings_from(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    """The service settings from the flags, then the environment, then defaults."""
    try:
        source = token_source(args.token_file, dict(environ))
    except TokenError as exc:
        raise UsageError(str(exc)) from None
    auth_reads = args.auth_reads
    if auth_reads is None:
        auth_reads = _env(environ, AUTH_READS_ENV, parse_flag, False)
    if auth_reads and source is None:
        raise UsageError(
            f"--auth-reads needs a token: give --token-file or set ${TOKEN_FILE_ENV} "
            f"or ${TOKEN_ENV}"
        )
    if args.allow_anonymous_writes and source is not None:
        raise UsageError(
            "--allow-anonymous-writes contradicts the configured token "
            f"({source.describe()}): give one or the other"
        )
    return Settings(
        token=source,
        allow_anonymous_writes=args.allow_anonymous_writes,
        auth_reads=auth_reads,
        max_body_bytes=args.max_body_bytes
        or _env(environ, MAX_BODY_ENV, parse_size, DEFAULT_MAX_BODY),
        body_timeout=args.body_timeout
        or _env(environ, BODY_TIMEOUT_ENV, parse_seconds, DEFAULT_BODY_TIMEOUT),
        graceful_timeout=args.graceful_timeout
        or _env(environ, GRACEFUL_TIMEOUT_ENV, parse_seconds, DEFAULT_GRACEFUL_TIMEOUT),
        keepalive_timeout=args.keepalive_timeout
        or _env(
            environ, KEEPALIVE_TIMEOUT_ENV, parse_seconds, DEFAULT_KEEPALIVE_TIMEOUT
        ),
        workers=args.workers
        or _env(environ, WORKERS_ENV, parse_workers, DEFAULT_WORKERS),
        threads=args.threads
        or _env(environ, THREADS_ENV, parse_threads, DEFAULT_THREADS),
        cache_bytes=args.cache_bytes
        or _env(environ, CACHE_BYTES_ENV, parse_size, DEFAULT_CACHE_BYTES),
        max_rows=args.max_rows
        or _env(environ, MAX_ROWS_ENV, parse_rows, DEFAULT_MAX_ROWS),
        max_table_bytes=args.max_table_bytes
        or _env(environ, MAX_TABLE_ENV, parse_size, DEFAULT_MAX_TABLE),
        write_memory=args.write_memory
        or _env(environ, WRITE_MEMORY_ENV, parse_size, DEFAULT_WRITE_MEMORY),
        header_timeout=args.header_timeout
        or _env(environ, HEADER_TIMEOUT_ENV, parse_seconds, DEFAULT_HEADER_TIMEOUT),
        max_connections=args.max_connections
        or _env(
            environ, MAX_CONNECTIONS_ENV, parse_connections, DEFAULT_MAX_CONNECTIONS
        ),
    )


def store_root(root: str | None, create: bool) -> Path:
    """The store directory, which must exist (or is made, with ``create``)."""
    try:
        path, created = resolve_root(root, create=create)
    except RootError as exc:
        raise UsageError(str(exc)) from None
    if created:
        print(f"{PROG}: created store root {path}", file=sys.stderr, flush=True)
    return path


class _StopOnSignal:
    """SIGTERM handler from the start of ``serve`` on.

    Before the server runs, it makes ``serve`` stop instead of starting; while
    it runs, uvicorn handles SIGTERM itself (graceful stop), then re-raises it
    to this handler, so a graceful stop exits 0 rather than dying of the signal.
    """

    def __init__(self) -> None:
        self.requested = False
        self.server: StorageServer | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if self.server is not None:
            self.server.request_stop()


def serve(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    # Imported here so that `--help` and `openapi` stay quick.
    from mlops_storage.server import make_server

    stop = _StopOnSignal()
    signal.signal(signal.SIGTERM, stop)
    root = store_root(args.root, args.create)
    settings = settings_from(args, environ)
    store = Store(root)
    try:
        server = make_server(store, args.host, args.port, settings)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(
            f"{PROG}: error: cannot bind {args.host}:{args.port}: {reason}",
            file=sys.stderr,
        )
        return EXIT_BIND
    logs.configure(args.log_level)
    log = logging.getLogger("mlops_storage")
    if settings.token is not None:
        writes = f"writes need the token from {settings.token.describe()}"
    elif settings.allow_anonymous_writes:
        writes = "writes are open to anyone (--allow-anonymous-writes)"
    else:
        writes = (
            f"writes are disabled: no token configured (--token-file, ${TOKEN_FILE_ENV}"
            f" or ${TOKEN_ENV})"
        )
    log.info(
        "serving %s on %s; %s; reads are %s",
        store.root,
        server.url,
        writes,
        "token-protected" if settings.auth_reads else "open",
        extra={
            "fields": {
                "url": server.url,
                "root": str(store.root),
                "max_body_bytes": settings.max_body_bytes,
                "workers": settings.workers,
                "threads": settings.threads,
                "cache_bytes": settings.cache_bytes,
                "max_rows": settings.max_rows,
                "max_table_bytes": settings.max_table_bytes,
                "write_memory": settings.write_memory,
                "header_timeout": settings.header_timeout,
                "max_connections": settings.max_connections,
            }
        },
    )
    stop.server = server
    try:
        if not stop.requested:
            server.serve_forever()
    except KeyboardInterrupt:  # a second Ctrl-C forces the stop
        pass
    finally:
        server.server_close()
    if server.failed:
        log.error("stopped: a worker died")
        return EXIT_FAILED
    log.info("stopped")
    return EXIT_OK


def openapi(args: argparse.Namespace) -> int:
    from mlops_storage.app import create_app, dump_openapi, openapi_document

    text = dump_openapi(openapi_document(create_app(Store(default_root()))))
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {args.output}: {exc.strerror}") from None
    print(f"{PROG}: wrote {args.output}", file=sys.stderr)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return serve(args, os.environ)
        if args.command == "openapi":
            return openapi(args)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_USAGE  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
