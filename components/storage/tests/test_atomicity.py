"""A crash between writing the data and committing the manifest loses nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from mlops_storage import Store, VersionNotFound

CRASH_SCRIPT = textwrap.dedent("""
    import os
    import sys

    import pyarrow as pa

    import mlops_storage.store as store_module
    from mlops_storage import Store

    point = sys.argv[2]
    if point == "before-manifest":
        # Data file is on disk; die before the manifest is even written.
        def crash(*args, **kwargs):
            os._exit(17)
        Store._commit_manifest = crash
    elif point == "before-link":
        # Data file and a complete temporary manifest exist; die before the link.
        def crash_link(*args, **kwargs):
            os._exit(17)
        store_module.os.link = crash_link
    Store(sys.argv[1]).write("ds", pa.table({"x": [99]}))
    """)


class SimulatedCrash(Exception):
    pass


@pytest.mark.parametrize("point", ["before-manifest", "before-link"])
def test_process_crash_keeps_previous_version(store: Store, point: str) -> None:
    first = pa.table({"x": [1, 2, 3]})
    store.write("ds", first, metadata={"v": "1"})

    proc = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(store.root), point],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 17, proc.stderr

    # The crashed write left its data file behind, but no new version.
    assert len(list((store.root / "ds" / "data").iterdir())) == 2
    assert store.versions("ds") == [1]
    assert store.read("ds").equals(first)
    assert store.metadata("ds") == {"v": "1"}

    # The store keeps working: the next write becomes version 2.
    second = pa.table({"x": [4]})
    assert store.write("ds", second) == 2
    assert store.read("ds").equals(second)
    assert store.read("ds", 1).equals(first)


def test_failure_before_commit_cleans_up(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = pa.table({"x": [1]})
    store.write("ds", first)

    def fail(*args: Any, **kwargs: Any) -> bool:
        raise SimulatedCrash("disk on fire")

    monkeypatch.setattr(store, "_commit_manifest", fail)
    with pytest.raises(SimulatedCrash):
        store.write("ds", pa.table({"x": [2]}))
    monkeypatch.undo()

    assert store.versions("ds") == [1]
    assert store.read("ds").equals(first)
    assert len(list((store.root / "ds" / "data").iterdir())) == 1
    assert list((store.root / "ds" / "tmp").iterdir()) == []


def test_first_write_crash_leaves_no_dataset(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: Any, **kwargs: Any) -> bool:
        raise SimulatedCrash("power cut")

    monkeypatch.setattr(store, "_commit_manifest", fail)
    with pytest.raises(SimulatedCrash):
        store.write("fresh", pa.table({"x": [1]}))
    assert store.datasets() == []


def test_manifest_is_complete_json(store: Store) -> None:
    store.write("ds", pa.table({"x": [1]}), metadata={"k": "v"})
    manifests = list((store.root / "ds" / "versions").iterdir())
    assert len(manifests) == 1
    manifest = json.loads(manifests[0].read_text())
    assert manifest["version"] == 1
    assert manifest["metadata"] == {"k": "v"}
    assert manifest["num_rows"] == 1
    assert (store.root / "ds" / manifest["data_file"]).is_file()


def test_corrupt_manifest_is_reported(store: Store) -> None:
    from mlops_storage import StorageError

    store.write("ds", pa.table({"x": [1]}))
    path: Path = next((store.root / "ds" / "versions").iterdir())
    path.write_text("{not json")
    with pytest.raises(StorageError, match="manifest"):
        store.read("ds")


def synced_paths(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path os.fsync is called on from now on, in order."""
    import os

    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


def test_a_write_syncs_its_directory_entries_before_it_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A version acknowledged (201) must survive a power cut: its manifest's
    # entry in versions/, and for a new dataset the dataset's own entries.
    store = Store(tmp_path / "store")
    synced = synced_paths(monkeypatch)
    store.write("ds", pa.table({"x": [1]}))
    dataset = store.root / "ds"
    for directory in (store.root, dataset, dataset / "data", dataset / "versions"):
        assert str(directory) in synced, f"{directory} not synced: {synced}"
    assert synced[-1] == str(dataset / "versions")
    synced.clear()
    store.write("ds", pa.table({"x": [2]}))
    assert synced[-1] == str(dataset / "versions")


def test_a_torn_manifest_is_no_version(store: Store) -> None:
    # What a writer killed between creating a manifest and writing it leaves
    # (the commit path of file systems without hard links), or a power cut
    # before its data reached the disk: an empty or zero-filled file.
    first = pa.table({"x": [1]})
    store.write("ds", first)
    versions = store.root / "ds" / "versions"
    (versions / "0000000002.json").write_bytes(b"")
    fresh = Store(store.root)
    assert fresh.latest("ds") == 1
    assert fresh.read("ds").equals(first)
    assert fresh.versions("ds") == [1]
    with pytest.raises(VersionNotFound):
        fresh.read("ds", 2)
    # The next write takes the torn number (nobody was ever told about it).
    assert fresh.write("ds", pa.table({"x": [2]}), expected_version=1) == 2
    assert fresh.read("ds").column("x").to_pylist() == [2]
    (versions / "0000000003.json").write_bytes(b"\0" * 300)
    assert Store(store.root).read("ds", None).column("x").to_pylist() == [2]
    assert Store(store.root).write("ds", pa.table({"x": [3]})) == 3
