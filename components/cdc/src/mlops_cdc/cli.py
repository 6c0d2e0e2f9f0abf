"""Command line: ``mlops-cdc serve``, ``mlops-cdc apply`` and ``mlops-cdc replay``.

Exit codes of ``apply``: 0 when every event was applied or skipped, 1 when some
were dead-lettered (the rest is applied), 2 when the batch could not be applied
at all (bad arguments, a missing root without ``--create``, unreadable file,
key or schema conflict, storage error).

``replay`` exits 0 when every corrected event was applied or had been replayed
before, 1 when some are still invalid or were superseded, 2 as ``apply``.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from mlops_cdc import deadletters
from mlops_cdc.apply import DEFAULT_OFFSET_FIELD, CdcError, ChangeApplier
from mlops_cdc.events import ChangeEvent, DeadLetter
from mlops_cdc.server import DEFAULT_MAX_BODY, make_server
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
        default=DEFAULT_OFFSET_FIELD,
        help=f"dotted path of each event's offset (default: {DEFAULT_OFFSET_FIELD})",
    )


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
    serve.add_argument(
        "--max-body",
        type=int,
        default=DEFAULT_MAX_BODY,
        help="largest accepted request body in bytes",
    )
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
    replay.add_argument("file", help="dead-letter file ('-': stdin)")
    replay.add_argument(
        "--table",
        default=None,
        help="table of records that name none (default: each record's table)",
    )
    replay.add_argument(
        "--force",
        action="store_true",
        help="apply superseded events too (overwrites newer changes of their rows)",
    )
    _common(replay)
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


def _serve(args: argparse.Namespace) -> int:
    token = _token(args)
    applier = ChangeApplier(_store(args), key=args.key, offset_field=args.offset_field)
    server = make_server(
        applier,
        host=args.host,
        port=args.port,
        max_body=args.max_body,
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
                "max_body_bytes": args.max_body,
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
    applier = ChangeApplier(_store(args), key=args.key, offset_field=args.offset_field)
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
    print(json.dumps(result.to_dict(), indent=2))
    return EXIT_DEAD_LETTERS if result.dead_letters else EXIT_OK


def _replay(args: argparse.Namespace) -> int:
    store = _store(args)
    if args.file == "-":
        text = sys.stdin.read()
    else:
        with open(args.file, encoding="utf-8") as handle:
            text = handle.read()
    try:
        records = deadletters.read(text)
    except deadletters.DeadLetterFileError as exc:
        raise CdcError(f"{args.file}: {exc}") from None
    applier = ChangeApplier(store, key=args.key, offset_field=args.offset_field)
    path = tuple(args.offset_field.split("."))
    by_table: dict[str, list[tuple[int | None, int | None, ChangeEvent | DeadLetter]]]
    by_table = {}
    for record in records:
        table = record.table or args.table
        if table is None:
            raise CdcError(
                f"{args.file}: record {record.position} names no table: give --table"
            )
        item = record.parse(applier.key_columns, path)
        by_table.setdefault(table, []).append(
            (record.offset, record.table_version, item)
        )
    results = [
        applier.replay(table, items, force=args.force)
        for table, items in by_table.items()
    ]
    print(json.dumps([result.to_dict() for result in results], indent=2))
    failed = any(result.dead_letters or result.superseded for result in results)
    return EXIT_DEAD_LETTERS if failed else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "replay":
            return _replay(args)
        return _apply(args)
    except (CdcError, StorageError, OSError) as exc:
        print(f"mlops-cdc: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
