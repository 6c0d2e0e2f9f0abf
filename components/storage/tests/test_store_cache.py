"""What readers remember of immutable versions, and the commit lock."""

from __future__ import annotations

import fcntl
import os
import threading

import pyarrow as pa
import pytest
from mlops_storage import DatasetNotFound, Store, VersionNotFound


def test_latest_follows_versions_written_by_another_store(store: Store) -> None:
    store.write("ds", pa.table({"x": [1]}))
    assert store.latest("ds") == 1
    other = Store(store.root)
    for expected in range(2, 40):  # more than one probe run past the last seen
        assert other.write("ds", pa.table({"x": [expected]})) == expected
    assert store.latest("ds") == 39
    assert store.read("ds").column("x").to_pylist() == [39]


def test_latest_of_a_dataset_made_again_from_scratch(store: Store) -> None:
    for value in range(5):
        store.write("ds", pa.table({"x": [value]}))
    assert store.latest("ds") == 5
    for path in (store.root / "ds" / "versions").iterdir():
        path.unlink()
    with pytest.raises(DatasetNotFound):
        store.latest("ds")
    Store(store.root).write("ds", pa.table({"x": [9]}))
    assert store.latest("ds") == 1
    assert store.read("ds").column("x").to_pylist() == [9]


def test_missing_version_is_still_reported(store: Store) -> None:
    store.write("ds", pa.table({"x": [1]}))
    with pytest.raises(VersionNotFound, match="latest is 1"):
        store.read("ds", 7)
    with pytest.raises(DatasetNotFound):
        store.read("nothing", 1)


def test_a_manifest_edited_by_hand_is_read_again(store: Store) -> None:
    store.write("ds", pa.table({"x": [1]}), metadata={"k": "old"})
    assert store.metadata("ds") == {"k": "old"}
    path = next((store.root / "ds" / "versions").iterdir())
    path.write_text(path.read_text().replace('"old"', '"new!"'))
    assert store.metadata("ds") == {"k": "new!"}


def test_schema_is_read_once_per_data_file(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    store.write("ds", pa.table({"x": [1]}))
    calls = []
    real = pq.read_schema

    def counting(path: object) -> pa.Schema:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(pq, "read_schema", counting)
    for _ in range(3):
        assert store.schema("ds").names == ["x"]
    assert len(calls) == 1


def test_data_is_written_in_place_without_scratch_files(store: Store) -> None:
    store.write("ds", pa.table({"x": [1]}))
    assert list((store.root / "ds" / "tmp").iterdir()) == []
    assert len(list((store.root / "ds" / "data").iterdir())) == 1


def test_commit_waits_for_the_lock_another_writer_holds(store: Store) -> None:
    """The commit step queues on a flock of versions/ (any process may hold it)."""
    store.write("ds", pa.table({"x": [1]}))
    fd = os.open(store.root / "ds" / "versions", os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    result: list[int] = []
    writer = threading.Thread(
        target=lambda: result.append(store.write("ds", pa.table({"x": [2]})))
    )
    writer.start()
    writer.join(timeout=0.5)
    try:
        assert writer.is_alive(), "the commit did not wait for the lock"
        assert store.versions("ds") == [1]
    finally:
        os.close(fd)
    writer.join(timeout=10)
    assert result == [2]


def test_write_without_a_lockable_directory_still_commits(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(fd: int, operation: int) -> None:
        raise OSError("locks not supported here")

    monkeypatch.setattr(fcntl, "flock", refuse)
    assert store.write("ds", pa.table({"x": [1]})) == 1
    assert store.write("ds", pa.table({"x": [2]})) == 2
