from __future__ import annotations

import json
import threading
from typing import Any

import pyarrow as pa
import pytest
from cdc_testing import create, delete, event, jsonl, lines, read, update
from mlops_cdc import ChangeApplier, KeyMismatchError
from mlops_cdc.apply import CdcError
from mlops_storage import Store


def mark(store: Store, name: str, partition: str = "offset:") -> list[int]:
    """The table's high-water position of one source partition."""
    positions = json.loads(store.metadata(name)["cdc.positions"])
    return list(positions[partition]["mark"])


def rows(store: Store, name: str, version: int | None = None) -> list[dict[str, Any]]:
    return sorted(
        store.read(name, version).to_pylist(), key=lambda row: repr(row["id"])
    )


def test_inserts_create_first_version(applier: ChangeApplier, store: Store) -> None:
    result = applier.apply_events(
        "users",
        [create(10, id=1, name="ada", age=36), create(11, id=2, name="bob", age=41)],
    )
    assert (result.applied, result.skipped, result.dead_letters) == (2, 0, [])
    assert result.version == 1
    assert result.high_water_offset == 11
    assert store.versions("users") == [1]
    assert rows(store, "users") == [
        {"id": 1, "name": "ada", "age": 36},
        {"id": 2, "name": "bob", "age": 41},
    ]
    schema = store.schema("users")
    assert schema.names == ["id", "name", "age"]
    assert schema.field("id").type == pa.int64()
    meta = store.metadata("users")
    assert mark(store, "users") == [11]
    assert meta["cdc.key"] == "id"
    assert meta["cdc.applied"] == "2"


def test_snapshot_reads_then_updates_and_deletes(
    applier: ChangeApplier, store: Store
) -> None:
    first = applier.apply_events(
        "users",
        [
            read(1, id=1, name="ada", age=36),
            read(2, id=2, name="bob", age=41),
            read(3, id=3, name="cy", age=29),
        ],
    )
    assert first.version == 1
    second = applier.apply_events(
        "users",
        [
            update(
                4, before={"id": 1, "name": "ada", "age": 36}, id=1, name="ada", age=37
            ),
            delete(5, id=2, name="bob", age=41),
            create(6, id=4, name="dee", age=50),
        ],
    )
    assert (second.applied, second.skipped, second.version) == (3, 0, 2)
    assert rows(store, "users") == [
        {"id": 1, "name": "ada", "age": 37},
        {"id": 3, "name": "cy", "age": 29},
        {"id": 4, "name": "dee", "age": 50},
    ]
    # The previous version is untouched.
    assert [row["age"] for row in rows(store, "users", 1)] == [36, 41, 29]


def test_update_of_unknown_key_inserts_the_after_image(
    applier: ChangeApplier, store: Store
) -> None:
    result = applier.apply_events("users", [update(7, id=9, name="zed")])
    assert (result.applied, result.dead_letters) == (1, [])
    assert rows(store, "users") == [{"id": 9, "name": "zed"}]


def test_update_replaces_the_whole_row(applier: ChangeApplier, store: Store) -> None:
    applier.apply_events("users", [create(1, id=1, name="ada", age=36)])
    applier.apply_events("users", [update(2, id=1, name="ada")])
    assert rows(store, "users") == [{"id": 1, "name": "ada", "age": None}]


def test_delete_of_unknown_key_is_a_no_op(applier: ChangeApplier, store: Store) -> None:
    applier.apply_events("users", [create(1, id=1, name="ada")])
    result = applier.apply_events("users", [delete(2, id=99)])
    assert (result.applied, result.dead_letters, result.version) == (1, [], 2)
    assert rows(store, "users") == [{"id": 1, "name": "ada"}]
    assert mark(store, "users") == [2]


def test_delete_with_key_only_before_image(
    applier: ChangeApplier, store: Store
) -> None:
    # Postgres with the default replica identity sends only the key in "before".
    applier.apply_events(
        "users", [create(1, id=1, name="ada"), create(2, id=2, name="b")]
    )
    applier.apply_events("users", [event("d", 3, before={"id": 1, "name": None})])
    assert rows(store, "users") == [{"id": 2, "name": "b"}]


