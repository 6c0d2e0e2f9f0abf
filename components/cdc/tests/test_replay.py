"""Replaying corrected dead letters past the high-water mark, idempotently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cdc_testing import create, delete, jsonl, lines, update
from mlops_cdc import ChangeApplier
from mlops_cdc.cli import main
from mlops_cdc.deadletters import DeadLetterRecord, read
from mlops_storage import Store


def rows(store: Store, name: str = "users") -> list[dict[str, Any]]:
    return sorted(store.read(name).to_pylist(), key=lambda row: row["id"])


def mark(store: Store, name: str = "users") -> list[int]:
    return list(json.loads(store.metadata(name)["cdc.positions"])["offset:"]["mark"])


def corrected(record: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    return {**record, "event": event}


def apply_file(tmp_path: Path, *events: dict[str, Any] | str) -> list[dict[str, Any]]:
    """Apply events with the CLI; return the dead-letter file's records."""
    source = tmp_path / "events.jsonl"
    source.write_text(jsonl(*events))
    dead = tmp_path / "dead.jsonl"
    root = str(tmp_path / "store")
    main(
        [
            "apply",
            str(source),
            "--table",
            "users",
            "--root",
            root,
            "--dead-letter-file",
            str(dead),
            "--create",
        ]
    )
    return [json.loads(line) for line in dead.read_text().splitlines()]


def replay(tmp_path: Path, records: list[dict[str, Any]], *extra: str) -> int:
    path = tmp_path / "fixed.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return main(["replay", str(path), "--root", str(tmp_path / "store"), *extra])


