"""Per-entity window features computed with Spark.

Input: a table of events with an entity id column, a timestamp column and a
numeric value column. For a window of length ``W`` ending at ``end`` (the
latest event timestamp, or an explicit as-of time), the events with
``end - W < timestamp <= end`` are grouped by entity into:

``event_count``  number of events in the window (null values included)
``value_sum``    sum of the non-null values (null if there are none)
``value_mean``   mean of the non-null values (null if there are none)
``last_seen``    latest event timestamp in the window

plus ``window_start`` and ``window_end``, the same on every row. Entities
without events in the window do not appear; events with a null entity or
timestamp are ignored. Rows are sorted by entity.

Timestamps may be Arrow timestamps (naive ones are taken as UTC), dates,
integer epochs (unit ``s``, ``ms``, ``us`` or ``ns``) or ISO 8601 strings
(unparsable strings are ignored). All window arithmetic is done on integer
microseconds, so boundaries are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from mlops_spark.windows import MICROSECOND, from_micros, to_micros
from mlops_storage import Store
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

#: Units accepted for integer epoch timestamps.
EPOCH_UNITS = ("s", "ms", "us", "ns")

FEATURE_COLUMNS = (
    "event_count",
    "value_sum",
    "value_mean",
    "last_seen",
    "window_start",
    "window_end",
)

_UTC_MICROS = pa.timestamp("us", tz="UTC")


class FeatureError(ValueError):
    """The input cannot produce features (missing or unsuitable columns, ...)."""


@dataclass(frozen=True)
class FeatureSpec:
    """What to compute: the window and the input column names."""

    window: timedelta
    entity_col: str = "entity_id"
    timestamp_col: str = "timestamp"
    value_col: str = "value"
    #: End of the window; None: the latest event timestamp.
    as_of: datetime | None = None
    #: Unit of integer epoch timestamps.
    timestamp_unit: str = "s"

    def __post_init__(self) -> None:
        if self.window <= timedelta(0):
            raise FeatureError("window must be longer than zero")
        if self.as_of is not None and self.as_of.tzinfo is None:
            raise FeatureError("as_of must be timezone-aware")
        if self.timestamp_unit not in EPOCH_UNITS:
            raise FeatureError(
                f"timestamp unit must be one of {', '.join(EPOCH_UNITS)}, "
                f"not {self.timestamp_unit!r}"
            )
        names = (self.entity_col, self.timestamp_col, self.value_col)
        if len(set(names)) != 3:
            raise FeatureError("entity, timestamp and value columns must differ")
        if self.entity_col in FEATURE_COLUMNS:
            raise FeatureError(
                f"entity column {self.entity_col!r} clashes with a feature column"
            )


@dataclass(frozen=True)
class FeatureResult:
    table: pa.Table
    window_start: datetime
    window_end: datetime


@dataclass(frozen=True)
class JobResult:
    dataset: str
    version: int
    output: str
    output_version: int
    entities: int
    window_start: datetime
    window_end: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "version": self.version,
            "output": self.output,
            "output_version": self.output_version,
            "entities": self.entities,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
        }


def _plain_type(dtype: pa.DataType) -> pa.DataType:
    """The value type of a dictionary column; other types unchanged."""
    return dtype.value_type if pa.types.is_dictionary(dtype) else dtype


def entity_type(schema: pa.Schema, spec: FeatureSpec) -> pa.DataType:
    """Output type of the entity column."""
    return _plain_type(schema.field(spec.entity_col).type)


def check_schema(schema: pa.Schema, spec: FeatureSpec) -> None:
    """Raise FeatureError unless ``schema`` has suitable columns for ``spec``."""
    for role, name in (
        ("entity", spec.entity_col),
        ("timestamp", spec.timestamp_col),
        ("value", spec.value_col),
    ):
        if name not in schema.names:
            raise FeatureError(
                f"{role} column {name!r} not found; columns are: "
                f"{', '.join(schema.names)}"
            )
    entity = entity_type(schema, spec)
    if pa.types.is_nested(entity) or pa.types.is_null(entity):
        raise FeatureError(f"entity column {spec.entity_col!r} has type {entity}")
    ts = _plain_type(schema.field(spec.timestamp_col).type)
    if not (
        pa.types.is_timestamp(ts)
        or pa.types.is_date(ts)
        or pa.types.is_integer(ts)
        or pa.types.is_string(ts)
        or pa.types.is_large_string(ts)
    ):
        raise FeatureError(
            f"timestamp column {spec.timestamp_col!r} has type {ts}; expected a "
            "timestamp, date, integer epoch or ISO 8601 string column"
        )
    value = _plain_type(schema.field(spec.value_col).type)
    if not (
        pa.types.is_integer(value)
        or pa.types.is_floating(value)
        or pa.types.is_decimal(value)
    ):
        raise FeatureError(
            f"value column {spec.value_col!r} has type {value}; expected a number"
        )


def feature_schema(entity: pa.DataType, entity_col: str) -> pa.Schema:
    return pa.schema(
        [
            pa.field(entity_col, entity),
            pa.field("event_count", pa.int64()),
            pa.field("value_sum", pa.float64()),
            pa.field("value_mean", pa.float64()),
            pa.field("last_seen", _UTC_MICROS),
            pa.field("window_start", _UTC_MICROS),
            pa.field("window_end", _UTC_MICROS),
        ]
    )


def _timestamp_micros(column: pa.ChunkedArray, unit: str) -> pa.ChunkedArray | None:
    """int64 epoch microseconds, or None when Spark must parse strings."""
    dtype = column.type
    if pa.types.is_dictionary(dtype):
        column = column.cast(dtype.value_type)
        dtype = dtype.value_type
    if pa.types.is_timestamp(dtype):
        # A naive timestamp's wall clock is taken as UTC: the cast keeps values.
        return column.cast(_UTC_MICROS, safe=False).cast(pa.int64())
    if pa.types.is_date(dtype):
        return column.cast(pa.timestamp("us")).cast(pa.int64())
    if pa.types.is_integer(dtype):
        epoch = column.cast(pa.int64()).cast(pa.timestamp(unit))
        try:
            # Scaling up must not overflow; ns is truncated to us.
            micros = epoch.cast(pa.timestamp("us"), safe=unit != "ns")
        except pa.ArrowInvalid as exc:
            raise FeatureError(f"integer timestamps out of range: {exc}") from None
        return micros.cast(pa.int64())
    return None


def _prepare(table: pa.Table, spec: FeatureSpec) -> tuple[pa.Table, bool]:
    """The three input columns as (entity, ts, value); True if ts is still text."""
    entity = table.column(spec.entity_col)
    entity = entity.cast(_plain_type(entity.type))
    if pa.types.is_unsigned_integer(entity.type):
        entity = entity.cast(pa.int64())  # Spark has no unsigned types
    ts_column = table.column(spec.timestamp_col)
    micros = _timestamp_micros(ts_column, spec.timestamp_unit)
    ts_is_text = micros is None
    ts = ts_column.cast(pa.string()) if micros is None else micros
    value = table.column(spec.value_col).cast(pa.float64())
    return pa.table({"entity": entity, "ts": ts, "value": value}), ts_is_text


def compute_features(
    spark: SparkSession, table: pa.Table, spec: FeatureSpec
) -> FeatureResult:
    """Features of ``table`` (see the module doc); raises FeatureError."""
    check_schema(table.schema, spec)
    out_entity = entity_type(table.schema, spec)
    prepared, ts_is_text = _prepare(table, spec)

    df: DataFrame = spark.createDataFrame(prepared)
    if ts_is_text:
        df = df.withColumn("ts", F.unix_micros(F.try_to_timestamp(F.col("ts"))))
    df = df.where(F.col("entity").isNotNull() & F.col("ts").isNotNull())

    if spec.as_of is not None:
        end = to_micros(spec.as_of)
    else:
        latest = df.agg(F.max("ts").alias("latest")).collect()[0]["latest"]
        if latest is None:
            raise FeatureError(
                "no events with an entity and a timestamp: cannot place the "
                "window (give an as-of time)"
            )
        end = int(latest)
    start = end - spec.window // MICROSECOND

    features = (
        df.where((F.col("ts") > F.lit(start)) & (F.col("ts") <= F.lit(end)))
        .groupBy("entity")
        .agg(
            F.count(F.lit(1)).alias("event_count"),
            F.sum("value").alias("value_sum"),
            F.avg("value").alias("value_mean"),
            F.max("ts").alias("last_seen"),
        )
    )
    raw = features.toArrow()
    raw = raw.take(pc.sort_indices(raw, sort_keys=[("entity", "ascending")]))

    rows = raw.num_rows
    schema = feature_schema(out_entity, spec.entity_col)
    result = pa.Table.from_arrays(
        [
            raw.column("entity").cast(out_entity),
            raw.column("event_count").cast(pa.int64()),
            raw.column("value_sum").cast(pa.float64()),
            raw.column("value_mean").cast(pa.float64()),
            raw.column("last_seen").cast(pa.int64()).cast(_UTC_MICROS),
            pa.array([start] * rows, pa.int64()).cast(_UTC_MICROS),
            pa.array([end] * rows, pa.int64()).cast(_UTC_MICROS),
        ],
        schema=schema,
    )
    return FeatureResult(
        table=result, window_start=from_micros(start), window_end=from_micros(end)
    )


def run_feature_job(
    spark: SparkSession,
    store: Store,
    dataset: str,
    spec: FeatureSpec,
    *,
    version: int | None = None,
    output: str | None = None,
    window_text: str | None = None,
) -> JobResult:
    """Read ``dataset`` (latest or ``version``), write features to ``output``."""
    if version is None:
        version = store.versions(dataset)[-1]
    target = output or f"{dataset}_features"
    table = store.read(dataset, version)
    features = compute_features(spark, table, spec)
    window_seconds = spec.window.total_seconds()
    metadata = {
        "job": "mlops_spark.jobs.features",
        "source.dataset": dataset,
        "source.version": str(version),
        "window": window_text or f"{window_seconds:g}s",
        "window_seconds": f"{window_seconds:g}",
        "window_start": features.window_start.isoformat(),
        "window_end": features.window_end.isoformat(),
        "as_of": spec.as_of.isoformat() if spec.as_of is not None else "latest",
        "entity_column": spec.entity_col,
        "timestamp_column": spec.timestamp_col,
        "value_column": spec.value_col,
    }
    output_version = store.write(target, features.table, metadata=metadata)
    return JobResult(
        dataset=dataset,
        version=version,
        output=target,
        output_version=output_version,
        entities=features.table.num_rows,
        window_start=features.window_start,
        window_end=features.window_end,
    )
