"""Fixtures of the journeys (their helpers live in lab.py: a module named ``conftest`` would
shadow tests/conftest.py for the tests that import from it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lab import User, new_user


@pytest.fixture
def user(tmp_path: Path) -> User:
    """A fresh folder; MLflow and Optuna default to files in it, as on a user's machine."""
    return new_user(tmp_path / "lab")