def test_deleting_every_row_keeps_the_schema(
    applier: ChangeApplier, store: Store
) -> None:
    applier.apply_events("users", [create(1, id=1, name="ada")])
    result = applier.apply_events("users", [delete(2, id=1)])
    assert result.version == 2
    data = store.read("users")
    assert data.num_rows == 0
    assert data.schema.names == ["id", "name"]


def test_primary_key_change_moves_the_row(applier: ChangeApplier, store: Store) -> None:
    applier.apply_events("users", [create(1, id=1, name="ada")])
    applier.apply_events(
        "users", [update(2, before={"id": 1, "name": "ada"}, id=5, name="ada")]
    )
    assert rows(store, "users") == [{"id": 5, "name": "ada"}]


def test_out_of_order_offsets_are_applied_in_offset_order(
    applier: ChangeApplier, store: Store
) -> None:
    result = applier.apply_events(
        "users",
        [
            update(30, id=1, name="third"),
            create(10, id=1, name="first"),
            delete(25, id=2),
            update(20, id=1, name="second"),
            create(15, id=2, name="gone"),
        ],
    )
    assert (result.applied, result.version, result.high_water_offset) == (5, 1, 30)
    assert rows(store, "users") == [{"id": 1, "name": "third"}]


def test_replaying_a_batch_is_idempotent(applier: ChangeApplier, store: Store) -> None:
    batch = lines(
        create(1, id=1, name="ada"),
        create(2, id=2, name="bob"),
        update(3, id=1, name="ada lovelace"),
    )
    first = applier.apply_lines("users", batch)
    assert (first.applied, first.skipped, first.version) == (3, 0, 1)
    again = applier.apply_lines("users", batch)
    assert (again.applied, again.skipped, again.version) == (0, 3, None)
    assert again.high_water_offset == 3
    assert store.versions("users") == [1]
    assert rows(store, "users") == [
        {"id": 1, "name": "ada lovelace"},
        {"id": 2, "name": "bob"},
    ]


def test_overlapping_batch_applies_only_new_offsets(
    applier: ChangeApplier, store: Store
) -> None:
    applier.apply_events(
        "users", [create(1, id=1, name="a"), create(2, id=2, name="b")]
    )
    result = applier.apply_events(
        "users",
        [
            create(2, id=2, name="b"),
            update(3, id=2, name="b2"),
            create(4, id=3, name="c"),
        ],
    )
    assert (result.applied, result.skipped, result.version) == (2, 1, 2)
    assert mark(store, "users") == [4]
    assert [row["name"] for row in rows(store, "users")] == ["a", "b2", "c"]


def test_duplicate_offset_within_a_batch_is_skipped(
    applier: ChangeApplier, store: Store
) -> None:
    result = applier.apply_events(
        "users", [create(1, id=1, name="first"), create(1, id=1, name="duplicate")]
    )
    assert (result.applied, result.skipped) == (1, 1)
    assert rows(store, "users") == [{"id": 1, "name": "first"}]


def test_malformed_events_are_dead_lettered_and_the_rest_applied(
    applier: ChangeApplier, store: Store
) -> None:
    batch = lines(
        create(1, id=1, name="ada"),  # line 1
        "{not json",  # 2
        {"before": None, "after": {"id": 3}, "source": {"lsn": 3}},  # 3
        event("x", 4, after={"id": 4}),  # 4
        create(5, name="no key"),  # 5
        event("c", None, after={"id": 6}),  # 6
        "[1, 2]",  # 7
        event("c", 8, after=None),  # 8
        event("d", 9, before=None),  # 9
        event("c", 10, after={"id": 10, "": 1}),  # 10: no name for a column
        update(11, id=1, name="ada l."),  # 11
        create(12, id=12, name=42),  # 12: name is a string column
        create(13, id={"nested": 1}),  # 13
        "   ",  # blank: ignored
        create(14, id=2, name="bob"),  # 15
    )
    result = applier.apply_lines("users", batch)
    reasons = {letter.line or 0: letter.reason for letter in result.dead_letters}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13]
    assert reasons[2].startswith("invalid JSON")
    assert reasons[3] == "missing op"
    assert reasons[4].startswith("unknown op 'x'")
    assert reasons[5] == "missing key column 'id' in after image"
    assert reasons[6] == "missing offset source.lsn"
    assert reasons[7] == "event must be a JSON object"
    assert reasons[8] == "op 'c' requires a 'after' image"
    assert reasons[9] == "op 'd' requires a 'before' image"
    assert reasons[10].startswith('column name "" is not usable')
    assert reasons[12] == "column 'name': cannot store 42 as string"
    assert reasons[13] == "key column 'id' in after image is not a scalar"
    by_line = {letter.line or 0: letter for letter in result.dead_letters}
    assert by_line[2].raw == "{not json"
    assert by_line[4].offset == 4
    assert by_line[12].offset == 12
    assert (result.applied, result.skipped, result.version) == (3, 0, 1)
    assert rows(store, "users") == [
        {"id": 1, "name": "ada l."},
        {"id": 2, "name": "bob"},
    ]


