"""Golden plans: every plan the operation tests make, as `plan --json` prints it, kept in
tests/fixtures/plans/ and compared on every run, so moving code around cannot change a plan
unseen.

`LIVESHIFT_RECORD_PLANS=1 pytest tests/operations` writes the files again (review the diff).
Without it, a test whose plans are on file fails when one of them differs; a test not on file
(a new one) is not compared until it is recorded.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PLANS = Path(__file__).parent / "fixtures" / "plans"
RECORD = bool(os.environ.get("LIVESHIFT_RECORD_PLANS"))
# Read from the live catalog (reltuples): they move with autovacuum, not with the code.
VOLATILE = ("estimated_rows",)


def plan_as_data(plan: Any) -> dict[str, list[dict[str, object]]]:
    """The plan as `plan --json` shows its phases, minus what the server's statistics decide."""
    return {
        phase: [{k: v for k, v in step.as_dict().items() if k not in VOLATILE} for step in steps]
        for phase, steps in plan.phases().items()
    }


def _file(nodeid: str) -> Path:
    module = nodeid.split("::", 1)[0].removeprefix("tests/").removesuffix(".py")
    return PLANS / f"{module.replace('/', '.')}.json"


_loaded: dict[Path, dict[str, Any]] = {}
_recorded: dict[Path, dict[str, Any]] = {}


def _golden(path: Path) -> dict[str, Any]:
    if path not in _loaded:
        _loaded[path] = json.loads(path.read_text()) if path.exists() else {}
    return _loaded[path]


@pytest.fixture(autouse=True)
def golden_plans(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Records the plans this test makes; compares them with the golden ones after it."""
    if not request.node.nodeid.startswith(("tests/operations/", "tests/test_dead_ends.py")):
        yield
        return
    from liveshift import migrator

    made: list[dict[str, Any]] = []
    plan_migration = migrator.plan_migration

    def recording(*args: Any, **kwargs: Any) -> Any:
        plan = plan_migration(*args, **kwargs)
        made.append(plan_as_data(plan))
        return plan

    monkeypatch.setattr(migrator, "plan_migration", recording)
    yield
    path = _file(request.node.nodeid)
    name = request.node.nodeid.split("::", 1)[1]
    if RECORD:
        if made:
            _recorded.setdefault(path, {})[name] = made
        return
    expected = _golden(path).get(name)
    if expected is None:
        return
    if json.loads(json.dumps(made)) != expected:
        pytest.fail(
            f"the plans of {name} differ from {path.relative_to(PLANS.parent.parent)}:\n"
            + _first_difference(expected, json.loads(json.dumps(made))),
            pytrace=False,
        )


def _first_difference(expected: Any, made: Any, where: str = "") -> str:
    if type(expected) is not type(made):
        return f"{where}: {expected!r} -> {made!r}"
    if isinstance(expected, dict):
        for key in sorted(set(expected) | set(made)):
            if expected.get(key) != made.get(key):
                return _first_difference(expected.get(key), made.get(key), f"{where}.{key}")
    if isinstance(expected, list):
        if len(expected) != len(made):
            return f"{where}: {len(expected)} items -> {len(made)}"
        for i, (a, b) in enumerate(zip(expected, made, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{where}[{i}]")
    return f"{where}: {expected!r} -> {made!r}"


def write_recorded() -> None:
    """Merges this run's plans into the golden files (tests that did not run keep theirs)."""
    for path, plans in _recorded.items():
        merged = {**_golden(path), **plans}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dict(sorted(merged.items())), indent=1, sort_keys=True) + "\n")
