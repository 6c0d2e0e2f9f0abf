"""Issue #31, item 4: dead letters outlive the answer that reported them.

They are stored in ``<table>.deadletters`` before cdc answers, once each
however often a batch is sent, listed by ``mlops-cdc deadletters`` and
replayed by ``mlops-cdc replay --stored``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cdc_testing import create, jsonl, lines, post, serving
from mlops_cdc import ChangeApplier
from mlops_cdc.cli import main
from mlops_storage import Store

TOKEN = "dead-letter-token"


def stored(store: Store, table: str = "users") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = store.read(f"{table}.deadletters").to_pylist()
    return rows


def test_a_lost_answer_loses_no_dead_letter(
    applier: ChangeApplier, store: Store
) -> None:
    batch = lines(create(1, id=1, age=1), "oops", create(2, id=2, age="x"))
    first = applier.apply_lines("users", batch)
    assert len(first.dead_letters) == 2
    # The answer never reached the connector; it sends the batch again.
    again = applier.apply_lines("users", batch)
    assert (again.applied, again.skipped) == (0, 1)
    records = stored(store)
    assert [(r["line"], r["raw"][:6]) for r in records] == [(2, "oops"), (3, '{"op":')]
    assert "cannot store" in records[1]["reason"]
    assert records[1]["table_version"] == 1 and records[1]["replayed_version"] is None


def test_the_service_stores_them_with_the_request_id(
    applier: ChangeApplier, store: Store
) -> None:
    with serving(applier, allow_anonymous_writes=True) as server:
        status, answer = post(server, jsonl(create(1, id=1), "{broken").encode())
    assert status == 200 and answer["dead_letters_total"] == 1
    [record] = stored(store)
    assert record["raw"] == "{broken" and len(record["request_id"]) >= 16


def test_the_whole_event_is_stored_though_the_answer_cuts_it(
    applier: ChangeApplier, store: Store
) -> None:
    long = create(2, id=2, age="x" * 5000)
    result = applier.apply_lines("users", lines(create(1, id=1, age=1), long))
    assert result.dead_letters[0].raw.endswith("...[truncated]")
    assert json.loads(stored(store)[0]["raw"]) == long


def test_list_and_replay_with_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    store = Store(root)
    applier = ChangeApplier(store)
    applier.apply_events("users", [create(5, id=5, age=5)])
    late = applier.apply_events("users", [create(3, id=3, age=3)])  # out of order
    assert late.dead_letters and store.read("users").num_rows == 1

    common = ["--table", "users", "--root", str(root)]
    assert main(["deadletters", *common]) == 0
    [record] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (record["offset"], record["partition"], record["position"]) == (
        3,
        "offset:",
        [3],
    )
    assert "out of order" in record["reason"]

    assert main(["replay", "--stored", *common]) == 0
    [result] = json.loads(capsys.readouterr().out)
    assert (result["applied"], result["superseded"]) == (1, [])
    assert sorted(row["id"] for row in store.read("users").to_pylist()) == [3, 5]

    assert main(["deadletters", *common]) == 0
    assert capsys.readouterr().out == ""  # none pending
    assert main(["deadletters", *common, "--all"]) == 0
    [done] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert done["replayed_version"] == store.versions("users")[-1]

    versions = store.versions("users")
    assert main(["replay", "--stored", *common]) == 0  # nothing pending: a no-op
    assert store.versions("users") == versions


def test_a_listed_file_corrected_and_replayed_marks_the_stored_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    store = Store(root)
    ChangeApplier(store).apply_events(
        "users", [create(1, id=1, age=1), create(2, id=2, age="two")]
    )
    common = ["--table", "users", "--root", str(root)]
    main(["deadletters", *common])
    [record] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    fixed = tmp_path / "fixed.jsonl"
    fixed.write_text(json.dumps({**record, "event": create(2, id=2, age=2)}) + "\n")
    assert main(["replay", str(fixed), "--root", str(root)]) == 0
    capsys.readouterr()
    assert store.read("users").to_pylist()[1] == {"id": 2, "age": 2}
    main(["deadletters", *common])
    assert capsys.readouterr().out == ""


def test_replay_stored_needs_a_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    root.mkdir()
    assert main(["replay", "--stored", "--root", str(root)]) == 2
    assert "needs --table" in capsys.readouterr().err


def test_dead_letter_datasets_are_not_tables(applier: ChangeApplier) -> None:
    from mlops_cdc import CdcError

    with pytest.raises(CdcError, match="hold the dead letters"):
        applier.apply_events("users.deadletters", [create(1, id=1)])
