"""Feature job: ``python -m mlops_spark.jobs.features --dataset NAME --window 7d``.

Reads a version of a storage dataset, computes per-entity window features (see
:mod:`mlops_spark.features`) and writes them as a new version of the output
dataset (default ``<dataset>_features``). Prints a JSON summary.

Exit codes: 0 done; 1 the job failed (unknown dataset or version, unsuitable
columns, storage error); 2 bad arguments (window, as-of time, output name).
Argument and dataset checks run before Spark starts, so they fail fast.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence

from mlops_spark.features import (
    EPOCH_UNITS,
    FeatureError,
    FeatureSpec,
    check_schema,
    run_feature_job,
)
from mlops_spark.session import create_session
from mlops_spark.windows import WindowError, parse_as_of, parse_window
from mlops_storage import DatasetNotFound, StorageError, Store, VersionNotFound
from pyspark.sql import SparkSession

PROG = "python -m mlops_spark.jobs.features"
EXIT_FAILED = 1

_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,200}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Compute per-entity window features of a storage dataset.",
    )
    parser.add_argument("--dataset", required=True, help="input dataset name")
    parser.add_argument(
        "--window", required=True, help="window length: 30m, 12h, 7d, 2w, 90s"
    )
    parser.add_argument(
        "--version", type=int, default=None, help="input version (default: latest)"
    )
    parser.add_argument(
        "--output", default=None, help="output dataset (default: <dataset>_features)"
    )
    parser.add_argument(
        "--root",
        default=None,
        help="storage root (default: $MLOPS_STORAGE_ROOT or the storage default)",
    )
    parser.add_argument(
        "--as-of",
        default=None,
        help="window end, ISO 8601 (naive = UTC); default: the latest event",
    )
    parser.add_argument("--entity-col", default="entity_id", help="entity id column")
    parser.add_argument(
        "--timestamp-col", default="timestamp", help="event time column"
    )
    parser.add_argument("--value-col", default="value", help="numeric value column")
    parser.add_argument(
        "--timestamp-unit",
        choices=EPOCH_UNITS,
        default="s",
        help="unit of integer epoch timestamps (default: s)",
    )
    parser.add_argument(
        "--master", default="local[*]", help="Spark master (default: local[*])"
    )
    return parser


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return EXIT_FAILED


def main(argv: Sequence[str] | None = None, spark: SparkSession | None = None) -> int:
    """Run the job; with ``spark`` given it is used and left running."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        window = parse_window(args.window)
        as_of = parse_as_of(args.as_of) if args.as_of is not None else None
    except WindowError as exc:
        parser.error(str(exc))
    output = args.output or f"{args.dataset}_features"
    if not _NAME_RE.fullmatch(output) or set(output) == {"."}:
        parser.error(f"invalid output dataset name {output!r}")
    if output == args.dataset:
        parser.error("the output dataset must differ from the input dataset")
    try:
        spec = FeatureSpec(
            window=window,
            entity_col=args.entity_col,
            timestamp_col=args.timestamp_col,
            value_col=args.value_col,
            as_of=as_of,
            timestamp_unit=args.timestamp_unit,
        )
    except FeatureError as exc:
        parser.error(str(exc))

    store = Store(args.root)
    try:
        versions = store.versions(args.dataset)
        version = args.version if args.version is not None else versions[-1]
        check_schema(store.schema(args.dataset, version), spec)
    except DatasetNotFound:
        return _fail(f"dataset {args.dataset!r} not found in {store.root}")
    except VersionNotFound as exc:
        return _fail(str(exc))
    except (FeatureError, StorageError) as exc:
        return _fail(str(exc))

    owned = spark is None
    session = spark if spark is not None else create_session(master=args.master)
    try:
        result = run_feature_job(
            session,
            store,
            args.dataset,
            spec,
            version=version,
            output=output,
            window_text=args.window.strip(),
        )
    except (FeatureError, StorageError) as exc:
        return _fail(str(exc))
    finally:
        if owned:
            session.stop()
    print(json.dumps(result.to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
