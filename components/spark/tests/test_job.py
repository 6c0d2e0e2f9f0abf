from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlops_spark.jobs.features import main
from mlops_storage import Store
from pyspark.sql import SparkSession
from spark_testing import EVENTS, at, events_table

JOB = [sys.executable, "-m", "mlops_spark.jobs.features"]


@pytest.fixture
def root(tmp_path: Path) -> str:
    store = Store(tmp_path / "store")
    store.write("events", events_table())
    store.write("events", events_table(EVENTS[:3]))
    return str(store.root)


def test_job_writes_features(
    spark: SparkSession, root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--dataset", "events", "--window", "7d", "--root", root], spark=spark)
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == {
        "dataset": "events",
        "version": 2,
        "output": "events_features",
        "output_version": 1,
        "entities": 1,
        "window_start": "2024-01-01T00:00:00+00:00",
        "window_end": "2024-01-08T00:00:00+00:00",
    }
    rows = Store(root).read("events_features").to_pylist()
    assert [(r["entity_id"], r["event_count"], r["value_sum"]) for r in rows] == [
        ("a", 2, 6.0)
    ]
    # The injected session is left running.
    assert spark.range(1).count() == 1


def test_job_version_output_and_as_of(
    spark: SparkSession, root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "--dataset", "events", "--window", "2d", "--version", "1",
        "--output", "daily", "--as-of", "2024-01-07T12:00:00Z", "--root", root,
    ]  # fmt: skip
    assert main(argv, spark=spark) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["version"], summary["output"], summary["entities"]) == (
        1,
        "daily",
        1,
    )
    store = Store(root)
    rows = store.read("daily").to_pylist()
    assert [(r["entity_id"], r["event_count"], r["last_seen"]) for r in rows] == [
        ("b", 2, at("2024-01-07T06:00:00"))
    ]
    meta = store.metadata("daily")
    assert (meta["source.version"], meta["window"]) == ("1", "2d")
    assert meta["as_of"] == "2024-01-07T12:00:00+00:00"


def test_job_empty_window_writes_empty_version(
    spark: SparkSession, root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "--dataset",
        "events",
        "--window",
        "1d",
        "--as-of",
        "2020-01-01",
        "--root",
        root,
    ]
    assert main(argv, spark=spark) == 0
    assert json.loads(capsys.readouterr().out)["entities"] == 0
    assert Store(root).read("events_features").num_rows == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dataset", "nope", "--window", "7d"], "dataset 'nope' not found"),
        (["--dataset", "events", "--window", "7d", "--version", "9"], "version 9"),
        (
            ["--dataset", "events", "--window", "7d", "--value-col", "amount"],
            "value column 'amount' not found",
        ),
    ],
)
def test_job_failures_exit_1(
    root: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    # No session is passed: these fail before Spark would start.
    assert main([*argv, "--root", root]) == 1
    err = capsys.readouterr().err
    assert "error:" in err and message in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--window", "7x"], "invalid window '7x'"),
        (["--window", "0d"], "must be longer than zero"),
        (["--window", "7d", "--as-of", "soon"], "invalid as-of time"),
        (["--window", "7d", "--output", "a/b"], "invalid output dataset name"),
        (["--window", "7d", "--output", "events"], "must differ"),
        (["--window", "7d", "--value-col", "timestamp"], "must differ"),
    ],
)
def test_job_usage_errors_exit_2(
    root: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--dataset", "events", *argv, "--root", root])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_module_entry_point_errors(root: str) -> None:
    bad_window = subprocess.run(
        [*JOB, "--dataset", "events", "--window", "1y", "--root", root],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad_window.returncode == 2
    assert "invalid window '1y'" in bad_window.stderr
    unknown = subprocess.run(
        [*JOB, "--dataset", "missing", "--window", "7d", "--root", root],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert unknown.returncode == 1
    assert "dataset 'missing' not found" in unknown.stderr


def test_module_entry_point_runs_its_own_session(root: str) -> None:
    env = {
        **os.environ,
        "PYSPARK_SUBMIT_ARGS": "--driver-java-options '-XX:+UseSerialGC "
        "-XX:TieredStopAtLevel=1' pyspark-shell",
    }
    proc = subprocess.run(
        [*JOB, "--dataset", "events", "--window", "7d", "--master", "local[1]",
         "--root", root],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["output_version"] == 1
    assert Store(root).read("events_features").num_rows == 1


def test_readme_says_where_the_job_runs_from() -> None:
    """`cargo xtask test spark` builds the component's environment,
    target/venvs/spark (xtask/src/python.rs); the README is where one looks."""
    readme = Path(__file__).resolve().parents[1] / "README.md"
    text = readme.read_text(encoding="utf-8")
    assert "cargo xtask test spark" in text
    assert "target/venvs/spark/bin/python -m mlops_spark.jobs.features" in text
