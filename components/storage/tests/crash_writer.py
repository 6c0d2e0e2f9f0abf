"""A writer the crash test kills (SIGKILL) at one step of a commit.

Run as ``python crash_writer.py``: a zygote that imports the store once, then
reads one JSON order per line on stdin and answers one JSON line on stdout per
order. For each order it forks a writer (cheap: the zygote runs no thread, so
the fork is safe) that

1. writes ``before`` versions of ``name``, appending ``name version tag`` to
   ``acks`` after each write returns (what a service acknowledges with 201);
2. counts the steps of the next write: every call of the file-system
   functions a commit makes (``os.mkdir``, ``os.open``, ``os.fsync``,
   ``os.link``, ``os.unlink``, Parquet's ``write_table``),
   before and after each; at step ``step`` it sends itself SIGKILL;
3. if the write ends first, acknowledges it and exits 0 (``step`` is past the
   last step of a commit).

``nolink`` makes ``os.link`` fail with EPERM, as on a file system without hard
links, so the commit takes its other path. The answer is ``{"killed": bool,
"code": N}``.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from mlops_storage import Store

#: The functions whose calls are the steps of a commit.
WATCHED = ("mkdir", "open", "fsync", "link", "unlink")


def table(tag: int) -> pa.Table:
    """The rows the version tagged ``tag`` holds (the checker rebuilds them)."""
    return pa.table({"tag": [tag] * 3, "value": [f"v{tag}-{i}" for i in range(3)]})


def acknowledge(acks: str, name: str, version: int, tag: int) -> None:
    fd = os.open(acks, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{name} {version} {tag}\n".encode())
    finally:
        os.close(fd)


def arm(step: int) -> None:
    """Count every watched call from now on; SIGKILL at step number ``step``."""
    count = [0]

    def tick() -> None:
        if count[0] == step:
            os.kill(os.getpid(), signal.SIGKILL)
        count[0] += 1

    def watch(function: Callable[..., Any]) -> Callable[..., Any]:
        def watched(*args: Any, **kwargs: Any) -> Any:
            tick()
            result = function(*args, **kwargs)
            tick()
            return result

        return watched

    for attribute in WATCHED:
        setattr(os, attribute, watch(getattr(os, attribute)))
    pq.write_table = watch(pq.write_table)


def no_links() -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EPERM, "hard links not supported here")

    os.link = refuse


def writer(order: dict[str, Any]) -> None:
    """The forked child: write, acknowledge, die at the step (or exit 0)."""
    if order["nolink"]:
        no_links()
    store = Store(order["root"])
    name, acks, tag = order["name"], order["acks"], order["tag"]
    for _ in range(order["before"]):
        version = store.write(name, table(tag), metadata={"tag": str(tag)})
        acknowledge(acks, name, version, tag)
        tag += 1
    arm(order["step"])
    version = store.write(name, table(tag), metadata={"tag": str(tag)})
    acknowledge(acks, name, version, tag)


def run(order: dict[str, Any]) -> dict[str, Any]:
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            writer(order)
        except BaseException as exc:  # reported by the exit code
            print(f"crash_writer: {exc!r}", file=sys.stderr, flush=True)
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    return {"killed": killed, "code": os.waitstatus_to_exitcode(status)}


def main() -> int:
    for line in sys.stdin:
        print(json.dumps(run(json.loads(line))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
