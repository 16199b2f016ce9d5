"""`--workers N`: the key range is cut into slices, each with its own checkpoint, backfilled by
lanes on connections of their own. Every key shape, kill -9 and a resume with another worker
count, a lane that loses its connection, a clean stop, and the state of an older liveshift."""

from __future__ import annotations

import signal
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import conninfo

from liveshift.backfill import controller
from liveshift.errors import StateError
from liveshift.progress import Reporter
from liveshift.state import STATE_VERSION, StateStore
from tests.backfill.helpers import (
    add_column,
    check_done,
    finish_and_check,
    kill_9,
    migration,
    migrator,
    rows_done,
    spawn,
    start_args,
    wait_for,
    write_migration_file,
)
from tests.backfill.helpers import (
    make_table as make_shape,
)

Conn = psycopg.Connection[Any]
UP = "v * 3 + length(pad)"
ROWS = 60_000
SHAPES = ("bigint_pk", "sparse_bigint_pk", "composite_pk", "text_pk", "no_key")


class Collect(Reporter):
    """A reporter that keeps the messages."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def message(self, text: str) -> None:
        self.messages.append(text)


def make_table(url: str, shape: str, *, rows: int = ROWS) -> tuple[Conn, tuple[Any, ...]]:
    return make_shape(url, shape, rows)


def slices(conn: Conn) -> list[tuple[Any, ...]]:
    """(slice, checkpoint, upper bound, rows done, finished) of every slice, in order."""
    exists = conn.execute("select to_regclass('liveshift.backfills') is not null").fetchone()
    if not exists or not exists[0]:
        return []
    return conn.execute(
        "select slice, checkpoint, upper_bound, rows_done, finished_at is not null "
        "from liveshift.backfills order by slice"
    ).fetchall()


@pytest.mark.parametrize("shape", SHAPES)
def test_workers_fill_every_row_once(pg_url: str, shape: str) -> None:
    conn, before = make_table(pg_url, shape)
    with conn:
        migrator(pg_url, workers=3, batch_size=700).start(migration("t", "w", "bigint", UP))
        check_done(conn, "t", UP, before, exact=shape != "no_key")
        found = slices(conn)
        # Four slices per worker, but none under 10,000 rows: six.
        assert [s[0] for s in found] == [0, 1, 2, 3, 4, 5]
        assert all(s[4] for s in found)
        # Each slice is a fair share of the table (the rows add up exactly: check_done).
        assert all(ROWS / 6 * 0.7 < done < ROWS / 6 * 1.3 for _, _, _, done, _ in found)
        # `liveshift status` shows the column once, its slices added together.
        active = migrator(pg_url).status()["active"]
        assert active is not None
        (backfill,) = active["backfills"]
        assert backfill["slices"] == 6 and backfill["finished"]
        assert backfill["rows_done"] == sum(s[3] for s in found)


def test_a_small_table_is_not_cut(pg_url: str) -> None:
    conn, before = make_table(pg_url, "bigint_pk", rows=5_000)
    with conn:
        migrator(pg_url, workers=4).start(migration("t", "w", "bigint", UP))
        check_done(conn, "t", UP, before, exact=True)
        assert [s[0] for s in slices(conn)] == [0]


def test_kill_9_then_resume_with_another_worker_count(pg15_url: str, tmp_path: Path) -> None:
    conn, before = make_table(pg15_url, "text_pk", rows=120_000)
    path = write_migration_file(tmp_path, "add_w", add_column("t", "w", "bigint", UP))
    with conn:
        slow = ("--batch-size", "300", "--batch-pause", "3")
        process = spawn(start_args(path, pg15_url, *slow, "--workers", "2"))
        # Both lanes have committed batches of their own slice (of eight).
        wait_for(
            lambda: len(slices(conn)) == 8 and all(s[3] > 0 for s in slices(conn)[:2]),
            timeout=60,
            interval=0.01,
        )
        kill_9(process)
        stopped_at = rows_done(pg15_url)
        assert 0 < stopped_at < 120_000
        # Each slice's checkpoint counts exactly the rows filled in its range.
        filled = conn.execute("select count(*) from t where _ls_new_w is not null").fetchone()
        assert filled == (stopped_at,)
        # One worker finishes both slices, the later one from its own checkpoint.
        finish_and_check(conn, start_args(path, pg15_url), "t", UP, before, stopped_at)
        assert [s[4] for s in slices(conn)] == [True] * 8


@dataclass
class Runner:
    """A background `liveshift start`, and the arguments to run it again with."""

    argv: list[str]
    process: subprocess.Popen[str]


def lanes_running(
    url: str, tmp_path: Path, *, workers: int, past_rows: int
) -> tuple[Conn, tuple[Any, ...], Runner]:
    """A 120,000-row table backfilled by `liveshift start` with `workers` lanes in the
    background, slowed down, once it has filled more than `past_rows` rows."""
    conn, before = make_table(url, "bigint_pk", rows=120_000)
    path = write_migration_file(tmp_path, "add_w", add_column("t", "w", "bigint", UP))
    argv = [
        *start_args(path, url, "--batch-size", "300", "--batch-pause", "2"),
        *("--workers", str(workers)),
    ]
    process = spawn(argv)
    wait_for(lambda: rows_done(url) > past_rows, timeout=60, interval=0.01)
    return conn, before, Runner(argv, process)


def test_sigterm_stops_every_lane_after_its_batch(pg15_url: str, tmp_path: Path) -> None:
    conn, before, runner = lanes_running(pg15_url, tmp_path, workers=3, past_rows=6_000)
    with conn:
        process = runner.process
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 3, stderr
        assert stderr.count("stopped after") == 1, stderr
        assert "Run the same `liveshift start FILE` to resume" in stderr
        stopped_at = rows_done(pg15_url)
        assert f"stopped after {stopped_at:,} of" in stderr
        filled = conn.execute("select count(*) from t where _ls_new_w is not null").fetchone()
        assert filled == (stopped_at,)
        assert not any(s[4] for s in slices(conn))
        finish_and_check(conn, runner.argv, "t", UP, before, stopped_at)


def test_a_lane_that_loses_its_connection_is_resumed(pg15_url: str, tmp_path: Path) -> None:
    """pg_terminate_backend on one lane: the other lanes stop after their batch, the runner
    reconnects and resumes every slice from its checkpoint."""
    conn, before, runner = lanes_running(pg15_url, tmp_path, workers=2, past_rows=3_000)
    with conn:
        process = runner.process
        lane = wait_for(
            lambda: conn.execute(
                "select pid from pg_stat_activity where application_name = 'liveshift' "
                "and datname = current_database() and query like 'update only%%' limit 1"
            ).fetchone(),
            timeout=30,
            interval=0.005,
        )
        conn.execute("select pg_terminate_backend(%s)", (lane[0],))
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        assert "reconnect" in stderr
        assert "internal error" not in stderr
        check_done(conn, "t", UP, before, exact=True)


def test_the_state_of_an_older_liveshift_is_upgraded(pg_url: str) -> None:
    conn, before = make_table(pg_url, "bigint_pk", rows=30_000)
    with conn:
        StateStore(conn).init()
        # The state as version 1 made it: one checkpoint row per column, no slices, and no lock
        # hold times in the journal (version 3).
        conn.execute(
            "alter table liveshift.backfills drop constraint backfills_pkey, drop column slice, "
            "add primary key (migration_id, table_name, column_name); "
            "alter table liveshift.steps drop column lock_held_ms; "
            "update liveshift.state_version set version = 1"
        )
        migrator(pg_url, workers=2).start(migration("t", "w", "bigint", UP))
        check_done(conn, "t", UP, before, exact=True)
        assert StateStore(conn).version() == STATE_VERSION == 3
        assert [s[0] for s in slices(conn)] == [0, 1, 2]
        held = conn.execute(
            "select count(lock_held_ms) from liveshift.steps where lock_mode = 'ACCESS EXCLUSIVE'"
        ).fetchone()
        assert held is not None and held[0] >= 1


def test_a_newer_state_is_refused(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("create table t (id bigint primary key, v int not null, pad text)")
        StateStore(conn).init()
        conn.execute("update liveshift.state_version set version = 99")
        with pytest.raises(StateError, match="newer than this liveshift understands"):
            migrator(pg_url).start(migration("t", "w", "bigint", UP))
        # Nothing was changed.
        assert conn.execute("select count(*) from liveshift.migrations").fetchone() == (0,)


def test_fewer_lanes_when_connections_run_out(pg_url: str) -> None:
    """A role allowed two connections: the runner's own and one lane; the other lanes are
    refused, and the backfill runs with what it got and says so."""
    conn, before = make_table(pg_url, "bigint_pk", rows=40_000)
    role = f"ls_limited_{uuid.uuid4().hex[:8]}"
    params = conninfo.conninfo_to_dict(pg_url)
    with conn:
        conn.execute(f"create role {role} login connection limit 2")
        try:
            conn.execute(f"grant all on database {params['dbname']} to {role}")
            conn.execute(f"grant all on schema public to {role}")
            conn.execute(f"alter table t owner to {role}")
            limited = conninfo.make_conninfo(pg_url, user=role)
            reporter = Collect()
            migrator(limited, reporter, workers=3).start(migration("t", "w", "bigint", UP))
            check_done(conn, "t", UP, before, exact=True)
            assert any("opened only 1 connections" in m for m in reporter.messages)
            assert [s[0] for s in slices(conn)] == [0, 1, 2, 3]
        finally:
            conn.execute(f"drop owned by {role} cascade")
            conn.execute(f"drop role {role}")


def test_boundaries_from_a_sample_of_the_pages(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table of more pages than the sample takes: the boundaries come from half its pages
    here, and still cut it into even slices that cover every row once."""
    monkeypatch.setattr(controller, "SPLIT_SAMPLE_PAGES", 200)
    conn, before = make_table(pg_url, "text_pk")
    with conn:
        pages = conn.execute("select pg_relation_size('t') / 8192").fetchone()
        assert pages is not None and pages[0] > 300  # so the sample is not the whole table
        migrator(pg_url, workers=2).start(migration("t", "w", "bigint", UP))
        check_done(conn, "t", UP, before, exact=True)
        found = slices(conn)
        assert len(found) == 6
        assert all(ROWS / 6 * 0.7 < done < ROWS / 6 * 1.3 for _, _, _, done, _ in found)
