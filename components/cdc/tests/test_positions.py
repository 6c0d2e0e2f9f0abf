"""Issue #31, item 1: no event is dropped silently.

Events are applied once, in stream order, by a commit-ordered position kept
per source partition; a re-sent event is a duplicate, anything else below the
mark a (stored) dead letter, and an implausible position refuses the batch.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdc_testing import create, event, jsonl, on_kafka, post, sequenced, serving
from mlops_cdc import ChangeApplier
from mlops_storage import Store


def rows(store: Store) -> list[dict[str, Any]]:
    return sorted(store.read("users").to_pylist(), key=lambda row: row["id"])


def test_a_long_transaction_committed_after_a_short_one_is_applied(
    applier: ChangeApplier, store: Store
) -> None:
    """T1 starts first (LSNs 100, 200) but commits after T2 (LSN 300, commit
    310): Debezium delivers T2 first. By LSN, T1's rows were 'skipped'."""
    first = applier.apply_events("users", [sequenced("c", 50, 300, id=2, v="t2")])
    assert first.applied == 1
    second = applier.apply_events(
        "users",
        [
            sequenced("c", 310, 100, id=1, v="t1"),
            sequenced("u", 310, 200, id=1, v="t1 again"),
        ],
    )
    assert (second.applied, second.skipped, second.dead_letters) == (2, 0, [])
    assert rows(store) == [{"id": 1, "v": "t1 again"}, {"id": 2, "v": "t2"}]


def test_commit_order_decides_within_a_batch_too(
    applier: ChangeApplier, store: Store
) -> None:
    result = applier.apply_events(
        "users",
        [
            sequenced("u", 310, 100, id=1, v="later commit, lower LSN"),
            sequenced("c", 50, 300, id=1, v="first commit"),
        ],
    )
    assert result.applied == 2
    assert rows(store) == [{"id": 1, "v": "later commit, lower LSN"}]


def test_a_lower_offset_for_another_row_is_a_dead_letter_not_skipped(
    applier: ChangeApplier, store: Store
) -> None:
    applier.apply_events("users", [create(20, id=1)])
    result = applier.apply_events("users", [create(15, id=2)])
    assert (result.applied, result.skipped) == (0, 0)
    [letter] = result.dead_letters
    assert "below the mark [20]" in letter.reason and "out of order" in letter.reason
    stored = store.read("users.deadletters").to_pylist()
    assert [json.loads(row["raw"])["after"] for row in stored] == [{"id": 2}]


def test_a_resent_batch_is_duplicates_only(
    applier: ChangeApplier, store: Store
) -> None:
    batch = [sequenced("c", 10, 11, id=1), sequenced("c", 10, 12, id=2)]
    applier.apply_events("users", batch)
    again = applier.apply_events("users", [*batch, sequenced("c", 12, 13, id=3)])
    assert (again.applied, again.skipped, again.dead_letters) == (1, 2, [])
    assert store.versions("users") == [1, 2]


def test_snapshot_rows_sharing_one_position_span_batches(
    applier: ChangeApplier, store: Store
) -> None:
    """A snapshot's reads all carry the snapshot's LSN: same position, other keys."""
    snapshot = [sequenced("r", None, 777, id=n) for n in range(1, 7)]
    assert applier.apply_events("users", snapshot[:3]).applied == 3
    assert applier.apply_events("users", snapshot[3:]).applied == 3
    again = applier.apply_events("users", snapshot[:3])
    assert (again.applied, again.skipped, again.dead_letters) == (0, 3, [])
    assert [row["id"] for row in rows(store)] == [1, 2, 3, 4, 5, 6]


def test_marks_are_kept_per_kafka_partition(
    applier: ChangeApplier, store: Store
) -> None:
    applier.apply_events("users", [on_kafka(create(100, id=1), 0, 100)])
    result = applier.apply_events("users", [on_kafka(create(5, id=2), 1, 5)])
    assert (result.applied, result.dead_letters) == (1, [])
    marks = json.loads(store.metadata("users")["cdc.positions"])
    assert {p: m["mark"] for p, m in marks.items()} == {
        "kafka:app.users:0": [100],
        "kafka:app.users:1": [5],
    }


TOKEN = "positions-token"


def test_a_position_beyond_64_bits_is_refused_and_the_stream_goes_on(
    applier: ChangeApplier, store: Store
) -> None:
    """As seen on the platform: lsn 10**21, then 500 -> the second 'skipped'."""
    with serving(applier, token=None, allow_anonymous_writes=True) as server:
        status, answer = post(server, jsonl(create(10**21, id=1)).encode())
        assert status == 400
        assert "beyond 2**64-1" in answer["error"] and "line 1" in answer["error"]
        status, answer = post(server, jsonl(create(500, id=2)).encode())
        assert (status, answer["applied"], answer["dead_letters"]) == (200, 1, [])
    assert rows(store) == [{"id": 2}]


@pytest.mark.parametrize(
    ("lsn", "words"),
    [
        ("abc", "non-negative integer"),
        (-1, "non-negative integer"),
        (1.5, "non-negative integer"),
        (2**64, "beyond 2**64-1"),
    ],
)
def test_implausible_positions_refuse_the_batch(
    applier: ChangeApplier, store: Store, lsn: Any, words: str
) -> None:
    bad = event("c", None, after={"id": 2})
    bad["source"]["lsn"] = lsn
    with serving(applier, allow_anonymous_writes=True) as server:
        status, answer = post(server, jsonl(create(1, id=1), bad).encode())
    assert status == 400 and words in answer["error"]
    assert store.datasets() == []  # nothing of the batch applied


def test_a_sequence_that_is_not_numbers_is_refused(applier: ChangeApplier) -> None:
    bad = sequenced("c", 1, 2, id=1)
    bad["source"]["sequence"] = '["x", "y"]'
    with serving(applier, allow_anonymous_writes=True) as server:
        status, answer = post(server, jsonl(bad).encode())
    assert status == 400 and "whole number" in answer["error"]


def test_a_position_far_ahead_of_the_mark_is_refused(
    applier: ChangeApplier, store: Store
) -> None:
    jump = applier.limits.max_position_jump
    with serving(applier, allow_anonymous_writes=True) as server:
        assert post(server, jsonl(create(1000, id=1)).encode())[0] == 200
        status, answer = post(server, jsonl(create(1000 + jump + 1, id=2)).encode())
        assert status == 400 and "ahead of [1000]" in answer["error"]
        status, answer = post(server, jsonl(create(1000 + jump, id=3)).encode())
        assert (status, answer["applied"]) == (200, 1)
    assert [row["id"] for row in rows(store)] == [1, 3]


def test_a_table_written_with_the_single_old_mark_keeps_it(store: Store) -> None:
    """A table written before marks were per partition: its one offset mark
    still holds for plain offsets, so old events are not applied again."""
    import pyarrow as pa

    store.write(
        "users",
        pa.table({"id": [1], "v": ["new"]}),
        metadata={"cdc.high_water_offset": "40", "cdc.key": "id"},
    )
    result = ChangeApplier(store).apply_events(
        "users", [create(30, id=1, v="old"), create(41, id=2, v="next")]
    )
    assert (result.applied, len(result.dead_letters)) == (1, 1)
    assert rows(store) == [{"id": 1, "v": "new"}, {"id": 2, "v": "next"}]
