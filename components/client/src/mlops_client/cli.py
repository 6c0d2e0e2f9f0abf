"""The ``mlops`` command: browse datasets of the storage service.

    mlops [--url URL] [--json] datasets list
    mlops [--url URL] [--json] datasets show NAME [--version N]

Exit status: 0 on success, 1 on an error (one line on stderr), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn, TextIO

from mlops_client.client import DEFAULT_URL, Client
from mlops_client.errors import ClientError

URL_ENV = "MLOPS_STORAGE_URL"
PROG = "mlops"
EXIT_USAGE = 2


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

    parser = _Parser(
        prog=PROG,
        parents=[common],
        description="Browse the datasets of the MLOps platform storage service.",
    )
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    datasets = groups.add_parser(
        "datasets", parents=[common], help="list and show datasets"
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
    return parser


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


def _run(args: argparse.Namespace, out: TextIO) -> None:
    url = getattr(args, "url", None) or os.environ.get(URL_ENV) or DEFAULT_URL
    try:
        client = Client(url, timeout=getattr(args, "timeout", 10.0))
    except ClientError as exc:
        source = "--url" if getattr(args, "url", None) else f"${URL_ENV}"
        raise UsageError(f"{source}: {exc}") from None
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status instead of exiting."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        _run(args, sys.stdout)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ClientError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stderr.close()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
