"""Exception hierarchy of the dataset store."""

from __future__ import annotations


class StorageError(Exception):
    """Base class of every error raised by :mod:`mlops_storage`."""


class RootError(StorageError):
    """The store directory cannot be used: missing (without create), not a
    directory, or it cannot be created."""


class DatasetNotFound(StorageError):
    """The requested dataset does not exist."""

    def __init__(self, name: str) -> None:
        super().__init__(f"dataset not found: {name!r}")
        self.name = name


class VersionNotFound(StorageError):
    """The dataset exists but not in the requested version."""

    def __init__(self, name: str, version: int, available: list[int]) -> None:
        latest = f"latest is {available[-1]}" if available else "no versions"
        super().__init__(f"version {version} of dataset {name!r} not found ({latest})")
        self.name = name
        self.version = version


class SchemaError(StorageError):
    """A new version is not schema-compatible with the previous one."""

    def __init__(self, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column


class ConcurrentWriteError(StorageError):
    """Another writer kept committing the same version number; nothing was written."""


class VersionConflict(ConcurrentWriteError):
    """The dataset is not at the version the writer expected; nothing was written."""

    def __init__(self, name: str, expected: int, current: int | None) -> None:
        now = f"is at version {current}" if current else "has no version yet"
        wanted = f"version {expected}" if expected else "no version yet"
        super().__init__(
            f"dataset {name!r} {now}, but the write expected {wanted}; "
            "read it again and retry"
        )
        self.name = name
        self.expected = expected
        self.current = current
