"""Golden files for every output format, and a check that none is stale or unreferenced.

Regenerate after an intended change with `LIVESHIFT_UPDATE_GOLDENS=1 pytest tests/linter`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from liveshift.linter.__main__ import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lint"
EXPECTED = FIXTURES / "expected"
UPDATE = os.environ.get("LIVESHIFT_UPDATE_GOLDENS") == "1"

# golden file name -> command-line arguments (run from tests/fixtures/lint)
GOLDENS: dict[str, list[str]] = {
    "input.text": ["--format", "text", "input"],
    "input-color.text": ["--format", "text", "--color", "always", "input/0002_add_columns.sql"],
    "input.json": ["--format", "json", "input"],
    "input.sarif": ["--format", "sarif", "input"],
    "input.github": ["--format", "github", "input"],
    "pg10.text": ["--pg-version", "10", "input/0002_add_columns.sql"],
    "clean.text": [
        "--exclude",
        "prefer-text,prefer-timestamptz,prefer-jsonb",
        "input/0001_create_users.sql",
    ],
}


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["--config", "lint.toml", *args])
    return code, capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(GOLDENS))
def test_golden(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(FIXTURES)
    monkeypatch.delenv("NO_COLOR", raising=False)
    code, out = run_cli(GOLDENS[name], capsys)
    expected_code = 0 if name == "clean.text" else 1
    assert code == expected_code
    # Again, answered from the lint cache the first run filled: the output must not change.
    assert run_cli(GOLDENS[name], capsys) == (code, out)
    path = EXPECTED / name
    if UPDATE:
        EXPECTED.mkdir(exist_ok=True)
        path.write_text(out, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with LIVESHIFT_UPDATE_GOLDENS=1"
    assert out == path.read_text(encoding="utf-8"), f"{path} is stale"


def test_no_unreferenced_golden_files() -> None:
    present = {p.name for p in EXPECTED.iterdir()}
    assert present == set(GOLDENS), f"unreferenced: {present - set(GOLDENS)}"
