"""The store directory a command works on: one rule for every CLI.

A missing root is refused unless the caller asks for it to be created: a typo
in ``--root`` or ``$MLOPS_STORAGE_ROOT`` must not silently start an empty store
beside the real one.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlops_storage.errors import RootError
from mlops_storage.store import ROOT_ENV, default_root


def resolve_root(
    root: str | os.PathLike[str] | None, *, create: bool = False
) -> tuple[Path, bool]:
    """The store directory (``root``, else the default) and whether it was made now.

    Raises RootError when it is not a directory, or is missing and ``create``
    is false, or cannot be created.
    """
    path = Path(root).expanduser() if root is not None else default_root()
    if path.is_dir():
        return path, False
    if path.exists():
        raise RootError(f"store root {path} is not a directory")
    if not create:
        where = "--root" if root is not None else f"${ROOT_ENV} or the default root"
        raise RootError(
            f"store root {path} does not exist ({where}); create it or pass --create"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RootError(f"cannot create store root {path}: {exc.strerror}") from None
    return path, True
