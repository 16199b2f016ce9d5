"""MySQLGuard on a real MariaDB: guarded DDL never queues the application behind a metadata-lock
wait, lands once the blocker ends, names the blocker, and gives up with its name at the deadline."""

from __future__ import annotations

import datetime as dt
import io
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from liveshift.engines.base import LockNotAvailable
from liveshift.engines.mysql import MYSQL
from liveshift.engines.mysql.connection import MySQLConnection, connect
from liveshift.engines.mysql.guard import (
    MySQLGuard,
    describe_lock_policy,
    split_table,
    try_wait_s,
)
from liveshift.engines.mysql.server import parse_version
from liveshift.errors import LockTimeoutExceeded
from liveshift.executor import Executor
from liveshift.lock_policy import LockPolicy
from liveshift.locks import LockMode
from liveshift.plan import ConcurrentIndex, Step
from liveshift.progress import PlainReporter
from liveshift.settings import Settings

MARIADB = parse_version("10.11.19-MariaDB-0+deb12u1")
MYSQL8 = parse_version("8.0.36", "MySQL Community Server - GPL")


# -- without a server ------------------------------------------------------------------------------


def test_a_try_below_a_second_never_waits_on_mariadb_and_waits_the_minimum_on_mysql() -> None:
    assert try_wait_s(50, MARIADB) == 0
    assert try_wait_s(999, MARIADB) == 0
    assert try_wait_s(1600, MARIADB) == 1  # rounded down: never longer than the policy says
    assert try_wait_s(2000, MARIADB) == 2
    assert try_wait_s(50, MYSQL8) == 1  # MySQL's lock_wait_timeout cannot go below 1 s


def test_the_policy_is_described_in_whole_seconds() -> None:
    default = describe_lock_policy(LockPolicy(), MARIADB)
    assert "never waits in the metadata-lock queue" in default
    assert "whole seconds only, up to 2 s" in default
    short = describe_lock_policy(LockPolicy(max_try_ms=800), MARIADB)
    assert "no escalation" in short
    mysql = describe_lock_policy(LockPolicy(), MYSQL8)
    assert "at least 1 s" in mysql and "MySQL 8.0.36 cannot wait less" in mysql
    fixed = describe_lock_policy(LockPolicy(try_ms=500, fixed=True), MARIADB)
    assert "--lock-timeout 500 ms" in fixed and "never waits" in fixed


def test_table_names_split_into_database_and_table() -> None:
    assert split_table("app.t", "x") == ("app", "t")
    assert split_table("`app`.`t`", "x") == ("app", "t")
    assert split_table("t", "x") == ("x", "t")


# -- on MariaDB --------------------------------------------------------------------------------------


@pytest.fixture
def table(mconn: MySQLConnection, mysql_db: str) -> str:
    mconn.execute("create table t (id int primary key, v int) engine=innodb")
    mconn.execute("insert into t select seq, seq from seq_1_to_1000")
    return f"{mysql_db}.t"


class Holder:
    """A session with an open transaction that read `table`: it holds the table's metadata lock
    until released (or for good)."""

    def __init__(self, url: str, table: str) -> None:
        self.conn = connect(url, application_name="holder")
        self.id = self.conn.backend_id
        self.release = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(table,), daemon=True)
        self.thread.start()
        assert self.ready.wait(5)

    def _run(self, table: str) -> None:
        self.conn.execute("begin")
        self.conn.execute(f"select count(*) from {table}").fetchone()
        self.ready.set()
        self.release.wait(30)
        self.conn.execute("commit")

    def end(self) -> None:
        self.release.set()
        self.thread.join(10)
        self.conn.close()


class Reader:
    """An application client reading the table every 10 ms; keeps each query's latency."""

    def __init__(self, url: str, table: str) -> None:
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(url, table), daemon=True)
        self.thread.start()

    def _run(self, url: str, table: str) -> None:
        with connect(url) as conn:
            while not self.stop.is_set():
                began = time.monotonic()
                try:
                    conn.execute(f"select v from {table} where id = 7").fetchone()
                except Exception as exc:  # any failure is what the test reports
                    self.errors.append(str(exc))
                self.latencies.append(time.monotonic() - began)
                time.sleep(0.01)

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(10)


def add_column(table: str) -> Step:
    return Step(
        description="add column c",
        sql=f"alter table {table} add column c int, algorithm=instant",
        lock=LockMode.ACCESS_EXCLUSIVE,
        tables=(table,),
        operation="add_column",
    )


def run_steps(conn: MySQLConnection, settings: Settings, *steps: Step) -> tuple[Executor, str]:
    out = io.StringIO()
    run = Executor(
        conn,
        settings,
        PlainReporter(out),
        guard=MySQLGuard(conn, settings),
        capabilities=MYSQL.capabilities,
        migration_id=None,  # no journal: the MySQL state store is another task's
        phase="start",
    )
    run.run(list(steps))
    return run, out.getvalue()


