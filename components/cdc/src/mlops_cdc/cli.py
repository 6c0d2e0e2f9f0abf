"""Command line: ``mlops-cdc serve``, ``apply``, ``replay`` and ``deadletters``.

Exit codes of ``apply``: 0 when every event was applied or skipped, 1 when some
were dead-lettered (the rest is applied), 2 when the batch could not be applied
at all (bad arguments, a missing root without ``--create``, unreadable file,
key or schema conflict, an implausible position, storage error).

``replay`` exits 0 when every corrected event was applied or had been replayed
before, 1 when some are still invalid or were superseded, 2 as ``apply``.
``deadletters`` exits 0, or 2 as ``apply``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

from mlops_cdc import deadletters, deadstore
from mlops_cdc.apply import ChangeApplier, Correction
from mlops_cdc.columns import TableConfigError, load_table_config
from mlops_cdc.errors import CdcError
from mlops_cdc.limits import Limits
from mlops_cdc.positions import DEFAULT_OFFSET_FIELD
from mlops_cdc.server import make_server
from mlops_storage import StorageError, Store, logs, resolve_root
from mlops_storage.auth import (
    TOKEN_ENV,
    TOKEN_FILE_ENV,
    TokenError,
    TokenSource,
    token_source,
)

LOG = logging.getLogger("mlops_cdc")

EXIT_OK = 0
EXIT_DEAD_LETTERS = 1
EXIT_ERROR = 2


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        default=None,
        help="storage root directory; must exist unless --create (default: "
        "$MLOPS_STORAGE_ROOT or the storage library's default)",
    )
    parser.add_argument(
        "--create",
        action="store_true",
        help="create the storage root directory if it does not exist",
    )
    parser.add_argument(
        "--key",
        default="id",
        help="comma-separated key columns of the table(s) (default: id)",
    )
    parser.add_argument(
        "--offset-field",
        default=None,
        help="dotted path of every event's position (default: Kafka coordinates, "
        f"else source.sequence, else {DEFAULT_OFFSET_FIELD}; see the README)",
    )
    parser.add_argument(
        "--table-config",
        default=None,
        help="JSON file of per-table configs: the columns a table may gain and "
        "its column limit (see the README)",
    )
    _limit(parser, "--max-line-bytes", parse_size, "largest line (dead letter beyond)")
    _limit(parser, "--max-depth", _count, "deepest JSON nesting of a line")
    _limit(parser, "--max-lines", _count, "most lines in one batch")
    _limit(parser, "--max-columns", _count, "most columns of a table")
    _limit(parser, "--max-partitions", _count, "most source partitions of a table")
    _limit(
        parser,
        "--max-position-jump",
        _count,
        "how far ahead of its partition's mark an event may be",
    )


def _count(text: str) -> int:
    """A positive whole number."""
    if not text.strip().isascii() or not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"invalid count {text!r}: expected a positive whole number")
    return int(text)


def parse_size(text: str) -> int:
    """``"1048576"``, ``"512k"``, ``"16M"`` (binary units) -> bytes."""
    raw = text.strip().lower().removesuffix("b").removesuffix("i")
    scale = {"k": 1024, "m": 1024**2, "g": 1024**3}.get(raw[-1:], 1)
    if scale > 1:
        raw = raw[:-1]
    try:
        return _count(raw) * scale
    except ValueError:
        raise ValueError(f"invalid size {text!r}: expected bytes such as 16M") from None


def parse_seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"invalid duration {text!r}: expected positive seconds")
    return value


def _limit(parser: argparse.ArgumentParser, flag: str, kind: Any, what: str) -> None:
    name = flag.removeprefix("--").replace("-", "_")
    parser.add_argument(
        flag,
        type=_checked(kind),
        default=getattr(_DEFAULTS, name),
        help=f"{what} (default: {getattr(_DEFAULTS, name)})",
    )


def _checked(kind: Any) -> Any:
    """An argparse type from a parser raising ValueError with a message."""

    def convert(text: str) -> Any:
        try:
            return kind(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = getattr(kind, "__name__", "value")
    return convert


_DEFAULTS = Limits()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops-cdc",
        description="Apply Debezium change events to versioned datasets.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind")
    serve.add_argument(
        "--port", type=int, default=8080, help="port to bind (0: any free port)"
    )
    _limit(serve, "--max-body", parse_size, "largest request body, bytes (413 beyond)")
    _limit(serve, "--header-timeout", parse_seconds, "seconds to send line and headers")
    _limit(serve, "--body-timeout", parse_seconds, "seconds to send a whole body")
    _limit(serve, "--max-connections", _count, "connections served at once")
    _limit(serve, "--max-batches", _count, "batches received or applied at once")
    serve.add_argument(
        "--token-file",
        default=None,
        help="file holding the bearer token POST /events needs, the storage "
        f"service's (default: ${TOKEN_FILE_ENV}; or the token itself in ${TOKEN_ENV})",
    )
    serve.add_argument(
        "--allow-anonymous-writes",
        action="store_true",
        help="with no token configured, accept events from anyone (else they are "
        "refused)",
    )
    serve.add_argument(
        "--log-level",
        type=str.upper,
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging level (default: INFO); logs are JSON lines on stderr, as "
        "storage's",
    )
    _common(serve)

    apply = commands.add_parser("apply", help="apply a JSON-lines file of events")
    apply.add_argument("file", help="JSON-lines file, one event per line ('-': stdin)")
    apply.add_argument("--table", required=True, help="dataset to apply the events to")
    apply.add_argument(
        "--dead-letter-file",
        default=None,
        help="append the rejected events to this file (JSON lines) for a later "
        "'mlops-cdc replay'",
    )
    _common(apply)

    replay = commands.add_parser(
        "replay",
        help="re-apply corrected events from a dead-letter file",
        description="Re-apply the corrected events of a dead-letter file, even "
        "though the table's high-water mark has passed them: the dead-letter "
        "record permits it. Correct an event by editing its 'raw' text or adding "
        "an 'event' object; keep its offset. Replaying again changes nothing. An "
        "event whose row a later change has touched is reported as superseded "
        "and not applied.",
    )
    replay.add_argument(
        "file", nargs="?", default=None, help="dead-letter file ('-': stdin)"
    )
    replay.add_argument(
        "--table",
        default=None,
        help="table of records that name none (default: each record's table)",
    )
    replay.add_argument(
        "--stored",
        action="store_true",
        help="replay the table's pending stored dead letters (needs --table)",
    )
    replay.add_argument(
        "--force",
        action="store_true",
        help="apply superseded events too (overwrites newer changes of their rows)",
    )
    _common(replay)

    listing = commands.add_parser(
        "deadletters",
        help="list a table's stored dead letters (JSON lines, a dead-letter file)",
        description="Print the dead letters stored for TABLE in <TABLE>.deadletters "
        "as JSON lines: a dead-letter file to correct and 'mlops-cdc replay'. Only "
        "the pending ones unless --all.",
    )
    listing.add_argument("--table", required=True, help="the table")
    listing.add_argument(
        "--all", action="store_true", help="the replayed ones too (replayed_version)"
    )
    _common(listing)
    return parser


def _store(args: argparse.Namespace) -> Store:
    """The store at --root: the same missing-root rule as `mlops-storage serve`."""
    root, created = resolve_root(args.root, create=args.create)
    if created:
        print(f"mlops-cdc: created store root {root}", file=sys.stderr, flush=True)
    return Store(root)


def _token(args: argparse.Namespace) -> TokenSource | None:
    """The token writes need, from storage's sources: one Secret serves both."""
    try:
        source = token_source(args.token_file)
    except TokenError as exc:
        raise CdcError(str(exc)) from None
    if args.allow_anonymous_writes and source is not None:
        raise CdcError(
            "--allow-anonymous-writes contradicts the configured token "
            f"({source.describe()}): give one or the other"
        )
    return source


