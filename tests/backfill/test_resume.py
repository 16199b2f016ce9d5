"""Killing liveshift mid-backfill (kill -9, a terminated connection, Ctrl-C) loses nothing; the
same `liveshift start FILE` resumes from the checkpoint and says how far it had got."""

from __future__ import annotations

import random
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.backfill.helpers import (
    add_column,
    cli,
    cli_env,
    rows_done,
    run_cli,
    wait_for,
    write_migration_file,
    wrong_rows,
)

Conn = psycopg.Connection[Any]
ROWS = 300_000
UP = "v * 3 + length(pad)"
RESUMED = re.compile(r"resuming the backfill of big\._ls_new_w after ([\d,]+) of")


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


def start_args(path: Path, url: str, *extra: str) -> list[str]:
    return ["start", str(path), "--database-url", url, "--progress", "plain", *extra]


def spawn(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env()
    )


def finish_and_check(conn: Conn, args: list[str], minimum_resumed: int) -> str:
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    found = RESUMED.search(result.stderr)
    assert found, result.stderr
    assert int(found.group(1).replace(",", "")) >= minimum_resumed > 0
    assert conn.execute("select count(*) from big").fetchone() == (ROWS,)
    assert wrong_rows(conn, "big", "_ls_new_w", UP) == 0
    # Each batch committed its rows and its count together: nothing counted twice or missed.
    done = conn.execute("select rows_done, finished_at is not null from liveshift.backfills")
    assert done.fetchone() == (ROWS, True)
    return result.stderr


def test_kill_9_at_random_points_then_resume(big: Conn, pg15_url: str, tmp_path: Path) -> None:
    path = write_migration_file(tmp_path, "add_w", add_column("big", "w", "bigint", UP))
    args = start_args(path, pg15_url, "--batch-size", "500")
    rng = random.Random(20240601)
    last = 0
    for _ in range(3):
        process = spawn(args)
        wait_for(lambda last=last: rows_done(pg15_url) > last, timeout=60, interval=0.01)
        time.sleep(rng.uniform(0.0, 0.4))
        process.send_signal(signal.SIGKILL)
        process.communicate()
        assert process.returncode == -signal.SIGKILL
        now = rows_done(pg15_url)
        assert last < now < ROWS
        last = now
    # Right away: the killed runner's session may still hold the lock for a moment.
    finish_and_check(big, args, minimum_resumed=last)


def test_terminated_connection_then_resume(big: Conn, pg15_url: str, tmp_path: Path) -> None:
    path = write_migration_file(tmp_path, "add_w", add_column("big", "w", "bigint", UP))
    args = start_args(path, pg15_url, "--batch-size", "500")
    process = spawn(args)
    wait_for(lambda: rows_done(pg15_url) > 20_000, timeout=60, interval=0.01)
    terminated = big.execute(
        "select count(pg_terminate_backend(pid)) from pg_stat_activity "
        "where application_name = 'liveshift' and datname = current_database()"
    ).fetchone()
    assert terminated == (1,)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 3, stderr
    assert "liveshift:" in stderr and "internal error" not in stderr
    stopped_at = rows_done(pg15_url)
    assert 0 < stopped_at < ROWS
    finish_and_check(big, args, minimum_resumed=stopped_at)


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
    finish_and_check(big, args, minimum_resumed=stopped_at)
