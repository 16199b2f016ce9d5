"""Helpers for the backfill tests: migrations, CLI runs, polling."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
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
        # A column's slices (--workers) added together; the column furthest along.
        row = c.execute(
            "select coalesce(max(done), 0) from (select sum(rows_done) as done "
            "from liveshift.backfills group by migration_id, table_name, column_name) _"
        ).fetchone()
        return int(row[0]) if row else 0


def replica_db_url(replica: str, primary_db_url: str) -> str:
    """The replica's copy of a database created on the primary."""
    params = conninfo.conninfo_to_dict(replica)
    params["dbname"] = conninfo.conninfo_to_dict(primary_db_url)["dbname"]
    return conninfo.make_conninfo(**params)


RESUMED = re.compile(
    r"resuming the backfill of (\w+)\.(\w+)(?: \(new version\))? after ([\d,]+) of"
)


def start_args(path: Path, url: str, *extra: str) -> list[str]:
    return ["start", str(path), "--database-url", url, "--progress", "plain", *extra]


SPAWNED: list[subprocess.Popen[str]] = []


def spawn(args: list[str]) -> subprocess.Popen[str]:
    """`liveshift ARGS` in the background; one a failed test left running is killed after it."""
    process = subprocess.Popen(
        cli(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env()
    )
    SPAWNED.append(process)
    return process


def reap_spawned() -> None:
    while SPAWNED:
        process = SPAWNED.pop()
        if process.poll() is None:
            process.kill()
        process.communicate()


def resumed_after(stderr: str) -> int:
    """How far the run said it had got when it resumed (fails when it did not resume)."""
    found = RESUMED.search(stderr)
    assert found, stderr
    return int(found.group(3).replace(",", ""))


def terminate_liveshift(conn: psycopg.Connection[Any]) -> int:
    """pg_terminate_backend on liveshift's own session(s) in this database."""
    row = conn.execute(
        "select count(pg_terminate_backend(pid)) from pg_stat_activity "
        "where application_name = 'liveshift' and datname = current_database()"
    ).fetchone()
    return int(row[0]) if row else 0


def kill_9(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL


class Background:
    """Runs `action` in a thread (a Migrator in the test's own process); `finish()` waits for it
    and re-raises whatever it raised."""

    def __init__(self, action: Callable[[], object]) -> None:
        self.failure: list[BaseException] = []

        def run() -> None:
            try:
                action()
            except BaseException as exc:  # re-raised by finish()
                self.failure.append(exc)

        self.thread = threading.Thread(target=run)
        self.thread.start()

    def finish(self, timeout: float = 120) -> None:
        self.thread.join(timeout=timeout)
        assert not self.thread.is_alive(), f"still running after {timeout}s"
        if self.failure:
            raise self.failure[0]


def fingerprint(conn: psycopg.Connection[Any], table: str) -> tuple[Any, ...]:
    """What a backfill must not change: the rows themselves, by count and content (tables with
    columns `v int` and `pad text`)."""
    row = conn.execute(
        f"select count(*), sum(v), sum(length(pad)), count(distinct (v, pad)) from {table}"
    ).fetchone()
    assert row is not None
    return tuple(row)


def check_done(
    conn: psycopg.Connection[Any], table: str, up: str, before: tuple[Any, ...], *, exact: bool
) -> None:
    """Every row is right, none lost or duplicated, and the checkpoint counted each row once
    (`exact`; the ctid path counts pages' worth of rows instead)."""
    assert fingerprint(conn, table) == before
    assert wrong_rows(conn, table, "_ls_new_w", up) == 0
    finished, counted = conn.execute(
        "select bool_and(finished_at is not null), sum(rows_done) from liveshift.backfills"
    ).fetchone()  # type: ignore[misc]
    assert finished
    if exact:
        assert counted == before[0]
    else:
        assert before[0] * 0.9 <= counted <= before[0] * 1.1


def finish_and_check(
    conn: psycopg.Connection[Any],
    args: list[str],
    table: str,
    up: str,
    before: tuple[Any, ...],
    stopped_at: int,
    *,
    exact: bool = True,
) -> str:
    """Run the same `liveshift start FILE` to the end: it resumes past where the last run
    stopped, and the backfill is complete and right."""
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert resumed_after(result.stderr) >= stopped_at > 0
    check_done(conn, table, up, before, exact=exact)
    return result.stderr


# Tables of every key shape the backfill batches differently (`rows` rows, columns `v` and
# `pad` for `fingerprint`), by name.
KEY_SHAPES = {
    "bigint_pk": """
        create table t (id bigint primary key, v int not null, pad text);
        insert into t select i, i % 1000, repeat('p', i % 20) from generate_series(1, {rows}) i;
    """,
    "sparse_bigint_pk": """
        create table t (id bigint primary key, v int not null, pad text);
        insert into t select i * 1000, i % 1000, repeat('p', i % 20)
        from generate_series(1, {rows}) i;
    """,
    "composite_pk": """
        create table t (region int, code text, v int not null, pad text,
                        primary key (region, code));
        insert into t select i % 7, 'c' || i, i % 1000, repeat('p', i % 20)
        from generate_series(1, {rows}) i;
    """,
    "text_pk": """
        create table t (code text primary key, v int not null, pad text);
        insert into t select md5(i::text), i % 1000, repeat('p', i % 20)
        from generate_series(1, {rows}) i;
    """,
    "uuid_pk": """
        create table t (id uuid primary key default gen_random_uuid(), v int not null, pad text);
        insert into t (v, pad) select i % 1000, repeat('p', i % 20)
        from generate_series(1, {rows}) i;
    """,
    "no_key": """
        create table t (v int not null, pad text);
        insert into t select i % 1000, repeat('p', i % 20) from generate_series(1, {rows}) i;
    """,
}


def make_table(url: str, shape: str, rows: int) -> tuple[psycopg.Connection[Any], tuple[Any, ...]]:
    """Table `t` of a key shape, analyzed; an autocommit connection and its fingerprint."""
    conn = psycopg.connect(url, autocommit=True)
    conn.execute(KEY_SHAPES[shape].format(rows=rows))
    conn.execute("analyze t")
    return conn, fingerprint(conn, "t")
