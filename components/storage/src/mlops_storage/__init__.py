"""Versioned Parquet dataset store for the MLOps platform.

>>> from mlops_storage import Store
>>> store = Store("/tmp/datasets")  # doctest: +SKIP
>>> version = store.write("events", table, metadata={"source": "cdc"})  # doctest: +SKIP
>>> store.read("events")  # latest version  # doctest: +SKIP
"""

from __future__ import annotations

from mlops_storage.errors import (
    ConcurrentWriteError,
    DatasetNotFound,
    RootError,
    SchemaError,
    StorageError,
    StoreWriteError,
    VersionConflict,
    VersionNotFound,
)
from mlops_storage.root import resolve_root
from mlops_storage.store import Store, default_root, validate_name

__all__ = [
    "ConcurrentWriteError",
    "DatasetNotFound",
    "RootError",
    "SchemaError",
    "StorageError",
    "Store",
    "StoreWriteError",
    "VersionConflict",
    "VersionNotFound",
    "default_root",
    "resolve_root",
    "validate_name",
]
