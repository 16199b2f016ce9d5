"""The catch-up after a backfill that ran with a change log: each batch takes its keys off the
log in the transaction that fixes their rows, so a batch that fails leaves both as they were and
a rerun finishes the job."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors

from liveshift.catchup import run_catch_up
from liveshift.errors import Interrupted
from liveshift.plan import Backfill, CatchUp
from liveshift.settings import Settings

Conn = psycopg.Connection[Any]

CATCH_UP = CatchUp(
    target=Backfill(
        schema="public",
        table="t",
        column="w",
        expression="v % 7 * 2",
        where="w is null",
        key=("id",),
    ),
    log='"public"."t_log"',
)


LOG = "create table t_log (_ls_seq bigint generated always as identity primary key, id int)"


def stale_ids(conn: Conn) -> list[int]:
    rows = conn.execute("select id from t where w is distinct from v % 7 * 2 order by id")
    return [r[0] for r in rows.fetchall()]


def logged_ids(conn: Conn) -> list[int]:
    return [r[0] for r in conn.execute("select distinct id from t_log order by 1").fetchall()]


def test_a_failed_batch_keeps_its_keys_and_a_rerun_finishes(pg_url: str, conn: Conn) -> None:
    conn.execute("create table t (id int primary key, v int not null, w int)")
    conn.execute("insert into t select i, i, i % 7 * 2 from generate_series(1, 30) i")
    conn.execute("update t set v = v + 1")  # every row is now stale, as after old clients' updates
    conn.execute(LOG)
    conn.execute("insert into t_log (id) select i from generate_series(1, 30) i")
    conn.execute("insert into t_log (id) values (3), (99)")  # a key twice; a row since deleted
    settings = Settings(batch_row_lock_timeout_ms=50, lock_retry_deadline_s=0.3)
    with psycopg.connect(pg_url) as app:
        app.execute("select * from t where id = 25 for update")  # held until the block ends
        with pytest.raises(pg_errors.LockNotAvailable):
            run_catch_up(conn, CATCH_UP, settings, threading.Event(), batch_keys=10)
        # Batches 1 and 2 (ids 1-20) are done and off the log; batch 3 rolled back whole.
        assert stale_ids(conn) == list(range(21, 31))
        # Key 3's second entry is still there (the first went with batch 1).
        assert logged_ids(conn) == [3, *range(21, 31), 99]
    # Row 3 is set again, harmlessly; ids 21-30; nothing for the deleted row 99.
    assert run_catch_up(conn, CATCH_UP, settings, threading.Event(), batch_keys=10) == 11
    assert stale_ids(conn) == []
    assert logged_ids(conn) == []


def test_stop_before_a_batch_keeps_the_log(pg_url: str, conn: Conn) -> None:
    conn.execute("create table t (id int primary key, v int not null, w int)")
    conn.execute("insert into t select i, i + 1, 0 from generate_series(1, 5) i")
    conn.execute(LOG)
    conn.execute("insert into t_log (id) select id from t")
    stop = threading.Event()
    stop.set()
    with pytest.raises(Interrupted, match="stopped while recomputing"):
        run_catch_up(conn, CATCH_UP, Settings(), stop)
    assert logged_ids(conn) == [1, 2, 3, 4, 5]
