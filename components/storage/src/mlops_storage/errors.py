"""Exception hierarchy of the dataset store."""

from __future__ import annotations

import errno


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


class StoreWriteError(StorageError):
    """The store could not write a version (disk full, I/O or Arrow error);
    nothing was committed."""

    def __init__(self, name: str, cause: BaseException) -> None:
        reason = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
        self.full = getattr(cause, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or (
            "No space left on device" in str(cause)
        )
        advice = (
            "the store's volume is full: free space or grow the volume, then retry"
            if self.full
            else "check the store's volume and the service's log, then retry"
        )
        super().__init__(
            f"cannot write a new version of {name!r}: {reason}; nothing was "
            f"committed; {advice}"
        )
        self.name = name
