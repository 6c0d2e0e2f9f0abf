"""The on-disk versioned dataset store.

Layout under the root directory::

    <root>/<dataset>/data/<uuid>.parquet      immutable data files
    <root>/<dataset>/versions/<N>.json        one manifest per committed version
    <root>/<dataset>/tmp/                     scratch files, never read

A version exists if and only if its manifest exists. ``write`` first writes and
syncs the data file (under a fresh name nothing refers to yet), then commits the
manifest by hard-linking a fully written and synced temporary file to
``versions/<N>.json``. ``os.link`` refuses to replace an existing file, so of two
writers racing for the same version number exactly one wins; the loser re-reads
the latest version and tries the next number. A crash at any point leaves every
committed version intact (at worst an unreferenced data or temporary file
remains, or, on a file system without hard links, a torn manifest that is no
version: :mod:`mlops_storage.commit`). Directory entries are synced before
``write`` returns, so an acknowledged version survives a power cut too.

Writers serialise the commit step (not the data write) on an advisory
``flock`` of the ``versions/`` directory, across threads and processes, so
they rarely race for a number and seldom redo the synced manifest write; the
link alone still decides, so a writer that cannot lock (or an older one that
does not) stays correct. Committed versions are immutable: readers cache
parsed manifests (checked against the file's stat) and schemas (by data file,
whose name is unique), and find the latest version from the last one they saw.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from mlops_storage import commit
from mlops_storage.errors import (
    ConcurrentWriteError,
    DatasetNotFound,
    SchemaError,
    StorageError,
    StoreWriteError,
    VersionConflict,
    VersionNotFound,
)

ROOT_ENV = "MLOPS_STORAGE_ROOT"
MANIFEST_FORMAT = 1

_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
_MANIFEST_RE = re.compile(r"(\d{1,18})\.json")
_DATA_FILE_RE = re.compile(r"data/[0-9a-f]{32}\.parquet")
_MAX_NAME_LENGTH = 200
#: Parsed manifests and schemas a Store keeps (least recently used dropped).
_CACHE_ENTRIES = 1024
#: Versions probed one by one past the last latest seen before listing them all.
_PROBE_LIMIT = 16
#: Rows per row group of the data files: a page of rows is decoded from the
#: row group holding its first row (mlops_storage.pages).
ROW_GROUP_ROWS = 65536


def default_root() -> Path:
    """``$MLOPS_STORAGE_ROOT`` if set and non-empty, else ``~/.local/share/...``."""
    env = os.environ.get(ROOT_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "mlops-storage"


def validate_name(name: object) -> str:
    """Return ``name`` if it is a valid dataset name, else raise StorageError."""
    if not isinstance(name, str):
        raise StorageError(f"dataset name must be a string, got {type(name).__name__}")
    if (
        not _NAME_RE.fullmatch(name)
        or set(name) == {"."}
        or len(name) > _MAX_NAME_LENGTH
    ):
        raise StorageError(
            f"invalid dataset name {name!r}: use 1-{_MAX_NAME_LENGTH} characters "
            "from A-Z a-z 0-9 _ . - (and not only dots)"
        )
    return name


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def check_evolution(previous: pa.Schema, new: pa.Schema) -> None:
    """Raise SchemaError unless ``new`` may follow ``previous``.

    Allowed: adding nullable columns, reordering columns. Refused: dropping a
    column, changing a column's type, adding a non-nullable column.
    """
    new_fields = {field.name: field for field in new}
    for old in previous:
        field = new_fields.get(old.name)
        if field is None:
            raise SchemaError(
                f"column {old.name!r} would be dropped; dropping columns is not "
                "allowed",
                old.name,
            )
        if not field.type.equals(old.type):
            raise SchemaError(
                f"column {old.name!r} would change type from {old.type} to "
                f"{field.type}; retyping columns is not allowed",
                old.name,
            )
    old_names = set(previous.names)
    for field in new:
        if field.name not in old_names and not field.nullable:
            raise SchemaError(
                f"new column {field.name!r} must be nullable",
                field.name,
            )


class _Lru:
    """A small thread-safe least-recently-used mapping."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


@contextlib.contextmanager
def _write_errors(name: str) -> Iterator[None]:
    """File-system and Arrow failures of a write as :class:`StoreWriteError`."""
    try:
        yield
    except StorageError:
        raise
    except (OSError, pa.ArrowException) as exc:
        raise StoreWriteError(name, exc) from exc


