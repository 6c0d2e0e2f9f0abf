"""The ``mlops`` command: browse, download and upload datasets of the storage service.

    mlops [--url URL] [--json] datasets list
    mlops [--url URL] [--json] datasets show NAME [--version N]
    mlops [--url URL] [--json] datasets versions NAME
    mlops [--url URL] [--json] datasets get NAME [--version N] [--output FILE]
    mlops [--url URL] [--token-file FILE] datasets put NAME FILE [--expected-version N]

Every error is one line on stderr and one of the codes of ``EXIT_CODES``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from mlops_client.client import (
    DEFAULT_URL,
    TOKEN_ENV,
    TOKEN_FILE_ENV,
    Client,
    format_of,
    read_token_file,
    token_from_environment,
)
from mlops_client.errors import (
    AuthError,
    ClientError,
    Conflict,
    NotFound,
    ServiceError,
    ServiceUnavailable,
    TokenError,
)

URL_ENV = "MLOPS_STORAGE_URL"
PROG = "mlops"

EXIT_OK = 0
EXIT_FAILED = 1  # the service refused the request, or a local file failed
EXIT_USAGE = 2  # bad option, argument or environment value
EXIT_NOT_FOUND = 3  # no such dataset or version
EXIT_AUTH = 4  # no token, wrong token, or writes disabled (401/403)
EXIT_CONFLICT = 5  # --expected-version is not the latest version (409)
EXIT_UNAVAILABLE = 6  # service unreachable, timed out or 503

#: The one table of exit codes: --help prints it, the README's "Exit codes"
#: table explains it (a test holds the two and the CLI's behaviour together).
EXIT_CODES = {
    EXIT_OK: "done",
    EXIT_FAILED: "failed",
    EXIT_USAGE: "bad usage",
    EXIT_NOT_FOUND: "not found",
    EXIT_AUTH: "not allowed",
    EXIT_CONFLICT: "conflict",
    EXIT_UNAVAILABLE: "service unavailable",
}


class UsageError(Exception):
    """A bad option or environment value: one line on stderr, exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line: ``mlops: error: ...``."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: error: {message} (see {self.prog} --help)\n")


def _seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(
            f"invalid value {text!r}: expected a positive number of seconds"
        )
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"invalid value {text!r}: expected a positive integer"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    # Global options are accepted before or after the subcommand; SUPPRESS keeps
    # a subparser's absent option from overwriting a value given earlier.
    common = _Parser(add_help=False)
    common.add_argument(
        "--url",
        default=argparse.SUPPRESS,
        help=f"storage service URL (default: ${URL_ENV}, else {DEFAULT_URL})",
    )
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print JSON instead of a table",
    )
    common.add_argument(
        "--timeout",
        type=_seconds,
        default=argparse.SUPPRESS,
        help="seconds to wait for the service (default: 10)",
    )
    common.add_argument(
        "--token-file",
        default=argparse.SUPPRESS,
        help=f"file holding the service token (default: ${TOKEN_ENV}, else the "
        f"file named by ${TOKEN_FILE_ENV})",
    )

    parser = _Parser(
        prog=PROG,
        parents=[common],
        description="Browse, download and upload the datasets of the MLOps "
        "platform storage service.",
        epilog="exit codes: "
        + ", ".join(f"{code} {name}" for code, name in EXIT_CODES.items())
        + " (see the README)",
    )
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    datasets = groups.add_parser(
        "datasets", parents=[common], help="list, show, get and put datasets"
    )
    actions = datasets.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", parents=[common], help="list dataset names")
    show = actions.add_parser(
        "show", parents=[common], help="print the rows of a dataset version"
    )
    show.add_argument("name", help="dataset name")
    show.add_argument(
        "--version",
        type=_positive_int,
        default=None,
        help="version number (default: latest)",
    )
    versions = actions.add_parser(
        "versions", parents=[common], help="list the versions of a dataset"
    )
    versions.add_argument("name", help="dataset name")
    get = actions.add_parser(
        "get",
        parents=[common],
        help="download a dataset version as Parquet or CSV",
        description="Download a dataset version. The format comes from --format, "
        "else the output file's suffix (.parquet, .pq, .csv); without --output, "
        "CSV goes to stdout.",
    )
    get.add_argument("name", help="dataset name")
    get.add_argument(
        "--version",
        type=_positive_int,
        default=None,
        help="version number (default: latest)",
    )
    get.add_argument(
        "--output", "-o", default=None, help="file to write (default: stdout)"
    )
    get.add_argument("--format", choices=["parquet", "csv"], default=None)
    put = actions.add_parser(
        "put",
        parents=[common],
        help="upload a Parquet or CSV file as the next version of a dataset",
        description="Upload FILE as the next version of dataset NAME; the format "
        "comes from --format, else the suffix (.parquet, .pq, .csv). Needs the "
        f"service token: --token-file, ${TOKEN_ENV} or ${TOKEN_FILE_ENV}.",
    )
    put.add_argument("name", help="dataset name")
    put.add_argument("file", help="Parquet or CSV file ('-': stdin, with --format)")
    put.add_argument("--format", choices=["parquet", "csv"], default=None)
    put.add_argument(
        "--expected-version",
        type=_count,
        default=None,
        help="write only if N is still the latest version (0: only if the "
        "dataset does not exist yet); else exit 5",
    )
    return parser


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"invalid value {text!r}: expected an integer >= 0"
        )
    return value


