"""Issue #31, item 11: an event's keys do not become permanent columns at will.

A batch may add a column only if its name is usable, the table's config allows
it, and the table stays within its column limit; else the event is a dead
letter (and nothing of it is stored).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cdc_testing import create, jsonl
from mlops_cdc import ChangeApplier
from mlops_cdc.cli import main
from mlops_storage import Store


def test_an_event_with_hundreds_of_keys_adds_no_column(
    applier: ChangeApplier, store: Store
) -> None:
    applier.apply_events("users", [create(1, id=1, name="ada")])
    junk = {f"k{n}": n for n in range(300)}
    result = applier.apply_events("users", [create(2, id=2, **junk), create(3, id=3)])
    assert result.applied == 1
    [letter] = result.dead_letters
    assert "over its limit of 256" in letter.reason
    assert store.schema("users").names == ["id", "name"]


def test_columns_up_to_the_limit_are_added(store: Store) -> None:
    from mlops_cdc import Limits

    applier = ChangeApplier(store, limits=Limits(max_columns=3))
    result = applier.apply_events(
        "users",
        [create(1, id=1, a=1), create(2, id=2, b=2, c=3), create(3, id=3, a=4, d=None)],
    )
    assert result.applied == 2
    assert "'c' would be column 4 of table 'users'" in result.dead_letters[0].reason
    assert store.schema("users").names == ["id", "a"]  # b and c came together
    later = applier.apply_events("users", [create(4, id=4, b=1), create(5, id=5, c=1)])
    assert later.applied == 1 and store.schema("users").names == ["id", "a", "b"]


@pytest.mark.parametrize("name", ["", "x" * 129, "tab\there", "new\nline"])
def test_unusable_column_names_are_refused(
    applier: ChangeApplier, store: Store, name: str
) -> None:
    result = applier.apply_events(
        "users", [create(1, id=1), create(2, id=2, **{name: 1})]
    )
    assert result.applied == 1
    assert "is not usable" in result.dead_letters[0].reason
    assert store.schema("users").names == ["id"]


def test_the_table_config_names_the_columns_a_table_may_gain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "tables.json"
    config.write_text(
        json.dumps({"users": {"columns": ["name", "email"]}, "*": {"max_columns": 2}})
    )
    events = tmp_path / "events.jsonl"
    events.write_text(
        jsonl(
            create(1, id=1, name="ada", email="a@x"),
            create(2, id=2, name="bob", password="hunter2"),
        )
    )
    root = tmp_path / "store"
    argv = [
        "apply",
        str(events),
        "--root",
        str(root),
        "--create",
        "--table-config",
        str(config),
    ]
    assert main([*argv, "--table", "users"]) == 1
    answer = json.loads(capsys.readouterr().out)
    assert answer["applied"] == 1
    assert (
        "'password' is not a column of table 'users'"
        in answer["dead_letters"][0]["reason"]
    )
    assert Store(root).schema("users").names == ["id", "name", "email"]

    assert main([*argv, "--table", "other"]) == 1  # "*": at most 2 columns
    answer = json.loads(capsys.readouterr().out)
    assert answer["applied"] == 0 and len(answer["dead_letters"]) == 2


def test_a_bad_table_config_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "tables.json"
    config.write_text('{"users": {"colums": []}}')
    events = tmp_path / "events.jsonl"
    events.write_text(jsonl(create(1, id=1)))
    argv = ["apply", str(events), "--table", "users", "--root", str(tmp_path)]
    assert main([*argv, "--table-config", str(config)]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("mlops-cdc: error: table config") and len(err.splitlines()) == 1
    )