def test_corrected_event_applied_once_then_a_no_op(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store(tmp_path / "store")
    dead = apply_file(
        tmp_path,
        create(1, id=1, age=30),
        create(2, id=2, age="thirty-one"),  # does not fit int64: dead letter
        create(3, id=3, age=40),
    )
    capsys.readouterr()
    assert [(d["table"], d["offset"], d["line"]) for d in dead] == [("users", 2, 2)]
    assert rows(store) == [{"id": 1, "age": 30}, {"id": 3, "age": 40}]

    # The stream moves on past the dead letter's offset.
    ChangeApplier(store).apply_lines("users", lines(create(4, id=4, age=50)))
    assert mark(store) == [4]

    fix = [corrected(dead[0], create(2, id=2, age=31))]
    assert replay(tmp_path, fix) == 0
    [result] = json.loads(capsys.readouterr().out)
    assert (result["applied"], result["skipped"], result["superseded"]) == (1, 0, [])
    assert rows(store)[1] == {"id": 2, "age": 31}
    versions = store.versions("users")
    assert mark(store) == [4]  # the mark does not move back
    replayed = store.metadata("users")["cdc.replayed"]
    assert len(replayed.split(",")) == 1

    # Twice: nothing changes, no new version.
    assert replay(tmp_path, fix) == 0
    [result] = json.loads(capsys.readouterr().out)
    assert (result["applied"], result["skipped"], result["version"]) == (0, 1, None)
    assert store.versions("users") == versions

    # Later batches carry the replayed offsets on, so it stays a no-op.
    ChangeApplier(store).apply_lines("users", lines(create(5, id=5, age=1)))
    assert store.metadata("users")["cdc.replayed"] == replayed
    assert replay(tmp_path, fix) == 0
    assert json.loads(capsys.readouterr().out)[0]["applied"] == 0
    assert [row["id"] for row in rows(store)] == [1, 2, 3, 4, 5]


def test_raw_text_can_be_corrected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store(tmp_path / "store")
    broken = '{"op": "c", "after": {"id": 2, "name": "b"}, "source": {"lsn": 2}'
    dead = apply_file(
        tmp_path, create(1, id=1, name="a"), broken, create(3, id=3, name="c")
    )
    capsys.readouterr()
    assert dead[0]["offset"] is None and "invalid JSON" in dead[0]["reason"]
    fixed = {**dead[0], "raw": dead[0]["raw"] + "}"}
    assert replay(tmp_path, [fixed]) == 0
    capsys.readouterr()
    assert [row["name"] for row in rows(store)] == ["a", "b", "c"]
    versions = store.versions("users")
    assert replay(tmp_path, [fixed]) == 0
    assert json.loads(capsys.readouterr().out)[0]["skipped"] == 1
    assert store.versions("users") == versions


def test_earlier_change_in_the_same_batch_is_not_a_supersession(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Create and a bad update of one row in one batch: the fix still applies."""
    store = Store(tmp_path / "store")
    dead = apply_file(
        tmp_path,
        create(1, id=1, age=1),
        update(2, id=1, age="x"),
        create(3, id=2, age=5),
    )
    capsys.readouterr()
    assert dead[0]["table_version"] == 1
    assert replay(tmp_path, [corrected(dead[0], update(2, id=1, age=2))]) == 0
    assert rows(store) == [{"id": 1, "age": 2}, {"id": 2, "age": 5}]


def test_still_invalid_or_moved_events_stay_dead(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store(tmp_path / "store")
    dead = apply_file(tmp_path, create(1, id=1, age=1), create(2, id=2, age="x"))
    capsys.readouterr()
    still_bad = corrected(dead[0], create(2, id=2, age="still not a number"))
    moved = corrected(dead[0], create(9, id=2, age=2))
    assert replay(tmp_path, [still_bad, moved]) == 1
    [result] = json.loads(capsys.readouterr().out)
    reasons = [letter["reason"] for letter in result["dead_letters"]]
    assert "cannot store" in reasons[0]
    assert "must keep its offset" in reasons[1]
    assert result["version"] is None
    assert rows(store) == [{"id": 1, "age": 1}]


def test_superseded_event_is_not_applied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A later update of the same row wins over the older corrected event."""
    store = Store(tmp_path / "store")
    dead = apply_file(
        tmp_path,
        create(1, id=1, age=1),
        create(2, id=2, age=2),
        update(3, id=2, age="x"),
    )
    capsys.readouterr()
    ChangeApplier(store).apply_lines(
        "users", lines(update(4, id=2, age=20), delete(5, id=1))
    )
    fix = [corrected(dead[0], update(3, id=2, age=3))]
    assert replay(tmp_path, fix) == 1
    [result] = json.loads(capsys.readouterr().out)
    assert result["applied"] == 0
    assert (
        "superseded: the row [2] changed in version 2"
        in result["superseded"][0]["reason"]
    )
    assert rows(store) == [{"id": 2, "age": 20}]

    assert replay(tmp_path, fix, "--force") == 0
    capsys.readouterr()
    assert rows(store) == [{"id": 2, "age": 3}]


def test_event_ahead_of_the_mark_is_applied_and_replay_stays_idempotent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store(tmp_path / "store")
    dead = apply_file(tmp_path, create(1, id=1, age=1), create(2, id=2, age="x"))
    capsys.readouterr()
    assert mark(store) == [1]
    fix = [corrected(dead[0], create(2, id=2, age=2))]
    assert replay(tmp_path, fix) == 0
    assert mark(store) == [2]
    versions = store.versions("users")
    assert replay(tmp_path, fix) == 0
    assert store.versions("users") == versions


def test_apply_answer_is_a_dead_letter_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "e.jsonl"
    source.write_text(jsonl(create(1, id=1, age=1), create(2, id=2, age="x")))
    root = str(tmp_path / "store")
    argv = ["apply", str(source), "--table", "users", "--root", root, "--create"]
    assert main(argv) == 1
    answer = capsys.readouterr().out
    [record] = read(answer)
    assert (record.table, record.offset, record.position) == ("users", 2, 1)
    assert isinstance(record, DeadLetterRecord)


def test_bad_dead_letter_files_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(tmp_path / "store")
    Path(root).mkdir()
    path = tmp_path / "bad.jsonl"
    for text, words in [
        ("not json\n", "line 1: not JSON"),
        ('{"offset": 1}\n', "needs the event"),
        ('{"raw": "{}"}\n', "names no table"),
        ('{"raw": "{}", "table": "t", "offset": -4}\n', "invalid offset"),
    ]:
        path.write_text(text)
        assert main(["replay", str(path), "--root", root]) == 2
        err = capsys.readouterr().err
        assert err.startswith("mlops-cdc: error: ") and words in err
    assert main(["replay", str(tmp_path / "missing"), "--root", root]) == 2