@pytest.fixture
def holder(mysql_url: str, table: str) -> Iterator[Holder]:
    held = Holder(mysql_url, table)
    yield held
    held.end()


def columns(conn: MySQLConnection) -> list[Any]:
    return [
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns "
            "where table_schema = database() and table_name = 't' "
            "order by ordinal_position"
        ).fetchall()
    ]


def test_guarded_alter_lands_after_the_blocker_names_it_and_never_queues_readers(
    mconn: MySQLConnection, mysql_url: str, table: str, holder: Holder
) -> None:
    before = mconn.execute("select @@session.lock_wait_timeout").fetchone()[0]
    reader = Reader(mysql_url, table)
    threading.Timer(1.5, holder.release.set).start()
    started = time.monotonic()
    try:
        run, report = run_steps(mconn, Settings(lock_retry_deadline_s=30), add_column(table))
    finally:
        reader.finish()
    took = time.monotonic() - started
    assert columns(mconn) == ["id", "v", "c"]
    assert took >= 1.4  # it could not land while the blocker was open
    assert run.lock_retries >= 1
    assert f"pid {holder.id} " in report and "lock not available" in report
    assert not reader.errors
    worst = max(reader.latencies)
    print(f"reader: {len(reader.latencies)} queries, worst {worst * 1000:.1f} ms")
    assert worst < 1.0  # measured ~10-60 ms; a plain ALTER would stall it the whole 1.5 s
    # The session's lock wait is back as it was.
    assert mconn.execute("select @@session.lock_wait_timeout").fetchone()[0] == before


def test_a_blocker_that_never_ends_gives_up_at_the_deadline_naming_it(
    mconn: MySQLConnection, table: str, holder: Holder
) -> None:
    before = mconn.execute("select @@session.lock_wait_timeout").fetchone()[0]
    with pytest.raises(LockTimeoutExceeded) as failed:
        run_steps(mconn, Settings(lock_retry_deadline_s=1.0), add_column(table))
    assert any(f"pid {holder.id} " in line for line in failed.value.details), failed.value.details
    assert columns(mconn) == ["id", "v"]
    assert mconn.execute("select @@session.lock_wait_timeout").fetchone()[0] == before


def test_blockers_name_the_open_transaction_with_its_age(
    mconn: MySQLConnection, table: str, holder: Holder
) -> None:
    time.sleep(1.1)
    guard = MySQLGuard(mconn, Settings())
    found = guard.blockers(add_column(table), guard.now())
    assert [b.pid for b in found] == [holder.id]
    assert found[0].state.startswith("Sleep")
    assert found[0].transaction_age_s is not None and found[0].transaction_age_s >= 1.0
    assert found[0].relation == table
    assert guard.blockers(add_column(table), None)
    # A transaction that began after the refused try did not block it.
    now = guard.now()
    assert now is not None
    assert guard.blockers(add_column(table), now - dt.timedelta(hours=1)) == []


def test_run_atomic_refuses_to_pretend(mconn: MySQLConnection, table: str) -> None:
    with pytest.raises(RuntimeError, match="not transactional"):
        MySQLGuard(mconn, Settings()).run_atomic(add_column(table), 50, lambda _: None)


def index_step(table: str, mysql_db: str) -> Step:
    return Step(
        description="add index t_v",
        lock=None,  # planned with no lock at all: the build is guarded still
        tables=(table,),
        transactional=False,
        concurrent_index=ConcurrentIndex(
            mysql_db, "t_v", f"alter table {table} add index t_v (v), algorithm=inplace, lock=none"
        ),
    )


def test_build_index_waits_out_a_blocker_and_is_idempotent(
    mconn: MySQLConnection, mysql_url: str, mysql_db: str, table: str
) -> None:
    held = Holder(mysql_url, table)
    threading.Timer(1.0, held.release.set).start()
    said: list[str] = []
    guard = MySQLGuard(mconn, Settings(lock_retry_deadline_s=30))
    step = index_step(table, mysql_db)
    try:
        guard.build_index(step, step.concurrent_index, said.append)  # type: ignore[arg-type]
    finally:
        held.end()
    assert said and f"pid {held.id} " in said[0]
    guard.build_index(step, step.concurrent_index, said.append)  # type: ignore[arg-type]
    names = mconn.execute(
        "select index_name from information_schema.statistics where table_schema = database() "
        "and table_name = 't' and index_name = 't_v'"
    ).fetchall()
    assert len(names) == 1


def test_an_unguarded_statement_is_not_bounded(mconn: MySQLConnection, table: str) -> None:
    step = Step(description="read", sql=f"select count(*) from {table}", tables=(table,))
    MySQLGuard(mconn, Settings()).run_outside(step.sql, step)


def test_a_refusal_is_lock_not_available(
    mconn: MySQLConnection, table: str, holder: Holder
) -> None:
    with pytest.raises(LockNotAvailable):
        MySQLGuard(mconn, Settings()).run_outside(add_column(table).sql, add_column(table))
