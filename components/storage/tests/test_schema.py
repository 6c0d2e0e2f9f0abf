from __future__ import annotations

import pyarrow as pa
import pytest
from mlops_storage import SchemaError, Store


def test_adding_nullable_column_is_allowed(store: Store) -> None:
    store.write("d", pa.table({"id": [1]}))
    version = store.write(
        "d", pa.table({"id": [2], "extra": pa.array([None], pa.string())})
    )
    assert version == 2
    assert store.schema("d").names == ["id", "extra"]
    assert store.read("d", 1).column_names == ["id"]


def test_reordering_columns_is_allowed(store: Store) -> None:
    store.write("d", pa.table({"a": [1], "b": ["x"]}))
    assert store.write("d", pa.table({"b": ["y"], "a": [2]})) == 2


def test_dropping_column_is_refused(store: Store) -> None:
    store.write("d", pa.table({"id": [1], "label": ["x"]}))
    with pytest.raises(SchemaError, match="'label'.*dropped") as info:
        store.write("d", pa.table({"id": [2]}))
    assert info.value.column == "label"
    assert store.versions("d") == [1]


def test_retyping_column_is_refused(store: Store) -> None:
    store.write("d", pa.table({"id": pa.array([1], pa.int64())}))
    with pytest.raises(SchemaError, match="'id'.*int64.*string") as info:
        store.write("d", pa.table({"id": ["1"]}))
    assert info.value.column == "id"
    with pytest.raises(SchemaError, match="'id'"):
        store.write("d", pa.table({"id": pa.array([1], pa.int32())}))
    assert store.versions("d") == [1]


def test_adding_non_nullable_column_is_refused(store: Store) -> None:
    store.write("d", pa.table({"id": [1]}))
    schema = pa.schema(
        [("id", pa.int64()), pa.field("must", pa.int64(), nullable=False)]
    )
    table = pa.table({"id": [2], "must": [3]}, schema=schema)
    with pytest.raises(SchemaError, match="'must'.*nullable") as info:
        store.write("d", table)
    assert info.value.column == "must"


def test_first_version_may_have_non_nullable_columns(store: Store) -> None:
    schema = pa.schema([pa.field("id", pa.int64(), nullable=False)])
    assert store.write("d", pa.table({"id": [1]}, schema=schema)) == 1
    assert store.write("d", pa.table({"id": [2]}, schema=schema)) == 2


def test_duplicate_column_names_are_refused(store: Store) -> None:
    table = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["x", "x"])
    with pytest.raises(SchemaError, match="duplicate column name 'x'"):
        store.write("d", table)


def test_refused_write_leaves_no_data_file(store: Store) -> None:
    store.write("d", pa.table({"id": [1]}))
    with pytest.raises(SchemaError):
        store.write("d", pa.table({"other": [1]}))
    assert len(list((store.root / "d" / "data").iterdir())) == 1
    assert list((store.root / "d" / "tmp").iterdir()) == []


def test_nested_columns_keep_their_type_across_versions(store: Store) -> None:
    # Parquet renames list items ("item" -> "element"); that is not a retype.
    table = pa.table(
        {
            "tags": pa.array([["a"]], pa.list_(pa.string())),
            "attrs": pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64())),
            "point": pa.array([{"x": 1.0}], pa.struct([("x", pa.float64())])),
        }
    )
    store.write("d", table)
    assert store.write("d", table) == 2
    with pytest.raises(SchemaError, match="'tags'"):
        store.write("d", table.set_column(0, "tags", pa.array([[1]])))
