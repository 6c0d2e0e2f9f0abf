"""Issue #31, item 8: one bad line never fails its batch.

Each line is parsed within a size and a depth bound; whatever a line holds,
it is applied or a dead letter, and the rest of the batch is applied.
"""

from __future__ import annotations

import json

import pytest
from cdc_testing import create, jsonl, lines, post, serving
from mlops_cdc import ChangeApplier
from mlops_storage import Store

DEEP = "[" * 50_000


def test_a_deeply_nested_line_is_a_dead_letter(
    applier: ChangeApplier, store: Store
) -> None:
    """It raised RecursionError: HTTP 500 for the whole batch, for ever."""
    result = applier.apply_lines("users", lines(create(1, id=1), DEEP, create(2, id=2)))
    assert result.applied == 2
    [letter] = result.dead_letters
    assert (letter.line, letter.reason) == (2, "JSON nested deeper than 64 levels")
    assert store.read("users").num_rows == 2


def test_the_service_answers_200_for_a_batch_with_a_deep_line(
    applier: ChangeApplier, store: Store
) -> None:
    with serving(applier, allow_anonymous_writes=True) as server:
        status, answer = post(server, jsonl(create(1, id=1), DEEP).encode())
    assert (status, answer["applied"], answer["dead_letters"][0]["line"]) == (200, 1, 2)


def test_brackets_inside_strings_do_not_count(
    applier: ChangeApplier, store: Store
) -> None:
    result = applier.apply_events(
        "users", [create(1, id=1, note="[" * 500 + "{" * 500)]
    )
    assert (result.applied, result.dead_letters) == (1, [])


def test_nesting_up_to_the_bound_is_fine(applier: ChangeApplier, store: Store) -> None:
    value: object = 1
    for _ in range(60):  # the envelope and "after" add two levels
        value = [value]
    result = applier.apply_lines("users", lines(create(1, id=1, deep=value)))
    assert (result.applied, result.dead_letters) == (1, [])
    too_deep: object = value
    for _ in range(5):
        too_deep = [too_deep]
    result = applier.apply_lines("users", lines(create(2, id=2, deep=too_deep)))
    assert "nested deeper than 64" in result.dead_letters[0].reason


def test_an_oversized_line_is_a_dead_letter(
    applier: ChangeApplier, store: Store
) -> None:
    big = json.dumps(create(2, id=2, blob="x" * (1024 * 1024)))
    result = applier.apply_lines("users", [jsonl(create(1, id=1)), big])
    assert result.applied == 1
    [letter] = result.dead_letters
    assert letter.reason.startswith(f"line of {len(big)} bytes is longer than")
    assert len(letter.raw) < 3000


@pytest.mark.parametrize(
    "line",
    [
        '{"op": "c", "after": {"id": 5, "n": '
        + "9" * 5000
        + '}, "source": {"lsn": 5}}',
        '{"op": "c", "after": {"id": 5, "n": 1e999}, "source": {"lsn": 5}}',
        '{"op": "c", "after": {"id": 5, "n": NaN}, "source": {"lsn": 5}}',
        '{"op": "c", "after": {"id": 5, "n": "\\ud800"}, "source": {"lsn": 5}}',
        '{"op": "c", "after": {"id": "\\ud800"}, "source": {"lsn": 5}}',
        '{"op": "c", "after": {"id": 5, "\\ud800": 1}, "source": {"lsn": 5}}',
        '{"op": "c", "after": {"id": 5, "\\u0000": 1}, "source": {"lsn": 5}}',
        '{"op": "c", "after": {"id": true}, "source": {"lsn": 5}}',
        '{"op": "c", "after": {"id": 5, "n": 18446744073709551616}, '
        '"source": {"lsn": 5}}',
        '{"op": "c", "op": "d", "before": 7, "source": {"lsn": 5}}',
        '{"op": "u", "before": [], "after": {"id": 5}, "source": {"lsn": 5}}',
        '{"payload": {"payload": {}}}',
        '{"op": "c", "after": {"id": 5}, "source": {"lsn": 5}, "kafka": 3}',
        '{"op": "c", "after": {"id": 5}, "source": {"lsn": 5, "name": {"a": 1}}}',
        "\x00\x01\x02",
        '"just a string"',
        "null",
    ],
)
def test_hostile_lines_never_fail_the_batch(
    applier: ChangeApplier, store: Store, line: str
) -> None:
    with serving(applier, allow_anonymous_writes=True) as server:
        body = jsonl(create(1, id=1, n=1)) + line + "\n"
        status, answer = post(server, body.encode())
    assert status == 200, answer
    assert answer["applied"] + len(answer["dead_letters"]) == 2
    assert store.read("users").num_rows >= 1


def test_a_malformed_position_refuses_the_batch_with_400(
    applier: ChangeApplier,
) -> None:
    line = '{"op": "c", "after": {"id": 5}, "source": {"lsn": 5, "sequence": 7}}'
    with serving(applier, allow_anonymous_writes=True) as server:
        status, answer = post(server, (jsonl(create(1, id=1)) + line).encode())
    assert status == 400 and "line 2: source.sequence must list" in answer["error"]
