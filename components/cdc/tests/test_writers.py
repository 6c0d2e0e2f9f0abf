"""Issue #31, item 2: cdc never overwrites another writer's version.

Two cdc processes, a replay beside the service, a storage PUT: whoever commits
between cdc's read and its write, cdc's version is worked out again on top of
theirs (a write conditional on the version read), so nothing is lost.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
from cdc_testing import create, jsonl, on_kafka, sequenced
from mlops_cdc import ChangeApplier
from mlops_storage import Store


class Interleaved(Store):
    """A store whose next write first lets ``other`` commit a version: the
    race of two writers, made certain."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.other: Any = None

    def write(self, name: str, table: pa.Table, **kwargs: Any) -> int:
        other, self.other = self.other, None
        if other is not None and not name.endswith(".deadletters"):
            other()
        return super().write(name, table, **kwargs)


def ids(store: Store, table: str = "users") -> list[int]:
    return sorted(row["id"] for row in store.read(table).to_pylist())


def test_a_version_committed_between_read_and_write_is_kept(tmp_path: Path) -> None:
    root = tmp_path / "store"
    mine = Interleaved(root)
    theirs = ChangeApplier(Store(root))
    theirs.apply_events("users", [on_kafka(create(1, id=1), 0, 1)])
    mine.other = lambda: theirs.apply_events("users", [on_kafka(create(2, id=2), 1, 2)])

    result = ChangeApplier(mine).apply_events(
        "users", [on_kafka(create(3, id=3), 2, 3)]
    )
    assert (result.applied, result.version) == (1, 3)
    assert ids(Store(root)) == [1, 2, 3]


@contextlib.contextmanager
def storage_service(root: Path) -> Iterator[str]:
    """The storage HTTP service on ``root`` (anonymous writes: a test)."""
    from mlops_storage.server import make_server
    from mlops_storage.settings import Settings

    server = make_server(
        Store(root), "127.0.0.1", 0, Settings(allow_anonymous_writes=True, workers=1)
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


def put_csv(url: str, name: str, text: str) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        conn.request(
            "PUT",
            f"/datasets/{name}",
            body=text.encode(),
            headers={"Content-Type": "text/csv"},
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_a_storage_put_between_read_and_write_is_kept(tmp_path: Path) -> None:
    """Another writer of the dataset (a PUT through the storage service) keeps
    its version, and its lack of cdc metadata does not make cdc forget its marks."""
    root = tmp_path / "store"
    mine = Interleaved(root)
    applier = ChangeApplier(mine)
    applier.apply_events("users", [create(1, id=1, v="a")])
    statuses: list[int] = []
    with storage_service(root) as url:
        mine.other = lambda: statuses.append(
            put_csv(url, "users", "id,v\n1,a\n9,put\n")
        )
        applier.apply_events("users", [create(2, id=2, v="b")])
    assert statuses == [201]
    store = Store(root)
    assert ids(store) == [1, 2, 9]
    assert store.metadata("users", 3)["cdc.base_version"] == "2"
    again = applier.apply_events("users", [create(1, id=1, v="a")])
    assert (again.applied, again.skipped) == (0, 1)


def test_a_replay_beside_the_service_is_kept(tmp_path: Path) -> None:
    root = tmp_path / "store"
    mine = Interleaved(root)
    service = ChangeApplier(mine)
    service.apply_events("users", [create(5, id=5)])
    late = service.apply_events("users", [create(3, id=3)])  # out of order
    [letter] = late.dead_letters
    replayer = ChangeApplier(Store(root))
    from mlops_cdc import Correction

    correction = Correction(letter_event(replayer, letter.full_text), letter.position)
    mine.other = lambda: replayer.replay("users", [correction])
    service.apply_events("users", [create(6, id=6)])
    assert ids(Store(root)) == [3, 5, 6]


def letter_event(applier: ChangeApplier, text: str) -> Any:
    from mlops_cdc.events import parse_line

    return parse_line(text, key_columns=applier.key_columns, offset_path=None)


def test_two_appliers_in_threads_lose_nothing(tmp_path: Path) -> None:
    root = tmp_path / "store"
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        applier = ChangeApplier(Store(root))  # its own lock: as another process
        try:
            for batch in range(15):
                events = [
                    sequenced(
                        "c", batch * 10, batch * 10 + n, server=f"w{number}", id=key
                    )
                    for n, key in enumerate(
                        range(number * 1000 + batch * 4, number * 1000 + batch * 4 + 4)
                    )
                ]
                result = applier.apply_events("users", events)
                assert result.applied == 4, result
        except BaseException as exc:  # noqa: B036 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    store = Store(root)
    assert len(ids(store)) == 120
    versions = store.versions("users")
    assert len(versions) == 30
    for version in versions:  # each built on the one before it
        assert store.metadata("users", version)["cdc.base_version"] == str(version - 1)


def test_two_cdc_processes_lose_nothing(tmp_path: Path) -> None:
    """Two `mlops-cdc apply` processes on one root, many batches each."""
    root = tmp_path / "store"
    root.mkdir()
    script = (
        "import sys\n"
        "from mlops_cdc.cli import main\n"
        "for path in sys.argv[2:]:\n"
        "    code = main(['apply', path, '--table', 'users', '--root', sys.argv[1]])\n"
        "    assert code == 0, code\n"
    )
    procs = []
    for number in (1, 2):
        files = []
        for batch in range(12):
            path = tmp_path / f"w{number}-{batch}.jsonl"
            keys = range(number * 1000 + batch * 5, number * 1000 + batch * 5 + 5)
            path.write_text(
                jsonl(
                    *(
                        on_kafka(create(0, id=key), number, batch * 5 + n)
                        for n, key in enumerate(keys)
                    )
                )
            )
            files.append(str(path))
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", script, str(root), *files],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
            )
        )
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
    store = Store(root)
    assert len(ids(store)) == 120
    for version in store.versions("users"):
        assert store.metadata("users", version)["cdc.base_version"] == str(version - 1)
