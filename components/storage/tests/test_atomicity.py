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
from mlops_storage import Store

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
