"""The backfill's engine seam: the backfill package holds policy and no SQL text or driver, and
its throttle decides from what the engine's Monitor measures (a fake monitor here, beside the
real-server tests of test_replica.py and test_load.py)."""

from __future__ import annotations

import ast
import re
import time
from pathlib import Path
from typing import Any

from liveshift.backfill import Throttle
from liveshift.engines.backfill import (
    BackfillEngine,
    LoadSample,
    ReplicaLag,
    ReplicaView,
    backfill_engine,
)
from liveshift.engines.postgres import POSTGRES
from liveshift.settings import Settings

PACKAGE = Path(__file__).parents[2] / "src" / "liveshift" / "backfill"
# What the engine's statements look like; searched for in string literals, docstrings left out.
SQL_TEXT = re.compile(
    r"select\s.*\sfrom\s|update\s+only\s|insert\s+into\s|set_config|::regclass|::tid|tablesample",
    re.IGNORECASE,
)


def literals(tree: ast.AST) -> list[str]:
    """The string literals of a module (f-string parts included), docstrings left out."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_the_backfill_package_has_no_sql_and_no_driver() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert {m.name for m in modules} >= {"controller.py", "lane.py", "throttle.py", "verify.py"}
    for module in modules:
        text = module.read_text()
        assert "psycopg" not in text, module.name
        found = [s for s in literals(ast.parse(text)) if SQL_TEXT.search(s)]
        assert not found, (module.name, found)


def test_postgres_is_a_backfill_engine() -> None:
    assert isinstance(POSTGRES, BackfillEngine)
    assert backfill_engine() is POSTGRES
    assert backfill_engine(POSTGRES).backfill_sql().page_key == (["ctid"], ["tid"])


class FakeMonitor:
    """A primary whose WAL position and replicas the test sets."""

    load_sample_sql = "unused"

    def __init__(self) -> None:
        self.position: int | None = 1_000
        self.replayed: int | None = 1_000
        self.active = 0

    def load(self, conn: Any) -> LoadSample:
        return LoadSample(self.active, 0, None)

    def wal_position(self, conn: Any) -> int | None:
        return self.position

    def replicas(self, conn: Any) -> list[ReplicaLag]:
        return [ReplicaLag("standby1", self.replayed, 0.0, 0.0)]

    def replica_view(self, conn: Any) -> ReplicaView:
        return ReplicaView(self.replayed, False, 0.0)


def test_the_throttle_waits_for_a_replica_whose_replay_stalls() -> None:
    monitor = FakeMonitor()
    settings = Settings(max_replication_lag_s=0.05, throttle_poll_s=0.0)
    throttle = Throttle(None, settings, None, "public", monitor=monitor)  # type: ignore[arg-type]
    assert throttle.reason(force=True) is None
    monitor.position = 2_000  # the primary writes on; the replica's replay stays at 1,000
    throttle.reason(force=True)
    time.sleep(0.1)
    reason = throttle.reason(force=True)
    assert reason is not None and reason.startswith("replica standby1 is "), reason
    monitor.replayed = 2_000
    assert throttle.reason(force=True) is None


def test_the_throttle_waits_while_the_load_is_over_the_limit() -> None:
    monitor = FakeMonitor()
    settings = Settings(max_replication_lag_s=0, max_load=4, throttle_poll_s=0.0)
    throttle = Throttle(None, settings, None, "public", monitor=monitor)  # type: ignore[arg-type]
    monitor.active = 5
    assert throttle.reason(force=True) == (
        "load: 5 other sessions of the database are active (--max-load 4)"
    )
    monitor.active = 4
    assert throttle.reason(force=True) is None
