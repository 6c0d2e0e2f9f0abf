from __future__ import annotations

from pathlib import Path

import pytest
from mlops_cdc import ChangeApplier
from mlops_storage import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def applier(store: Store) -> ChangeApplier:
    return ChangeApplier(store, key="id")