def _cell(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    text = str(value)
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Render rows as an aligned text table; columns in first-seen order."""
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [
        max([len(column)] + [len(line[i]) for line in cells])
        for i, column in enumerate(columns)
    ]
    lines = [
        "  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip()
        for line in [columns, ["-" * width for width in widths], *cells]
    ]
    return "\n".join(lines)


def _token(args: argparse.Namespace) -> tuple[str | None, str]:
    """The token and where it came from, in the words of this CLI's options."""
    path = getattr(args, "token_file", None)
    try:
        if path is not None:
            return read_token_file(path), f"--token-file {path}"
        token = token_from_environment()
    except TokenError as exc:
        source = "--token-file" if path is not None else f"${TOKEN_FILE_ENV}"
        raise UsageError(f"{source}: {exc}") from None
    # The order of token_from_environment: the variable, else the file it names.
    if os.environ.get(TOKEN_ENV, "").strip():
        return token, f"${TOKEN_ENV}"
    return token, f"${TOKEN_FILE_ENV} ({os.environ.get(TOKEN_FILE_ENV, '').strip()})"


def _auth_error(error: AuthError, token: str | None, source: str) -> AuthError:
    """The service's refusal in terms of this CLI: the service asks for an HTTP
    header, which a CLI user sets through --token-file or the environment."""
    if error.status == 401:
        message = (
            "the storage service needs a token: give --token-file FILE, or set "
            f"${TOKEN_FILE_ENV} or ${TOKEN_ENV}"
        )
    elif token:
        message = f"the storage service refused the token from {source}: {error}"
    else:
        message = f"the storage service refused the request (no token given): {error}"
    return AuthError(message, error.status)


def _client(args: argparse.Namespace, token: str | None) -> Client:
    url = getattr(args, "url", None) or os.environ.get(URL_ENV) or DEFAULT_URL
    try:
        return Client(url, timeout=getattr(args, "timeout", 10.0), token=token or "")
    except ClientError as exc:
        source = "--url" if getattr(args, "url", None) else f"${URL_ENV}"
        raise UsageError(f"{source}: {exc}") from None


def _print_json(payload: Any, out: TextIO) -> None:
    print(json.dumps(payload, indent=2), file=out)


def _write_file(path: Path, content: bytes) -> None:
    """Write ``content`` whole or not at all (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ClientError(f"cannot write {path}: {exc.strerror}") from None


def _get(args: argparse.Namespace, client: Client, out: TextIO) -> None:
    fmt = args.format
    if fmt is None and args.output is not None:
        fmt = format_of(args.output)
        if fmt is None:
            raise UsageError(
                f"cannot tell the format of {args.output} from its name: give "
                "--format parquet or --format csv"
            )
    fmt = fmt or "csv"
    if args.output is None and fmt == "parquet" and sys.stdout.isatty():
        raise UsageError("will not write Parquet to a terminal: give --output FILE")
    data = client.download(args.name, args.version, fmt)
    as_json = getattr(args, "json", False)
    if args.output is None:
        out.flush()
        sys.stdout.buffer.write(data.content)
        sys.stdout.buffer.flush()
        return
    _write_file(Path(args.output), data.content)
    if as_json:
        _print_json(
            {
                "name": data.name,
                "version": data.version,
                "format": fmt,
                "output": args.output,
                "bytes": len(data.content),
            },
            out,
        )
    else:
        print(
            f"wrote {args.output} ({data.name} version {data.version}, {fmt}, "
            f"{len(data.content)} bytes)",
            file=out,
        )


def _put(args: argparse.Namespace, client: Client, out: TextIO) -> None:
    fmt = args.format or (None if args.file == "-" else format_of(args.file))
    if fmt is None:
        raise UsageError(
            f"cannot tell the format of {args.file} from its name: give "
            "--format parquet or --format csv"
        )
    if args.file == "-":
        version = client.put(
            args.name,
            sys.stdin.buffer.read(),
            fmt,
            expected_version=args.expected_version,
        )
    else:
        version = client.put_file(
            args.name, args.file, fmt, expected_version=args.expected_version
        )
    if getattr(args, "json", False):
        _print_json({"name": args.name, "version": version}, out)
    else:
        print(f"{args.name} version {version}", file=out)


def _run(args: argparse.Namespace, out: TextIO) -> None:
    token, source = _token(args)
    client = _client(args, token)
    try:
        _dispatch(args, client, out)
    except AuthError as exc:
        raise _auth_error(exc, token, source) from None


def _dispatch(args: argparse.Namespace, client: Client, out: TextIO) -> None:
    as_json = getattr(args, "json", False)

    if args.action == "list":
        names = client.list_datasets()
        if as_json:
            print(json.dumps({"datasets": names}, indent=2), file=out)
        elif names:
            print(format_table([{"NAME": name} for name in names]), file=out)
        else:
            print("(no datasets)", file=out)
    elif args.action == "show":
        data = client.fetch(args.name, args.version)
        if as_json:
            payload = {"name": data.name, "version": data.version, "rows": data.rows}
            print(json.dumps(payload, indent=2), file=out)
        else:
            if data.rows:
                print(format_table(data.rows), file=out)
            count = len(data.rows)
            print(
                f"({count} row{'' if count == 1 else 's'}, "
                f"{data.name} version {data.version})",
                file=out,
            )
    elif args.action == "versions":
        infos = client.versions(args.name)
        if as_json:
            _print_json(
                {
                    "name": args.name,
                    "versions": [
                        {
                            "version": info.version,
                            "created_at": info.created_at,
                            "num_rows": info.num_rows,
                        }
                        for info in infos
                    ],
                },
                out,
            )
        else:
            rows = [
                {
                    "VERSION": info.version,
                    "CREATED": info.created_at,
                    "ROWS": info.num_rows,
                }
                for info in infos
            ]
            print(format_table(rows), file=out)
    elif args.action == "get":
        _get(args, client, out)
    elif args.action == "put":
        _put(args, client, out)


def exit_code(error: ClientError) -> int:
    """The documented exit code of an error."""
    if isinstance(error, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(error, AuthError):
        return EXIT_AUTH
    if isinstance(error, Conflict):
        return EXIT_CONFLICT
    if isinstance(error, ServiceUnavailable):
        return EXIT_UNAVAILABLE
    if isinstance(error, ServiceError) and error.status == 503:
        return EXIT_UNAVAILABLE
    return EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status instead of exiting."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        _run(args, sys.stdout)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ClientError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exit_code(exc)
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stderr.close()
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
