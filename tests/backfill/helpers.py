"""Helpers for the backfill tests: migrations, CLI runs, polling."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo

from liveshift.migration import Migration
from liveshift.migrator import Migrator
from liveshift.progress import Reporter
from liveshift.settings import Settings

REPO = Path(__file__).resolve().parents[2]
LIVESHIFT = str(REPO / ".venv" / "bin" / "liveshift")


def add_column(
    table: str, column: str, type_: str, up: str, *, nullable: bool = True
) -> dict[str, Any]:
    return {
        "operations": [
            {
                "add_column": {
                    "table": table,
                    "column": {"name": column, "type": type_, "nullable": nullable},
                    "up": up,
                }
            }
        ]
    }


def migration(table: str, column: str, type_: str, up: str, name: str = "m1") -> Migration:
    return Migration.from_dict(add_column(table, column, type_, up), name=name)


def migrator(url: str, reporter: Reporter | None = None, **settings: Any) -> Migrator:
    return Migrator(url, settings=Settings(**settings), reporter=reporter or Reporter())


def write_migration_file(directory: Path, name: str, data: dict[str, Any]) -> Path:
    import json

    path = directory / f"{name}.json"
    path.write_text(json.dumps(data))
    return path


def cli(*args: str) -> list[str]:
    return [LIVESHIFT, *args]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli(*args), capture_output=True, text=True, timeout=timeout, env=cli_env(), check=False
    )


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LIVESHIFT_DATABASE_URL", None)
    env.pop("DATABASE_URL", None)
    return env


def wrong_rows(conn: psycopg.Connection[Any], table: str, column: str, up: str) -> int:
    row = conn.execute(
        f"select count(*) from {table} where {column} is distinct from ({up})"
    ).fetchone()
    assert row is not None
    return int(row[0])


def backfill_row(conn: psycopg.Connection[Any]) -> dict[str, Any] | None:
    """The latest backfill's checkpoint row (None before liveshift made its state schema)."""
    exists = conn.execute("select to_regclass('liveshift.backfills') is not null").fetchone()
    if not exists or not exists[0]:
        return None
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(
            "select * from liveshift.backfills order by started_at desc limit 1"
        ).fetchone()


def wait_for(predicate: Any, timeout: float = 60, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def rows_done(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as c:
        exists = c.execute("select to_regclass('liveshift.backfills') is not null").fetchone()
        if not exists or not exists[0]:
            return 0
        row = c.execute("select coalesce(max(rows_done), 0) from liveshift.backfills").fetchone()
        return int(row[0]) if row else 0


def replica_db_url(replica: str, primary_db_url: str) -> str:
    """The replica's copy of a database created on the primary."""
    params = conninfo.conninfo_to_dict(replica)
    params["dbname"] = conninfo.conninfo_to_dict(primary_db_url)["dbname"]
    return conninfo.make_conninfo(**params)