def test_type_mismatch_against_an_existing_column(
    applier: ChangeApplier, store: Store
) -> None:
    applier.apply_events("users", [create(1, id=1, age=30)])
    result = applier.apply_events(
        "users", [create(2, id=2, age="old"), create(3, id=3, age=40)]
    )
    assert [letter.reason for letter in result.dead_letters] == [
        "column 'age': cannot store \"old\" as int64"
    ]
    assert result.applied == 1
    assert [row["age"] for row in rows(store, "users")] == [30, 40]


def test_new_columns_evolve_the_schema(applier: ChangeApplier, store: Store) -> None:
    applier.apply_events("users", [create(1, id=1, name="ada", note=None)])
    # An all-null column is not materialised until it has a value.
    assert store.schema("users").names == ["id", "name"]
    applier.apply_events(
        "users",
        [
            create(2, id=2, name="bob", note="hi", score=1),
            update(
                3, id=1, name="ada", score=2.5, tags=["x", "y"], address={"c": "UK"}
            ),
        ],
    )
    schema = store.schema("users")
    assert schema.names == ["id", "name", "note", "score", "tags", "address"]
    assert schema.field("score").type == pa.float64()
    assert schema.field("tags").type == pa.string()
    assert rows(store, "users") == [
        {
            "id": 1,
            "name": "ada",
            "note": None,
            "score": 2.5,
            "tags": '["x", "y"]',
            "address": '{"c": "UK"}',
        },
        {
            "id": 2,
            "name": "bob",
            "note": "hi",
            "score": 1.0,
            "tags": None,
            "address": None,
        },
    ]


def test_composite_key(store: Store) -> None:
    applier = ChangeApplier(store, key="tenant,id")
    applier.apply_events(
        "orders",
        [
            create(1, tenant="a", id=1, total=5),
            create(2, tenant="b", id=1, total=7),
            update(3, tenant="a", id=1, total=6),
            delete(4, tenant="b", id=1),
        ],
    )
    assert store.read("orders").to_pylist() == [{"tenant": "a", "id": 1, "total": 6}]
    assert store.metadata("orders")["cdc.key"] == "tenant,id"


def test_other_key_columns_for_an_existing_table_are_refused(
    applier: ChangeApplier, store: Store
) -> None:
    applier.apply_events("users", [create(1, id=1, email="a@x")])
    with pytest.raises(KeyMismatchError):
        applier.apply_events("users", [create(2, id=2, email="b@x")], key="email")
    assert store.versions("users") == [1]


def test_table_without_the_key_column_is_refused(store: Store) -> None:
    store.write("plain", pa.table({"name": ["x"]}))
    with pytest.raises(CdcError, match="no key column 'id'"):
        ChangeApplier(store).apply_events("plain", [create(1, id=1, name="y")])


def test_invalid_table_name_is_refused(applier: ChangeApplier) -> None:
    with pytest.raises(CdcError, match="invalid table name"):
        applier.apply_events("../escape", [create(1, id=1)])


def test_table_created_outside_cdc_is_adopted(store: Store) -> None:
    store.write("people", pa.table({"id": [1, 2], "name": ["a", "b"]}))
    result = ChangeApplier(store).apply_events("people", [update(5, id=2, name="b2")])
    assert result.version == 2
    assert store.read("people").to_pylist() == [
        {"id": 1, "name": "a"},
        {"id": 2, "name": "b2"},
    ]


