"""A backfill survives what production does to it: SIGTERM, kill -9 and terminated connections on
every key shape, a server crash and restart, an outage longer than it will wait."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.backfill.conftest import ScratchCluster
from tests.backfill.helpers import (
    add_column,
    check_done,
    finish_and_check,
    kill_9,
    resumed_after,
    rows_done,
    spawn,
    start_args,
    terminate_liveshift,
    wait_for,
    write_migration_file,
)
from tests.backfill.helpers import (
    make_table as make_shape,
)

Conn = psycopg.Connection[Any]
UP = "v * 3 + length(pad)"

ROWS = 120_000
SHAPES = ("composite_pk", "text_pk", "uuid_pk", "no_key")  # bigint_pk: test_resume.py


def make_table(url: str, shape: str) -> tuple[Conn, tuple[Any, ...]]:
    return make_shape(url, shape, ROWS)


@pytest.fixture
def migration_file(tmp_path: Path) -> Path:
    return write_migration_file(tmp_path, "add_w", add_column("t", "w", "bigint", UP))


def test_sigterm_stops_after_the_batch_then_resume(pg15_url: str, migration_file: Path) -> None:
    conn, before = make_table(pg15_url, "bigint_pk")
    with conn:
        args = start_args(migration_file, pg15_url, "--batch-size", "500")
        process = spawn(args)
        wait_for(lambda: rows_done(pg15_url) > 10_000, timeout=60, interval=0.01)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 3, stderr
        assert "stopping after the current batch" in stderr
        assert "stopped after" in stderr and "rows of the backfill of t" in stderr
        assert "Run the same `liveshift start FILE` to resume" in stderr
        assert "liveshift rollback" in stderr
        stopped_at = rows_done(pg15_url)
        assert 0 < stopped_at < ROWS
        # A clean stop: the checkpoint holds exactly the rows whose values were written.
        filled = conn.execute("select count(*) from t where _ls_new_w is not null").fetchone()
        assert filled == (stopped_at,)
        finish_and_check(conn, args, "t", UP, before, stopped_at)


@pytest.mark.parametrize("shape", SHAPES)
def test_kill_9_and_terminate_on_every_key_shape(
    pg15_url: str, migration_file: Path, shape: str
) -> None:
    """The dense-integer path is covered by test_resume.py; these take the keyset (composite,
    text, uuid) and ctid paths: two kill -9 at random points and one pg_terminate_backend.
    A duty cycle slows the backfill down so that all three land before it ends."""
    conn, before = make_table(pg15_url, shape)
    with conn:
        args = start_args(migration_file, pg15_url, "--batch-size", "300", "--batch-pause", "3")
        rng = random.Random(f"{shape}-20240601")
        last = 0
        for how in ("kill -9", "kill -9", "terminate"):
            process = spawn([*args, "--reconnect-timeout", "0"])
            wait_for(lambda last=last: rows_done(pg15_url) > last, timeout=60, interval=0.01)
            time.sleep(rng.uniform(0.0, 0.3))
            if how == "kill -9":
                kill_9(process)
            else:
                assert terminate_liveshift(conn) == 1
                _, stderr = process.communicate(timeout=60)
                assert process.returncode == 3, stderr
                assert "connection to the database was lost" in stderr
                assert "internal error" not in stderr
            now = rows_done(pg15_url)
            assert last < now, how
            last = now
        assert last < before[0]
        finish_and_check(conn, args, "t", UP, before, last, exact=shape != "no_key")


def test_a_terminated_connection_reconnects_and_resumes(
    pg15_url: str, migration_file: Path
) -> None:
    conn, before = make_table(pg15_url, "composite_pk")
    with conn:
        args = start_args(migration_file, pg15_url, "--batch-size", "500")
        process = spawn(args)
        wait_for(lambda: rows_done(pg15_url) > 10_000, timeout=60, interval=0.01)
        assert terminate_liveshift(conn) == 1
        terminated_at = rows_done(pg15_url)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        assert "connection to the database was lost" in stderr
        assert "reconnecting for up to 60s" in stderr
        assert "reconnected after" in stderr
        assert resumed_after(stderr) >= terminated_at > 0
        check_done(conn, "t", UP, before, exact=True)


@pytest.mark.parametrize("commit", ["sync", "async"])
def test_a_server_crash_and_restart_mid_backfill(
    scratch_cluster: ScratchCluster, scratch_url: str, migration_file: Path, commit: str
) -> None:
    """An immediate stop (a crash: the restart replays WAL) in the middle of the backfill. With
    `--batch-commit async` the crash may undo the last few batches, each together with its
    checkpoint: the run reconnects, resumes from what the server kept, and every row is right."""
    conn, before = make_table(scratch_url, "uuid_pk")
    args = start_args(migration_file, scratch_url, "--batch-size", "500", "--batch-commit", commit)
    process = spawn(args)
    try:
        wait_for(lambda: rows_done(scratch_url) > 10_000, timeout=60, interval=0.01)
        conn.close()
        scratch_cluster.crash_and_restart()
        _, stderr = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            kill_9(process)
    assert process.returncode == 0, stderr
    assert "reconnecting for up to" in stderr and "reconnected after" in stderr
    assert resumed_after(stderr) > 0
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        check_done(conn, "t", UP, before, exact=True)


def test_an_outage_longer_than_the_reconnect_timeout(
    scratch_cluster: ScratchCluster, scratch_url: str, migration_file: Path
) -> None:
    """The server stays down past --reconnect-timeout: liveshift exits 3 with one paragraph on
    how to resume; once the server is back, the same command resumes past the checkpoint."""
    conn, before = make_table(scratch_url, "text_pk")
    conn.close()
    args = start_args(migration_file, scratch_url, "--batch-size", "500")
    process = spawn([*args, "--reconnect-timeout", "2s"])
    try:
        wait_for(lambda: rows_done(scratch_url) > 10_000, timeout=60, interval=0.01)
        scratch_cluster.stop("fast")
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            kill_9(process)
        scratch_cluster.start()
    assert process.returncode == 3, stderr
    assert "reconnecting for up to 2s" in stderr
    assert "could not reconnect within 2s" in stderr
    assert "run the same `liveshift start FILE` to resume" in stderr
    assert "internal error" not in stderr
    stopped_at = rows_done(scratch_url)
    assert 0 < stopped_at < ROWS
    with psycopg.connect(scratch_url, autocommit=True) as conn:
        finish_and_check(conn, args, "t", UP, before, stopped_at)
