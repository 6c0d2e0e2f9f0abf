from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from mlops_spark import FeatureError, FeatureSpec, compute_features, run_feature_job
from mlops_spark.features import check_schema
from mlops_storage import Store
from pyspark.sql import SparkSession
from spark_testing import EVENTS, at, events_table

UTC_US = pa.timestamp("us", tz="UTC")


def features(
    spark: SparkSession, table: pa.Table, window: timedelta, **options: Any
) -> list[dict[str, Any]]:
    result = compute_features(spark, table, FeatureSpec(window=window, **options))
    return [
        {
            key: row[key]
            for key in (
                "entity_id",
                "event_count",
                "value_sum",
                "value_mean",
                "last_seen",
            )
        }
        for row in result.table.to_pylist()
    ]


def test_seven_day_window_ending_at_latest_event(spark: SparkSession) -> None:
    result = compute_features(
        spark, events_table(), FeatureSpec(window=timedelta(days=7))
    )
    assert result.window_start == at("2024-01-01T00:00:00")
    assert result.window_end == at("2024-01-08T00:00:00")
    assert result.table.schema == pa.schema(
        [
            ("entity_id", pa.string()),
            ("event_count", pa.int64()),
            ("value_sum", pa.float64()),
            ("value_mean", pa.float64()),
            ("last_seen", UTC_US),
            ("window_start", UTC_US),
            ("window_end", UTC_US),
        ]
    )
    assert result.table.to_pylist() == [
        {
            "entity_id": "a",
            "event_count": 2,
            "value_sum": 6.0,
            "value_mean": 3.0,
            "last_seen": at("2024-01-08T00:00:00"),
            "window_start": at("2024-01-01T00:00:00"),
            "window_end": at("2024-01-08T00:00:00"),
        },
        {
            "entity_id": "b",
            "event_count": 2,
            "value_sum": 10.0,
            "value_mean": 10.0,
            "last_seen": at("2024-01-07T06:00:00"),
            "window_start": at("2024-01-01T00:00:00"),
            "window_end": at("2024-01-08T00:00:00"),
        },
    ]


def test_short_window_excludes_older_events(spark: SparkSession) -> None:
    assert features(spark, events_table(), timedelta(hours=12)) == [
        {
            "entity_id": "a",
            "event_count": 1,
            "value_sum": 4.0,
            "value_mean": 4.0,
            "last_seen": at("2024-01-08T00:00:00"),
        }
    ]


def test_as_of_moves_the_window(spark: SparkSession) -> None:
    # (2023-12-30, 2024-01-06]: b's events are later, c's earlier.
    rows = features(
        spark, events_table(), timedelta(days=7), as_of=at("2024-01-06T00:00:00")
    )
    assert rows == [
        {
            "entity_id": "a",
            "event_count": 2,
            "value_sum": 3.0,
            "value_mean": 1.5,
            "last_seen": at("2024-01-05T12:00:00"),
        }
    ]


def test_window_end_is_inclusive(spark: SparkSession) -> None:
    rows = features(
        spark, events_table(), timedelta(minutes=30), as_of=at("2024-01-05T12:00:00")
    )
    assert [(row["entity_id"], row["event_count"]) for row in rows] == [("a", 1)]


def test_entity_with_only_null_values(spark: SparkSession) -> None:
    rows = features(
        spark, events_table(), timedelta(hours=12), as_of=at("2024-01-07T12:00:00")
    )
    assert rows == [
        {
            "entity_id": "b",
            "event_count": 1,
            "value_sum": None,
            "value_mean": None,
            "last_seen": at("2024-01-07T06:00:00"),
        }
    ]


def test_empty_window(spark: SparkSession) -> None:
    result = compute_features(
        spark,
        events_table(),
        FeatureSpec(window=timedelta(days=7), as_of=at("2023-06-01T00:00:00")),
    )
    assert result.table.num_rows == 0
    assert result.table.schema.names == [
        "entity_id",
        "event_count",
        "value_sum",
        "value_mean",
        "last_seen",
        "window_start",
        "window_end",
    ]
    assert result.window_start == at("2023-05-25T00:00:00")


def test_no_events_and_no_as_of(spark: SparkSession) -> None:
    with pytest.raises(FeatureError, match="no events"):
        compute_features(spark, events_table([]), FeatureSpec(window=timedelta(days=1)))


def _iso_z(text: str) -> str:
    return f"{text}Z"


def _iso_plus_two(text: str) -> str:
    return (datetime.fromisoformat(text) + timedelta(hours=2)).isoformat() + "+02:00"


def _aware(text: str) -> datetime:
    return at(text)


def _epoch_s(text: str) -> int:
    return int(at(text).timestamp())


def _epoch_ms(text: str) -> int:
    return _epoch_s(text) * 1000


def _epoch_ns(text: str) -> int:
    return _epoch_s(text) * 10**9


# form -> (how to write a naive ISO time, Arrow type, integer epoch unit)
TIMESTAMP_FORMS: dict[str, tuple[Callable[[str], Any], pa.DataType, str]] = {
    "iso-z": (_iso_z, pa.string(), "s"),
    "iso-offset": (_iso_plus_two, pa.string(), "s"),
    "epoch-s": (_epoch_s, pa.int64(), "s"),
    "epoch-ms": (_epoch_ms, pa.int64(), "ms"),
    "epoch-ns": (_epoch_ns, pa.int64(), "ns"),
    "timestamp-ns-berlin": (_aware, pa.timestamp("ns", tz="Europe/Berlin"), "s"),
}