def test_values_are_cast_to_existing_column_types(
    applier: ChangeApplier, store: Store
) -> None:
    store.write("typed", pa.table({"id": pa.array([1], pa.int32()), "v": [1.0]}))
    result = applier.apply_events("typed", [create(1, id=2, v=3)])
    assert result.dead_letters == []
    assert store.schema("typed").field("id").type == pa.int32()
    assert store.read("typed").column("v").to_pylist() == [1.0, 3.0]


def test_truncate_removes_every_row(applier: ChangeApplier, store: Store) -> None:
    applier.apply_events(
        "users", [create(1, id=1, name="a"), create(2, id=2, name="b")]
    )
    result = applier.apply_events("users", [event("t", 3), create(4, id=3, name="c")])
    assert result.applied == 2
    assert rows(store, "users") == [{"id": 3, "name": "c"}]


def test_truncate_on_a_new_table_writes_nothing(
    applier: ChangeApplier, store: Store
) -> None:
    result = applier.apply_events("fresh", [event("t", 1)])
    assert (result.applied, result.version) == (1, None)
    assert store.datasets() == []


def test_schema_payload_envelope_and_string_offsets(
    applier: ChangeApplier, store: Store
) -> None:
    wrapped = {"schema": {"type": "struct"}, "payload": create(7, id=1, name="ada")}
    textual = create(8, id=2, name="bob")
    textual["source"]["lsn"] = "8"
    result = applier.apply_lines("users", lines(wrapped, textual))
    assert (result.applied, result.dead_letters, result.high_water_offset) == (2, [], 8)


def test_custom_offset_field(store: Store) -> None:
    applier = ChangeApplier(store, offset_field="source.ts_ms")
    events = [
        {"op": "c", "after": {"id": 1, "v": "b"}, "source": {"ts_ms": 20}},
        {"op": "c", "after": {"id": 1, "v": "a"}, "source": {"ts_ms": 10}},
    ]
    result = applier.apply_events("t", events)
    assert result.applied == 2
    assert store.read("t").to_pylist() == [{"id": 1, "v": "b"}]
    assert store.metadata("t")["cdc.offset_field"] == "source.ts_ms"


def test_batch_with_only_dead_letters_writes_nothing(
    applier: ChangeApplier, store: Store
) -> None:
    result = applier.apply_lines("users", ["nope\n", "\n"])
    assert (result.applied, result.version, len(result.dead_letters)) == (0, None, 1)
    assert store.datasets() == ["users.deadletters"]  # no version of the table


def test_invalid_utf8_line_is_dead_lettered(applier: ChangeApplier) -> None:
    good = jsonl(create(2, id=2)).encode()
    result = applier.apply_lines("users", [b"\xff\xfe{}\n", good])
    assert result.dead_letters[0].line == 1
    assert result.dead_letters[0].reason.startswith("not valid UTF-8")
    assert result.applied == 1


def test_concurrent_replays_write_one_version(
    applier: ChangeApplier, store: Store
) -> None:
    batch = lines(*(create(n, id=n, name=f"user{n}") for n in range(1, 51)))
    results = []

    def worker() -> None:
        results.append(applier.apply_lines("users", batch))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.versions("users") == [1]
    assert sorted(result.applied for result in results) == [0, 0, 0, 50]
    assert store.read("users").num_rows == 50


def test_result_serialises_to_json(applier: ChangeApplier) -> None:
    result = applier.apply_lines("users", lines(create(1, id=1), "bad"))
    assert result.to_dict() == {
        "table": "users",
        "applied": 1,
        "skipped": 0,
        "dead_letters": [
            {
                "line": 2,
                "offset": None,
                "partition": None,
                "position": None,
                "reason": result.dead_letters[0].reason,
                "raw": "bad",
            }
        ],
        "dead_letters_total": 1,
        "version": 1,
        "high_water_offset": 1,
        "high_water": {"offset:": [1]},
    }


def test_invalid_configuration(store: Store) -> None:
    with pytest.raises(CdcError):
        ChangeApplier(store, key="")
    with pytest.raises(CdcError):
        ChangeApplier(store, key="id,id")
    with pytest.raises(CdcError):
        ChangeApplier(store, offset_field="source.")
