"""Killing liveshift mid-backfill (kill -9, a terminated connection, Ctrl-C) loses nothing; the
same `liveshift start FILE` resumes from the checkpoint and says how far it had got."""

from __future__ import annotations

import random
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.backfill.helpers import (
    add_column,
    finish_and_check,
    kill_9,
    rows_done,
    spawn,
    start_args,
    terminate_liveshift,
    wait_for,
    write_migration_file,
)

Conn = psycopg.Connection[Any]
ROWS = 300_000
UP = "v * 3 + length(pad)"


@pytest.fixture
def big(pg15_url: str) -> Iterator[Conn]:
    with psycopg.connect(pg15_url, autocommit=True) as conn:
        conn.execute("create table big (id bigint primary key, v int not null, pad text)")
        conn.execute(
            f"insert into big select i, i % 1000, repeat('p', i % 20) "
            f"from generate_series(1, {ROWS}) i"
        )
        conn.execute("analyze big")
        yield conn


def finish(conn: Conn, args: list[str], stopped_at: int) -> str:
    # The table as the fixture made it (ids 1..ROWS): its fingerprint, computed the same way.
    before = conn.execute(
        f"select {ROWS}::bigint, sum(i %% 1000), sum(i %% 20), "
        "count(distinct (i %% 1000, i %% 20)) from generate_series(1, %s) i",
        (ROWS,),
    ).fetchone()
    assert before is not None
    return finish_and_check(conn, args, "big", UP, tuple(before), stopped_at)


def test_kill_9_at_random_points_then_resume(big: Conn, pg15_url: str, tmp_path: Path) -> None:
    path = write_migration_file(tmp_path, "add_w", add_column("big", "w", "bigint", UP))
    args = start_args(path, pg15_url, "--batch-size", "500")
    rng = random.Random(20240601)
    last = 0
    for _ in range(3):
        process = spawn(args)
        wait_for(lambda last=last: rows_done(pg15_url) > last, timeout=60, interval=0.01)
        time.sleep(rng.uniform(0.0, 0.4))
        kill_9(process)
        now = rows_done(pg15_url)
        assert last < now < ROWS
        last = now
    # Right away: the killed runner's session may still hold the lock for a moment.
    finish(big, args, last)


def test_terminated_connection_then_resume(big: Conn, pg15_url: str, tmp_path: Path) -> None:
    """With --reconnect-timeout 0 a lost connection ends the run (exit 3); the rerun resumes."""
    path = write_migration_file(tmp_path, "add_w", add_column("big", "w", "bigint", UP))
    args = start_args(path, pg15_url, "--batch-size", "500")
    process = spawn([*args, "--reconnect-timeout", "0"])
    wait_for(lambda: rows_done(pg15_url) > 20_000, timeout=60, interval=0.01)
    assert terminate_liveshift(big) == 1
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 3, stderr
    assert "liveshift:" in stderr and "internal error" not in stderr
    stopped_at = rows_done(pg15_url)
    assert 0 < stopped_at < ROWS
    finish(big, args, stopped_at)


def test_ctrl_c_stops_after_the_batch_then_resume(big: Conn, pg15_url: str, tmp_path: Path) -> None:
    path = write_migration_file(tmp_path, "add_w", add_column("big", "w", "bigint", UP))
    args = start_args(path, pg15_url, "--batch-size", "500")
    process = spawn(args)
    wait_for(lambda: rows_done(pg15_url) > 20_000, timeout=60, interval=0.01)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 3, stderr
    assert "stopping after the current batch" in stderr
    assert re.search(r"stopped after [\d,]+ of ~[\d,]+ rows of the backfill of big", stderr)
    assert "Run the same `liveshift start FILE` to resume" in stderr
    assert "liveshift rollback" in stderr
    stopped_at = rows_done(pg15_url)
    assert 0 < stopped_at < ROWS
    # Stopped cleanly: the checkpoint holds exactly the rows whose values were written.
    filled = big.execute("select count(*) from big where _ls_new_w is not null").fetchone()
    assert filled == (stopped_at,)
    finish(big, args, stopped_at)
