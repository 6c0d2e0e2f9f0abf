"""Concurrent writers get distinct versions; manifests never get corrupted."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pyarrow as pa
import pytest
from mlops_storage import ConcurrentWriteError, Store

WRITER_SCRIPT = textwrap.dedent("""
    import json
    import os
    import sys
    import time

    import pyarrow as pa

    from mlops_storage import ConcurrentWriteError, Store

    root, go_file, writer = sys.argv[1:4]
    count = int(sys.argv[4])
    store = Store(root)
    print("ready", flush=True)
    deadline = time.monotonic() + 30
    while not os.path.exists(go_file):
        if time.monotonic() > deadline:
            sys.exit("no go signal")
        time.sleep(0.001)
    results = []
    for i in range(count):
        table = pa.table({"writer": [writer], "seq": [i]})
        try:
            results.append(store.write("shared", table))
        except ConcurrentWriteError:
            results.append(None)
    print(json.dumps(results), flush=True)
    """)


def check_consistent(store: Store, won: list[int]) -> None:
    """Every won version is distinct, committed, readable and well-formed."""
    assert len(won) == len(set(won))
    assert store.versions("shared") == sorted(won)
    assert sorted(won) == list(range(1, len(won) + 1))
    for manifest_path in (store.root / "shared" / "versions").iterdir():
        manifest = json.loads(manifest_path.read_text())
        assert manifest["name"] == "shared"
    for version in won:
        assert store.read("shared", version).num_rows == 1


def test_concurrent_threads(store: Store) -> None:
    writers = 8
    barrier = threading.Barrier(writers)
    won: list[int] = []
    lost: list[ConcurrentWriteError] = []
    lock = threading.Lock()

    def write(index: int) -> None:
        table = pa.table({"writer": [str(index)], "seq": [0]})
        barrier.wait()
        try:
            version = store.write("shared", table)
        except ConcurrentWriteError as exc:
            with lock:
                lost.append(exc)
        else:
            with lock:
                won.append(version)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(won) + len(lost) == writers
    check_consistent(store, won)
    writers_seen = {store.read("shared", v).column("writer")[0].as_py() for v in won}
    assert len(writers_seen) == len(won)


def test_concurrent_processes(store: Store, tmp_path: Path) -> None:
    processes, per_process = 4, 5
    go_file = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER_SCRIPT,
                str(store.root),
                str(go_file),
                f"p{i}",
                str(per_process),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(processes)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        go_file.touch()
        results: list[int | None] = []
        for proc in procs:
            out, _ = proc.communicate(timeout=60)
            assert proc.returncode == 0
            results.extend(json.loads(out))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert len(results) == processes * per_process
    check_consistent(store, [v for v in results if v is not None])


def test_writer_gives_up_with_concurrent_write_error(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write("shared", pa.table({"x": [1]}))
    # Simulate writers that always win the race: this writer keeps seeing a
    # stale latest version, so every version number it tries is already taken.
    monkeypatch.setattr(store, "_latest", lambda name: None)
    store.commit_attempts = 3
    with pytest.raises(ConcurrentWriteError, match="'shared'"):
        store.write("shared", pa.table({"x": [2]}))
    monkeypatch.undo()
    assert store.versions("shared") == [1]
    assert len(list((store.root / "shared" / "data").iterdir())) == 1


def test_racing_writer_rechecks_schema(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A version committed by another writer mid-write is checked too."""
    from mlops_storage import SchemaError

    store.write("shared", pa.table({"a": [1]}))
    real_write_data = Store._write_data

    def write_data_then_race(
        self: Store, dataset_dir: Path, data_path: Path, table: pa.Table
    ) -> None:
        real_write_data(self, dataset_dir, data_path, table)
        monkeypatch.setattr(Store, "_write_data", real_write_data)
        # Another writer commits version 2 with a new column meanwhile.
        Store(store.root).write("shared", pa.table({"a": [2], "b": ["x"]}))

    monkeypatch.setattr(Store, "_write_data", write_data_then_race)
    with pytest.raises(SchemaError, match="'b'"):
        store.write("shared", pa.table({"a": [3]}))
    assert store.versions("shared") == [1, 2]


def test_conditional_write(store: Store) -> None:
    from mlops_storage import VersionConflict

    assert store.write("c", pa.table({"x": [1]}), expected_version=0) == 1
    with pytest.raises(VersionConflict, match="is at version 1") as info:
        store.write("c", pa.table({"x": [2]}), expected_version=0)
    assert (info.value.expected, info.value.current) == (0, 1)
    assert store.write("c", pa.table({"x": [2]}), expected_version=1) == 2
    with pytest.raises(VersionConflict):
        store.write("c", pa.table({"x": [3]}), expected_version=1)
    with pytest.raises(VersionConflict, match="has no version yet"):
        store.write("fresh", pa.table({"x": [1]}), expected_version=3)
    assert store.versions("c") == [1, 2]
    assert len(list((store.root / "c" / "data").iterdir())) == 2


@pytest.mark.parametrize("bad", [-1, True, "1", 1.0])
def test_conditional_write_needs_a_count(store: Store, bad: object) -> None:
    from mlops_storage import StorageError

    table = pa.table({"x": [1]})
    with pytest.raises(StorageError, match="expected_version"):
        store.write("c", table, expected_version=bad)  # type: ignore[arg-type]


def test_conditional_writer_losing_the_race_writes_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer commits between the check and the link: a conflict."""
    from mlops_storage import VersionConflict

    store.write("c", pa.table({"x": [1]}))
    real_write_data = Store._write_data

    def write_data_then_race(
        self: Store, dataset_dir: Path, data_path: Path, table: pa.Table
    ) -> None:
        real_write_data(self, dataset_dir, data_path, table)
        monkeypatch.setattr(Store, "_write_data", real_write_data)
        Store(store.root).write("c", pa.table({"x": [2]}))

    monkeypatch.setattr(Store, "_write_data", write_data_then_race)
    with pytest.raises(VersionConflict, match="is at version 2"):
        store.write("c", pa.table({"x": [3]}), expected_version=1)
    assert store.versions("c") == [1, 2]
    assert store.read("c").column("x").to_pylist() == [2]
    assert len(list((store.root / "c" / "data").iterdir())) == 2
