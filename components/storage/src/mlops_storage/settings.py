"""Settings of the storage service, and the environment variables that set them.

Each setting has a command-line flag of ``mlops-storage serve`` and, where a
Kubernetes manifest needs one, an environment variable; the flag wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mlops_storage.auth import TokenSource

#: Largest accepted request body in bytes (PUT of a dataset version).
MAX_BODY_ENV = "MLOPS_STORAGE_MAX_BODY_BYTES"
#: Seconds a client may stay silent while sending a request body.
BODY_TIMEOUT_ENV = "MLOPS_STORAGE_BODY_TIMEOUT"
#: Seconds in-flight requests get to finish after SIGTERM.
GRACEFUL_TIMEOUT_ENV = "MLOPS_STORAGE_GRACEFUL_TIMEOUT"
#: Seconds an idle keep-alive connection stays open.
KEEPALIVE_TIMEOUT_ENV = "MLOPS_STORAGE_KEEPALIVE_TIMEOUT"
#: "1"/"true": reads need the token too.
AUTH_READS_ENV = "MLOPS_STORAGE_AUTH_READS"
#: Worker processes serving the one listening socket.
WORKERS_ENV = "MLOPS_STORAGE_WORKERS"
#: Threads per worker and pool (reads' encoding; writes' Parquet and commit).
THREADS_ENV = "MLOPS_STORAGE_THREADS"
#: Bytes of encoded version bodies each worker keeps in memory.
CACHE_BYTES_ENV = "MLOPS_STORAGE_CACHE_BYTES"
#: Rows one upload may hold.
MAX_ROWS_ENV = "MLOPS_STORAGE_MAX_ROWS"
#: Bytes one upload may take once decoded (Arrow, uncompressed).
MAX_TABLE_ENV = "MLOPS_STORAGE_MAX_TABLE_BYTES"
#: Bytes of memory the writes in flight of one worker may take.
WRITE_MEMORY_ENV = "MLOPS_STORAGE_WRITE_MEMORY"
#: Seconds a client has to send a request's line and headers.
HEADER_TIMEOUT_ENV = "MLOPS_STORAGE_HEADER_TIMEOUT"
#: Connections (and requests) one worker serves at once; beyond: 503.
MAX_CONNECTIONS_ENV = "MLOPS_STORAGE_MAX_CONNECTIONS"

# The figures that chose these are in the README ("Limits and errors").
DEFAULT_MAX_BODY = 16 * 1024 * 1024
DEFAULT_MAX_ROWS = 5_000_000
DEFAULT_MAX_TABLE = 64 * 1024 * 1024
DEFAULT_WRITE_MEMORY = 160 * 1024 * 1024
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS = 100
MAX_CONNECTIONS = 100_000
#: Rows of a JSON page without ``limit``, and the most ``limit`` may ask.
DEFAULT_PAGE_ROWS = 1000
MAX_PAGE_ROWS = 10_000
DEFAULT_BODY_TIMEOUT = 30.0
DEFAULT_GRACEFUL_TIMEOUT = 20.0
DEFAULT_KEEPALIVE_TIMEOUT = 5.0
# The figures that chose these are in the README ("Sizing").
DEFAULT_WORKERS = 2
DEFAULT_THREADS = 8
DEFAULT_CACHE_BYTES = 16 * 1024 * 1024
MAX_WORKERS = 64
MAX_THREADS = 1024


@dataclass(frozen=True)
class Settings:
    """How the service runs; the defaults are the production defaults."""

    #: Expected bearer token (None: no token configured).
    token: TokenSource | None = None
    #: Accept writes without a token when none is configured.
    allow_anonymous_writes: bool = False
    #: Reads need the token too (``/healthz`` and ``/openapi.json`` never do).
    auth_reads: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    graceful_timeout: float = DEFAULT_GRACEFUL_TIMEOUT
    keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT
    #: Processes accepting on the listening socket (the store is safe across
    #: writer processes: each commit is an exclusive link).
    workers: int = DEFAULT_WORKERS
    #: Threads of each worker's two pools: one for reads (encoding, listings),
    #: one for writes (parsing, the data file, the commit).
    threads: int = DEFAULT_THREADS
    #: Encoded bodies of versions each worker keeps (least recently used go).
    cache_bytes: int = DEFAULT_CACHE_BYTES
    #: Rows one upload may hold (413 beyond).
    max_rows: int = DEFAULT_MAX_ROWS
    #: Bytes one upload may take decoded, in Arrow (413 beyond): the footer of
    #: a Parquet body is checked before it is read.
    max_table_bytes: int = DEFAULT_MAX_TABLE
    #: Memory the writes in flight of one worker may take; a write waits for
    #: its share (503 after ``body_timeout``).
    write_memory: int = DEFAULT_WRITE_MEMORY
    #: Seconds from a connection's start (or the end of its last answer and
    #: the first byte of the next request) to the end of the request's headers.
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    #: Connections and requests one worker serves at once (503 beyond).
    max_connections: int = DEFAULT_MAX_CONNECTIONS


def parse_size(text: str) -> int:
    """``"1048576"``, ``"512k"``, ``"64M"``, ``"1G"`` -> bytes (binary units)."""
    raw = text.strip().lower().removesuffix("b").removesuffix("i")
    scale = 1
    for suffix, factor in (("k", 1024), ("m", 1024**2), ("g", 1024**3)):
        if raw.endswith(suffix):
            raw, scale = raw[: -len(suffix)], factor
            break
    if not raw.isascii() or not raw.isdigit():
        raise ValueError(
            f"invalid size {text!r}: expected bytes such as 1048576 or 64M"
        )
    value = int(raw) * scale
    if value < 1:
        raise ValueError(f"invalid size {text!r}: must be at least 1 byte")
    return value


def parse_count(text: str, *, low: int = 1, high: int = MAX_THREADS) -> int:
    """A whole number between ``low`` and ``high``."""
    raw = text.strip()
    if not raw.isascii() or not raw.isdigit():
        raise ValueError(f"invalid count {text!r}: expected a whole number")
    value = int(raw)
    if not low <= value <= high:
        raise ValueError(f"invalid count {text!r}: use {low}-{high}")
    return value


def parse_workers(text: str) -> int:
    """A number of worker processes, 1 to ``MAX_WORKERS``."""
    return parse_count(text, high=MAX_WORKERS)


def parse_rows(text: str) -> int:
    """A number of rows, at least 1."""
    return parse_count(text, high=10**15)


def parse_connections(text: str) -> int:
    """A number of connections, 1 to ``MAX_CONNECTIONS``."""
    return parse_count(text, high=MAX_CONNECTIONS)


def parse_threads(text: str) -> int:
    """A thread pool size, 1 to ``MAX_THREADS``."""
    return parse_count(text, high=MAX_THREADS)


def parse_seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"invalid duration {text!r}: expected seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"invalid duration {text!r}: must be positive seconds")
    return value


def parse_flag(text: str) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (case-insensitive; empty: false)."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"invalid boolean {text!r}: expected true or false")
