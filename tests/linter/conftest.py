"""Linter test settings: each test gets its own lint cache, never the user's."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def lint_cache_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    directory = tmp_path_factory.mktemp("lint-cache")
    monkeypatch.setenv("LIVESHIFT_CACHE_DIR", str(directory))
    return directory