def _limits(args: argparse.Namespace) -> Limits:
    given = {
        name: getattr(args, name) for name in vars(_DEFAULTS) if hasattr(args, name)
    }
    return Limits(**{**vars(_DEFAULTS), **given})


def _applier(args: argparse.Namespace, store: Store | None = None) -> ChangeApplier:
    tables = {}
    if args.table_config:
        try:
            tables = load_table_config(args.table_config)
        except TableConfigError as exc:
            raise CdcError(str(exc)) from None
    return ChangeApplier(
        store or _store(args),
        key=args.key,
        offset_field=args.offset_field,
        limits=_limits(args),
        tables=tables,
    )


def _serve(args: argparse.Namespace) -> int:
    token = _token(args)
    applier = _applier(args)
    server = make_server(
        applier,
        host=args.host,
        port=args.port,
        token=token,
        allow_anonymous_writes=args.allow_anonymous_writes,
    )

    logs.configure(args.log_level)

    def stop(signum: int, frame: FrameType | None) -> None:
        LOG.info("signal %d: shutting down", signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    if token is not None:
        writes = f"writes need the token from {token.describe()}"
    elif args.allow_anonymous_writes:
        writes = "writes are open to anyone (--allow-anonymous-writes)"
    else:
        writes = (
            f"writes are disabled: no token configured (--token-file, ${TOKEN_FILE_ENV}"
            f" or ${TOKEN_ENV})"
        )
    LOG.info(
        "listening on %s (storage root %s); %s",
        server.url,
        applier.store.root,
        writes,
        extra={
            "fields": {
                "url": server.url,
                "root": str(applier.store.root),
                "limits": vars(server.limits),
            }
        },
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        LOG.info("interrupted: shutting down")
    finally:
        server.server_close()
    return EXIT_OK


def _apply(args: argparse.Namespace) -> int:
    applier = _applier(args)
    if args.file == "-":
        result = applier.apply_lines(args.table, sys.stdin.buffer)
    else:
        with open(args.file, "rb") as handle:
            result = applier.apply_lines(args.table, handle)
    if args.dead_letter_file and result.dead_letters:
        deadletters.append(
            args.dead_letter_file,
            result.table,
            result.dead_letters,
            result.table_version,
        )
    print(json.dumps(result.to_dict(applier.limits.max_answer_dead_letters), indent=2))
    return EXIT_DEAD_LETTERS if result.dead_letters else EXIT_OK


def _replay(args: argparse.Namespace) -> int:
    store = _store(args)
    applier = _applier(args, store)
    if args.stored:
        if args.table is None or args.file is not None:
            raise CdcError("replay --stored needs --table and no file")
        text = "".join(
            json.dumps(record) + "\n" for record in deadstore.records(store, args.table)
        )
    elif args.file is None:
        raise CdcError("replay needs a dead-letter file, or --stored --table TABLE")
    elif args.file == "-":
        text = sys.stdin.read()
    else:
        with open(args.file, encoding="utf-8") as handle:
            text = handle.read()
    try:
        records = deadletters.read(text)
    except deadletters.DeadLetterFileError as exc:
        raise CdcError(f"{args.file}: {exc}") from None
    by_table: dict[str, list[Correction]] = {}
    for record in records:
        table = record.table or args.table
        if table is None:
            raise CdcError(
                f"{args.file}: record {record.position} names no table: give --table"
            )
        correction = record.correction(applier.key_columns, applier.offset_path)
        by_table.setdefault(table, []).append(correction)
    results = [
        applier.replay(table, corrections, force=args.force)
        for table, corrections in by_table.items()
    ]
    limit = applier.limits.max_answer_dead_letters
    print(json.dumps([result.to_dict(limit) for result in results], indent=2))
    failed = any(result.dead_letters or result.superseded for result in results)
    return EXIT_DEAD_LETTERS if failed else EXIT_OK


def _list(args: argparse.Namespace) -> int:
    store = _store(args)
    for record in deadstore.records(store, args.table, everything=args.all):
        print(json.dumps(record, sort_keys=True))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "replay":
            return _replay(args)
        if args.command == "deadletters":
            return _list(args)
        return _apply(args)
    except (CdcError, StorageError, OSError) as exc:
        print(f"mlops-cdc: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
