"""The catch-up after a backfill that ran with a change log: each batch takes its keys off the
log in the transaction that fixes their rows, so a batch that fails leaves both as they were and
a rerun finishes the job."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest

from liveshift.catchup import run_catch_up
from liveshift.engines.base import LockNotAvailable
from liveshift.engines.postgres.connection import PgConnection
from liveshift.errors import Interrupted
from liveshift.migration import Migration
from liveshift.migrator import Migrator
from liveshift.plan import Backfill, CatchUp
from liveshift.settings import Settings
from tests.backfill.helpers import make_table

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


LOG = "create table t_log (id int primary key)"
LOG_OF_T = "public._ls_log_t_w"


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
    conn.execute("insert into t_log (id) values (99)")  # a row since deleted
    settings = Settings(batch_row_lock_timeout_ms=50, lock_retry_deadline_s=0.3)
    with psycopg.connect(pg_url) as app:
        app.execute("select * from t where id = 25 for update")  # held until the block ends
        with pytest.raises(LockNotAvailable):
            run_catch_up(PgConnection(conn), CATCH_UP, settings, threading.Event(), batch_keys=10)
        # Batches 1 and 2 (ids 1-20) are done and off the log; batch 3 rolled back whole.
        assert stale_ids(conn) == list(range(21, 31))
        assert logged_ids(conn) == [*range(21, 31), 99]
    # Ids 21-30; nothing for the deleted row 99.
    assert (
        run_catch_up(PgConnection(conn), CATCH_UP, settings, threading.Event(), batch_keys=10) == 10
    )
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
        run_catch_up(PgConnection(conn), CATCH_UP, Settings(), stop)
    assert logged_ids(conn) == [1, 2, 3, 4, 5]


UNIQUE_ONLY = """
    create table t (day date not null, seq int not null, v int not null, pad text);
    create unique index on t (day, seq);
    insert into t select date '2020-01-01' + i / 10, i % 10, i % 1000, repeat('p', i % 20)
    from generate_series(1, 500) i;
"""


@pytest.mark.parametrize("shape", ["composite_pk", "text_pk", "uuid_pk", "unique_date_int"])
def test_the_real_log_walks_any_key_and_holds_each_key_once(pg_url: str, shape: str) -> None:
    """add_column's own log on each key shape: old clients update 40 rows, some of them many
    times, while the log is in place; it holds each key once, and the catch-up (5 keys a batch,
    so the walk resumes after a key of that type every time) recomputes exactly those rows."""
    if shape == "unique_date_int":
        conn = psycopg.connect(pg_url, autocommit=True)
        conn.execute(UNIQUE_ONLY)
    else:
        conn, _ = make_table(pg_url, shape, 500)
    with conn:
        migration = Migration.from_dict(
            {
                "operations": [
                    {
                        "add_column": {
                            "table": "t",
                            "column": {"name": "w", "type": "int"},
                            "up": "v",
                        }
                    }
                ]
            },
            name="m1",
        )
        conn.execute("update t set pad = pad || '*' where ctid in (select ctid from t limit 40)")
        steps = Migrator(pg_url).plan(migration).start
        conn.execute(steps[0].sql)  # column, INSERT trigger, the log and its trigger
        conn.execute("update t set _ls_new_w = -1")  # as a backfill (the setting is not on)...
        conn.execute("truncate " + LOG_OF_T)  # ...whose rows the log must not keep
        for _ in range(3):
            conn.execute("update t set v = v + 1 where pad like '%*'")
        logged = conn.execute(f"select count(*) from {LOG_OF_T}").fetchone()
        assert logged == (40,)
        catch_up = next(s.catch_up for s in steps if s.catch_up is not None)
        assert (
            run_catch_up(PgConnection(conn), catch_up, Settings(), threading.Event(), batch_keys=5)
            == 40
        )
        wrong = conn.execute("select count(*) from t where _ls_new_w <> v").fetchone()
        assert wrong == (500 - 40,)  # the rest still hold the stand-in backfill's -1
        assert conn.execute(f"select count(*) from {LOG_OF_T}").fetchone() == (0,)
