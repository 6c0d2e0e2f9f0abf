"""The file-system steps of a commit, and what a crash can leave of them.

A version is committed when ``versions/<N>.json`` holds its whole manifest.
:func:`publish` makes that file appear whole and only once: a hard link of a
synced temporary file, which refuses an existing name. On a file system
without hard links it creates the file exclusively and then writes it, so a
writer killed in between leaves an empty file, and a power cut before the
data reached the disk an empty or zero-filled one: :func:`is_torn`. Such a
manifest was never acknowledged (the writer syncs it before it returns), so
readers treat it as no version and the next writer holding the commit lock
removes it (:func:`remove_torn`).

Directory entries are synced (:func:`fsync_dir`) before a write returns: the
data file's, the manifest's, and a new dataset's directories.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

#: ``os.link`` errors that mean "no hard links here", not "the name exists".
_NO_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK)


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries to disk where the platform supports it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        # Some file systems cannot sync a directory (EINVAL); a full or
        # failing disk must not pass for a durable commit.
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
            raise
    finally:
        os.close(fd)


def make_dirs(root: Path, dataset_dir: Path, subdirs: tuple[str, ...]) -> None:
    """Create a dataset's directories; sync the new entries (first write only)."""
    if all((dataset_dir / sub).is_dir() for sub in subdirs):
        return
    made_root = not root.exists()
    for sub in subdirs:
        (dataset_dir / sub).mkdir(parents=True, exist_ok=True)
    fsync_dir(dataset_dir)
    fsync_dir(root)
    if made_root:
        fsync_dir(root.parent)


@contextlib.contextmanager
def commit_lock(directory: Path) -> Iterator[bool]:
    """Hold an exclusive ``flock`` on ``directory``; yields whether it is held.

    Writers queue on it instead of racing for a number. The exclusive
    publication decides regardless, so where the directory cannot be locked
    writers proceed unlocked; only the repair of a torn manifest needs it
    (a writer that holds the lock knows no other writer is mid-commit).
    """
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            locked = True
        except OSError:
            locked = False
        yield locked
    finally:
        os.close(fd)  # releases the lock


def publish(tmp: Path, target: Path, body: bytes) -> bool:
    """Make ``target`` hold ``body`` (already synced in ``tmp``); False if it exists."""
    try:
        os.link(tmp, target)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
    # No hard links on this file system: exclusive create, then write. A
    # crash in between leaves a torn manifest (see the module's doc).
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    try:
        view = memoryview(body)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def is_torn(raw: bytes) -> bool:
    """Whether manifest bytes are what a crash leaves: nothing, or only zeros."""
    return not raw.strip(b"\0")


def remove_torn(path: Path) -> None:
    """Remove a torn manifest (the caller holds the commit lock); sync the entry."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fsync_dir(path.parent)