@pytest.mark.parametrize("form", sorted(TIMESTAMP_FORMS))
def test_timestamp_representations_agree(spark: SparkSession, form: str) -> None:
    convert, dtype, unit = TIMESTAMP_FORMS[form]
    table = events_table().set_column(
        1,
        "timestamp",
        pa.array([convert(row[1]) if row[1] else None for row in EVENTS], dtype),
    )
    expected = features(spark, events_table(), timedelta(days=7))
    assert features(spark, table, timedelta(days=7), timestamp_unit=unit) == expected


def test_date_timestamps_and_unparsable_strings(spark: SparkSession) -> None:
    dates = pa.table(
        {
            "entity_id": ["x", "x", "y"],
            "timestamp": pa.array(
                [date(2024, 1, 1), date(2024, 1, 3), date(2024, 1, 2)], pa.date32()
            ),
            "value": [1, 2, 3],
        }
    )
    rows = features(spark, dates, timedelta(days=1))
    assert [(row["entity_id"], row["event_count"]) for row in rows] == [("x", 1)]

    text = pa.table(
        {
            "entity_id": ["x", "x"],
            "timestamp": ["2024-01-01T00:00:00", "not a time"],
            "value": [5, 6],
        }
    )
    rows = features(spark, text, timedelta(days=1))
    assert [(row["entity_id"], row["value_sum"]) for row in rows] == [("x", 5.0)]


def test_entity_types_and_custom_columns(spark: SparkSession) -> None:
    table = pa.table(
        {
            "user": pa.array([7, 7, 3], pa.uint32()),
            "ts": pa.array([1_000, 2_000, 1_500], pa.int64()),
            "amount": pa.array([1, 2, 3], pa.int32()),
        }
    )
    result = compute_features(
        spark,
        table,
        FeatureSpec(
            window=timedelta(seconds=900),
            entity_col="user",
            timestamp_col="ts",
            value_col="amount",
        ),
    )
    assert result.table.schema.field("user").type == pa.uint32()
    assert [
        (row["user"], row["event_count"], row["value_sum"])
        for row in result.table.to_pylist()
    ] == [(3, 1, 3.0), (7, 1, 2.0)]


def test_dictionary_entity(spark: SparkSession) -> None:
    table = events_table()
    table = table.set_column(
        0, "entity_id", table.column("entity_id").dictionary_encode()
    )
    rows = features(spark, table, timedelta(days=7))
    assert [row["entity_id"] for row in rows] == ["a", "b"]


@pytest.mark.parametrize(
    ("table", "spec", "message"),
    [
        (
            events_table(),
            FeatureSpec(window=timedelta(days=1), value_col="amount"),
            "value column 'amount' not found",
        ),
        (
            pa.table({"entity_id": ["a"], "timestamp": [1], "value": ["x"]}),
            FeatureSpec(window=timedelta(days=1)),
            "expected a number",
        ),
        (
            pa.table({"entity_id": ["a"], "timestamp": [1.5], "value": [1]}),
            FeatureSpec(window=timedelta(days=1)),
            "timestamp column 'timestamp' has type double",
        ),
        (
            pa.table({"entity_id": [[1]], "timestamp": [1], "value": [1]}),
            FeatureSpec(window=timedelta(days=1)),
            "entity column 'entity_id' has type",
        ),
    ],
)
def test_unsuitable_columns(table: pa.Table, spec: FeatureSpec, message: str) -> None:
    with pytest.raises(FeatureError, match=message):
        check_schema(table.schema, spec)


def test_invalid_specs() -> None:
    with pytest.raises(FeatureError):
        FeatureSpec(window=timedelta(0))
    with pytest.raises(FeatureError):
        FeatureSpec(window=timedelta(days=1), as_of=datetime(2024, 1, 1))
    with pytest.raises(FeatureError):
        FeatureSpec(window=timedelta(days=1), value_col="timestamp")
    with pytest.raises(FeatureError):
        FeatureSpec(window=timedelta(days=1), timestamp_unit="h")


def test_run_feature_job_writes_versions(spark: SparkSession, store: Store) -> None:
    store.write("events", events_table())
    store.write("events", events_table(EVENTS[:2]))
    first = run_feature_job(
        spark, store, "events", FeatureSpec(window=timedelta(days=7)), window_text="7d"
    )
    assert (first.version, first.output, first.output_version) == (
        2,
        "events_features",
        1,
    )
    assert first.entities == 1  # version 2 only has a's first two events
    older = run_feature_job(
        spark, store, "events", FeatureSpec(window=timedelta(days=7)), version=1
    )
    assert (older.version, older.output_version, older.entities) == (1, 2, 2)
    assert store.versions("events_features") == [1, 2]
    meta = store.metadata("events_features", 1)
    assert meta["source.dataset"] == "events"
    assert meta["source.version"] == "2"
    assert meta["window"] == "7d"
    assert meta["window_end"] == "2024-01-05T12:00:00+00:00"
    assert meta["as_of"] == "latest"
    assert store.metadata("events_features", 2)["window"] == "604800s"
    assert first.to_dict()["window_start"] == "2023-12-29T12:00:00+00:00"
