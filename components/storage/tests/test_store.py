from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from mlops_storage import (
    DatasetNotFound,
    StorageError,
    Store,
    VersionNotFound,
    default_root,
)


def test_write_returns_increasing_versions(store: Store) -> None:
    assert store.write("events", pa.table({"id": [1, 2]})) == 1
    assert store.write("events", pa.table({"id": [3]})) == 2
    assert store.write("other", pa.table({"id": [9]})) == 1
    assert store.versions("events") == [1, 2]
    assert store.versions("other") == [1]


def test_read_latest_and_specific_version(store: Store) -> None:
    first = pa.table({"id": [1, 2], "label": ["a", "b"]})
    second = pa.table({"id": [3], "label": ["c"]})
    store.write("events", first)
    store.write("events", second)
    assert store.read("events").equals(second)
    assert store.read("events", None).equals(second)
    assert store.read("events", 1).equals(first)
    assert store.read("events", 2).equals(second)


def test_metadata_and_schema_per_version(store: Store) -> None:
    store.write("events", pa.table({"id": [1]}), metadata={"source": "cdc", "lsn": "7"})
    store.write("events", pa.table({"id": [2], "note": ["x"]}))
    assert store.metadata("events", 1) == {"source": "cdc", "lsn": "7"}
    assert store.metadata("events") == {}
    assert store.schema("events", 1).names == ["id"]
    latest = store.schema("events")
    assert latest.names == ["id", "note"]
    assert latest.field("note").type == pa.string()


def test_datasets_sorted_and_empty_root(tmp_path: Path) -> None:
    store = Store(tmp_path / "does" / "not" / "exist")
    assert store.datasets() == []
    for name in ["zeta", "Alpha", "beta.v2", "a_b-c"]:
        store.write(name, pa.table({"x": [1]}))
    assert store.datasets() == sorted(["zeta", "Alpha", "beta.v2", "a_b-c"])
    assert (tmp_path / "does" / "not" / "exist").is_dir()


def test_stray_directories_are_not_datasets(store: Store) -> None:
    store.write("real", pa.table({"x": [1]}))
    (store.root / "empty").mkdir()
    (store.root / "not a dataset").mkdir()
    assert store.datasets() == ["real"]


def test_default_root_honours_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_STORAGE_ROOT", str(tmp_path / "env-root"))
    assert default_root() == tmp_path / "env-root"
    store = Store()
    assert store.root == tmp_path / "env-root"
    store.write("d", pa.table({"x": [1]}))
    assert Store(tmp_path / "env-root").versions("d") == [1]


def test_default_root_falls_back_to_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLOPS_STORAGE_ROOT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Store().root == tmp_path / ".local" / "share" / "mlops-storage"
    assert Store().datasets() == []


def test_unknown_dataset(store: Store) -> None:
    with pytest.raises(DatasetNotFound, match="'missing'"):
        store.versions("missing")
    with pytest.raises(DatasetNotFound):
        store.read("missing")
    with pytest.raises(DatasetNotFound):
        store.metadata("missing")
    with pytest.raises(DatasetNotFound):
        store.schema("missing")


@pytest.mark.parametrize("version", [0, -1, 3, 10**9])
def test_unknown_version(store: Store, version: int) -> None:
    store.write("events", pa.table({"x": [1]}))
    store.write("events", pa.table({"x": [2]}))
    with pytest.raises(VersionNotFound, match=f"version {version} .*latest is 2"):
        store.read("events", version)
    with pytest.raises(VersionNotFound):
        store.metadata("events", version)


def test_non_integer_version_is_refused(store: Store) -> None:
    store.write("events", pa.table({"x": [1]}))
    with pytest.raises(StorageError, match="integer"):
        store.read("events", "1")  # type: ignore[arg-type]  # wrong type on purpose
    with pytest.raises(StorageError, match="integer"):
        store.read("events", True)


def test_errors_share_base_class() -> None:
    from mlops_storage import ConcurrentWriteError, SchemaError

    for error in (DatasetNotFound, VersionNotFound, SchemaError, ConcurrentWriteError):
        assert issubclass(error, StorageError)


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "..",
        "...",
        "../escape",
        "a/b",
        "a\\b",
        "with space",
        "x\n",
        "é",
        "a" * 201,
    ],
)
def test_invalid_names_are_refused(store: Store, name: str) -> None:
    with pytest.raises(StorageError, match="invalid dataset name"):
        store.write(name, pa.table({"x": [1]}))
    with pytest.raises(StorageError, match="invalid dataset name"):
        store.read(name)
    with pytest.raises(StorageError, match="invalid dataset name"):
        store.versions(name)
    assert not (store.root.parent / "escape").exists()


def test_non_string_name_is_refused(store: Store) -> None:
    with pytest.raises(StorageError, match="must be a string"):
        store.write(42, pa.table({"x": [1]}))  # type: ignore[arg-type]  # on purpose


def test_write_validates_table_and_metadata(store: Store) -> None:
    with pytest.raises(StorageError, match="pyarrow.Table"):
        store.write("d", {"x": [1]})
    table = pa.table({"x": [1]})
    not_str: Any = {"n": 1}
    with pytest.raises(StorageError, match="str to str"):
        store.write("d", table, metadata=not_str)
    not_mapping: Any = [("a", "b")]
    with pytest.raises(StorageError, match="mapping"):
        store.write("d", table, metadata=not_mapping)
    assert store.datasets() == []


def test_empty_table_round_trips(store: Store) -> None:
    table = pa.table({"x": pa.array([], pa.int32())})
    assert store.write("empty", table) == 1
    assert store.read("empty").equals(table)


def test_rich_types_round_trip(store: Store) -> None:
    table = pa.table(
        {
            "ts": pa.array([0, None], pa.timestamp("us", tz="UTC")),
            "tags": pa.array([["a"], []], pa.list_(pa.string())),
            "blob": pa.array([b"\x00", b"x"], pa.binary()),
        }
    )
    store.write("rich", table)
    assert store.read("rich").equals(table)
