from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mlops_spark import create_session
from mlops_storage import Store
from pyspark.sql import SparkSession


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One small local session for the whole suite."""
    session = create_session(
        master="local[1]",
        app_name="mlops-spark-tests",
        conf={
            "spark.sql.shuffle.partitions": "1",
            "spark.default.parallelism": "1",
            "spark.sql.adaptive.enabled": "false",
            # Tiny data: a quick-starting JIT and GC beat peak throughput.
            "spark.driver.extraJavaOptions": "-XX:+UseSerialGC -XX:TieredStopAtLevel=1",
        },
        log_level="ERROR",
    )
    yield session
    session.stop()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")
