"""Feature engineering with PySpark over mlops-storage datasets."""

from __future__ import annotations

from mlops_spark.features import (
    FeatureError,
    FeatureResult,
    FeatureSpec,
    JobResult,
    compute_features,
    run_feature_job,
)
from mlops_spark.session import create_session
from mlops_spark.windows import WindowError, parse_as_of, parse_window

__all__ = [
    "FeatureError",
    "FeatureResult",
    "FeatureSpec",
    "JobResult",
    "WindowError",
    "compute_features",
    "create_session",
    "parse_as_of",
    "parse_window",
    "run_feature_job",
]