class Store:
    """A directory of versioned Parquet datasets.

    The root directory is created on the first write; reading from a root that
    does not exist yet simply finds no datasets.
    """

    #: How many version numbers one ``write`` tries before giving up.
    commit_attempts = 64

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_root()
        self._manifests = _Lru(_CACHE_ENTRIES)
        self._schemas = _Lru(_CACHE_ENTRIES)
        self._latest_seen: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"Store(root={str(self.root)!r})"

    # ------------------------------------------------------------------ reads

    def datasets(self) -> list[str]:
        """Names of all datasets with at least one committed version, sorted."""
        try:
            entries = list(self.root.iterdir())
        except FileNotFoundError:
            return []
        names = []
        for entry in entries:
            if _NAME_RE.fullmatch(entry.name) and self._committed(entry.name):
                names.append(entry.name)
        return sorted(names)

    def versions(self, name: str) -> list[int]:
        """Committed version numbers of ``name``, ascending."""
        validate_name(name)
        found = [n for n in self._list_versions(name) if self._load(name, n)]
        if not found:
            raise DatasetNotFound(name)
        return found

    def read(self, name: str, version: int | None = None) -> pa.Table:
        """The table of ``version`` (default: latest) of dataset ``name``."""
        manifest = self._manifest(name, version)
        path = self._data_path(name, manifest)
        try:
            return pq.ParquetFile(path).read()
        except (OSError, pa.ArrowException) as exc:
            raise StorageError(
                f"cannot read data of {name!r} version {manifest['version']}: {exc}"
            ) from exc

    def metadata(self, name: str, version: int | None = None) -> dict[str, str]:
        """The metadata given to ``write`` for that version."""
        meta = self._manifest(name, version).get("metadata", {})
        return {str(key): str(value) for key, value in meta.items()}

    def schema(self, name: str, version: int | None = None) -> pa.Schema:
        """The Arrow schema of that version."""
        manifest = self._manifest(name, version)
        path = self._data_path(name, manifest)
        # A data file's name is unique and its content immutable.
        schema: pa.Schema | None = self._schemas.get(path)
        if schema is None:
            try:
                schema = pq.read_schema(path)
            except (OSError, pa.ArrowException) as exc:
                raise StorageError(
                    f"cannot read schema of {name!r} version {manifest['version']}: "
                    f"{exc}"
                ) from exc
            self._schemas.put(path, schema)
        return schema

    def describe(self, name: str, version: int | None = None) -> dict[str, Any]:
        """Facts about one version: ``version``, ``created_at``, ``num_rows``."""
        manifest = self._manifest(name, version)
        rows = manifest.get("num_rows")
        created = manifest.get("created_at")
        return {
            "version": manifest["version"],
            "created_at": created if isinstance(created, str) else None,
            "num_rows": rows if isinstance(rows, int) else None,
        }

    def data_file(self, name: str, version: int | None = None) -> tuple[int, Path]:
        """The version number and the immutable Parquet file holding it.

        The file's name is unique to that version's content (a random id), so
        ``(version, path)`` identifies the data even if a dataset were deleted
        and made again.
        """
        manifest = self._manifest(name, version)
        return manifest["version"], self._data_path(name, manifest)

    def latest(self, name: str) -> int:
        """The latest committed version of ``name``; DatasetNotFound if none."""
        validate_name(name)
        found = self._committed(name)
        if found is None:
            raise DatasetNotFound(name)
        return found[0]

    # ----------------------------------------------------------------- writes

    def write(
        self,
        name: str,
        table: pa.Table,
        *,
        metadata: Mapping[str, str] | None = None,
        expected_version: int | None = None,
    ) -> int:
        """Commit ``table`` as the next version of ``name``; return its number.

        With ``expected_version`` the write is conditional: it commits version
        ``expected_version + 1`` only if ``expected_version`` is still the latest
        (0: the dataset has no version yet), else raises :class:`VersionConflict`
        and writes nothing. Two conditional writers racing from the same version
        cannot both win: the commit is one exclusive link of that exact number.
        """
        validate_name(name)
        if expected_version is not None and (
            isinstance(expected_version, bool)
            or not isinstance(expected_version, int)
            or expected_version < 0
        ):
            raise StorageError(
                f"expected_version must be a non-negative integer, got "
                f"{expected_version!r}"
            )
        if not isinstance(table, pa.Table):
            raise StorageError(
                f"table must be a pyarrow.Table, got {type(table).__name__}"
            )
        meta = self._check_metadata(metadata)
        duplicates = sorted(
            {n for n in table.schema.names if table.schema.names.count(n) > 1}
        )
        if duplicates:
            raise SchemaError(f"duplicate column name {duplicates[0]!r}", duplicates[0])

        dataset_dir = self.root / name
        # Fail fast, before writing any data, against the current latest.
        found = self._committed(name)
        checked = found[0] if found else None
        if expected_version is not None and (checked or 0) != expected_version:
            raise VersionConflict(name, expected_version, checked)
        if checked is not None:
            check_evolution(self.schema(name, checked), table.schema)

        data_rel = f"data/{uuid.uuid4().hex}.parquet"
        data_path = dataset_dir / data_rel
        committed = False
        try:
            with _write_errors(name):
                commit.make_dirs(self.root, dataset_dir, ("data", "versions", "tmp"))
                self._write_data(dataset_dir, data_path, table)
                attempts = self.commit_attempts if expected_version is None else 1
                with commit.commit_lock(dataset_dir / "versions") as locked:
                    version = self._commit(
                        name,
                        dataset_dir,
                        data_rel,
                        table,
                        meta,
                        expected_version,
                        checked,
                        attempts,
                        locked,
                    )
                committed = True
                # The new entry reaches the disk before anyone is told.
                commit.fsync_dir(dataset_dir / "versions")
            return version
        finally:
            if not committed:
                _unlink_quietly(data_path)

    def _commit(
        self,
        name: str,
        dataset_dir: Path,
        data_rel: str,
        table: pa.Table,
        meta: dict[str, str],
        expected_version: int | None,
        checked: int | None,
        attempts: int,
        locked: bool,
    ) -> int:
        """Publish the manifest of the next version; its number."""
        for _ in range(attempts):
            top = self._latest(name)
            while locked and top is not None and self._load(name, top) is None:
                # Torn by a writer that died (the lock is ours): never a version.
                commit.remove_torn(self._manifest_path(name, top))
                self._latest_seen.pop(name, None)
                top = self._latest(name)
            found = self._committed(name)
            latest = found[0] if found else None
            if expected_version is not None and (latest or 0) != expected_version:
                raise VersionConflict(name, expected_version, latest)
            if latest is not None and latest != checked:
                check_evolution(self.schema(name, latest), table.schema)
                checked = latest
            # Above every manifest file, torn ones left by an unlocked writer too.
            version = (top or 0) + 1
            if expected_version is not None and version != expected_version + 1:
                raise VersionConflict(name, expected_version, latest)
            manifest = {
                "format": MANIFEST_FORMAT,
                "name": name,
                "version": version,
                "data_file": data_rel,
                "num_rows": table.num_rows,
                "created_at": datetime.now(timezone.utc).isoformat(),
                "metadata": meta,
                "columns": [
                    {
                        "name": field.name,
                        "type": str(field.type),
                        "nullable": field.nullable,
                    }
                    for field in table.schema
                ],
            }
            if self._commit_manifest(dataset_dir, version, manifest):
                self._saw_latest(name, version)
                return version
        if expected_version is not None:
            raise VersionConflict(name, expected_version, self._latest(name))
        raise ConcurrentWriteError(
            f"could not commit a new version of {name!r}: other writers took "
            f"{self.commit_attempts} version numbers in a row; retry later"
        )

    # -------------------------------------------------------------- internals

    @staticmethod
    def _check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
        if metadata is None:
            return {}
        if not isinstance(metadata, Mapping):
            raise StorageError("metadata must be a mapping of str to str")
        result: dict[str, str] = {}
        for key, value in metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise StorageError(
                    f"metadata must map str to str, got {key!r}: {value!r}"
                )
            result[key] = value
        return result

    @contextlib.contextmanager
    def _temp_file(self, dataset_dir: Path, suffix: str) -> Iterator[Path]:
        path = dataset_dir / "tmp" / f"{uuid.uuid4().hex}{suffix}"
        try:
            yield path
        finally:
            _unlink_quietly(path)

    def _write_data(self, dataset_dir: Path, data_path: Path, table: pa.Table) -> None:
        # Written in place: the name is new and no manifest refers to it until
        # the commit, so no reader can see it half written. Arrow writes a path
        # natively, without taking the GIL for each chunk.
        pq.write_table(table, str(data_path), row_group_size=ROW_GROUP_ROWS)
        fd = os.open(data_path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        commit.fsync_dir(data_path.parent)

    def _commit_manifest(
        self, dataset_dir: Path, version: int, manifest: Mapping[str, Any]
    ) -> bool:
        """Atomically create ``versions/<version>.json``; False if it exists.

        The file is synced before it is published; syncing the directory entry
        is the caller's (``write``, once the commit lock is released).
        """
        target = dataset_dir / "versions" / f"{version:010d}.json"
        body = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
        with self._temp_file(dataset_dir, ".json") as tmp:
            with open(tmp, "wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            return commit.publish(tmp, target, body)

    def _list_versions(self, name: str) -> list[int]:
        try:
            entries = os.listdir(self.root / name / "versions")
        except (FileNotFoundError, NotADirectoryError):
            return []
        found = []
        for entry in entries:
            match = _MANIFEST_RE.fullmatch(entry)
            if match:
                found.append(int(match.group(1)))
        return sorted(found)

    def _manifest_path(self, name: str, version: int) -> Path:
        return self.root / name / "versions" / f"{version:010d}.json"

    def _saw_latest(self, name: str, version: int) -> None:
        if version > self._latest_seen.get(name, 0):
            self._latest_seen[name] = version

    def _latest(self, name: str) -> int | None:
        """The latest version: probed upwards from the last one seen.

        Versions are only ever added, each as the latest plus one, so from a
        version that still exists the latest is the first number missing
        above it. Without one (or after many new versions), list them all.
        """
        seen = self._latest_seen.get(name)
        if seen is not None and os.path.exists(self._manifest_path(name, seen)):
            for _ in range(_PROBE_LIMIT):
                if not os.path.exists(self._manifest_path(name, seen + 1)):
                    self._saw_latest(name, seen)
                    return seen
                seen += 1
        found = self._list_versions(name)
        if not found:
            self._latest_seen.pop(name, None)
            return None
        self._latest_seen[name] = found[-1]
        return found[-1]

    def _committed(self, name: str) -> tuple[int, dict[str, Any]] | None:
        """The latest committed version and its manifest (torn ones are none)."""
        top = self._latest(name)
        if top is None:
            return None
        manifest = self._load(name, top)
        if manifest is not None:
            return top, manifest
        for number in reversed(self._list_versions(name)):  # rare: after a crash
            manifest = self._load(name, number)
            if manifest is not None:
                return number, manifest
        return None

    def _load(self, name: str, version: int) -> dict[str, Any] | None:
        """The manifest of ``version``; None if absent or torn (no version)."""
        path = self._manifest_path(name, version)
        try:
            info = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StorageError(
                f"cannot read manifest of {name!r} version {version}: {exc}"
            ) from exc
        if info.st_size == 0:
            return None
        # Committed manifests never change; the stat guards against a hand edit.
        key = (name, version, info.st_ino, info.st_size, info.st_mtime_ns)
        cached: dict[str, Any] | None = self._manifests.get(key)
        if cached is not None:
            return cached
        try:
            raw = path.read_bytes()
            if commit.is_torn(raw):
                return None
            manifest = json.loads(raw.decode("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StorageError(
                f"cannot read manifest of {name!r} version {version}: {exc}"
            ) from exc
        if not isinstance(manifest, dict) or manifest.get("version") != version:
            raise StorageError(f"malformed manifest for {name!r} version {version}")
        self._manifests.put(key, manifest)
        return manifest

    def _manifest(self, name: str, version: int | None) -> dict[str, Any]:
        validate_name(name)
        if version is None:
            found = self._committed(name)
            if found is None:
                raise DatasetNotFound(name)
            return found[1]
        if isinstance(version, bool) or not isinstance(version, int):
            raise StorageError(
                f"version must be an integer, got {type(version).__name__}"
            )
        manifest = self._load(name, version)
        if manifest is None:
            available = self.versions(name)  # DatasetNotFound if none
            raise VersionNotFound(name, version, available)
        return manifest

    def _data_path(self, name: str, manifest: Mapping[str, Any]) -> Path:
        rel = manifest.get("data_file")
        if not isinstance(rel, str) or not _DATA_FILE_RE.fullmatch(rel):
            raise StorageError(
                f"malformed data file reference in manifest of {name!r} "
                f"version {manifest.get('version')}"
            )
        return self.root / name / rel
