"""The ``mlops-storage`` command."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from mlops_storage.server import make_server
from mlops_storage.store import ROOT_ENV, Store, default_root


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops-storage",
        description="Versioned Parquet dataset store of the MLOps platform.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve the store over HTTP (read-only JSON API)",
        description="Serve the store over HTTP: /healthz, /datasets, "
        "/datasets/NAME/versions, /datasets/NAME?version=N.",
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
        "--port", type=int, default=8080, help="port to bind, 0 for any (default: 8080)"
    )
    serve.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging level (default: INFO)",
    )
    return parser


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


class UsageError(Exception):
    """Bad usage or configuration: reported as one line, exit 2."""


def store_root(root: str | None, create: bool) -> Path:
    """The store directory, which must exist (or is made, with ``create``)."""
    path = Path(root).expanduser() if root is not None else default_root()
    if path.is_dir():
        return path
    if path.exists():
        raise UsageError(f"store root {path} is not a directory")
    if not create:
        where = "--root" if root is not None else f"${ROOT_ENV} or the default root"
        raise UsageError(
            f"store root {path} does not exist ({where}); create it or pass --create"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create store root {path}: {exc.strerror}") from None
    print(f"mlops-storage: created store root {path}", file=sys.stderr, flush=True)
    return path


def serve(root: str | None, host: str, port: int, create: bool = False) -> int:
    try:
        store = Store(store_root(root, create))
    except UsageError as exc:
        print(f"mlops-storage: error: {exc}", file=sys.stderr)
        return 2
    try:
        server = make_server(store, host, port)
    except OSError as exc:
        print(
            f"mlops-storage: error: cannot bind {host}:{port}: {exc}", file=sys.stderr
        )
        return 1
    bound_host, bound_port = server.server_address[:2]
    print(
        f"mlops-storage: serving {store.root} on http://{bound_host!s}:{bound_port}",
        file=sys.stderr,
        flush=True,
    )
    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command == "serve":
        return serve(args.root, args.host, args.port, args.create)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
