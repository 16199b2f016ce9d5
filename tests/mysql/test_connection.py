"""MySQLConnection on a real server: statements, transactions, and driver errors provoked for
real and mapped onto the neutral classes by error number."""

from __future__ import annotations

import threading
import time

import pytest

from liveshift.engines import base
from liveshift.engines.mysql.connection import MySQLConnection, connect, parse_url, redact
from liveshift.errors import ConfigError, DatabaseError


def test_url_parsing_and_redaction() -> None:
    target = parse_url("mariadb://app:s%40cret@db.example:3307/shop?unix_socket=/run/m.sock")
    assert (target.user, target.password, target.host, target.port, target.database) == (
        "app",
        "s@cret",
        "db.example",
        3307,
        "shop",
    )
    assert target.unix_socket == "/run/m.sock"
    assert redact("mysql://app:s3cret@db:3306/shop") == "app@db:3306/shop"
    assert "s3cret" not in redact("mysql://app:s3cret@db/shop")
    with pytest.raises(ConfigError, match="unknown parameters: sslmode"):
        parse_url("mysql://app@db/shop?sslmode=require")


def test_connect_failure_names_the_server_not_the_password(mysql_url: str) -> None:
    target = parse_url(mysql_url)
    url = f"mysql://{target.user}:wrong-pw@{target.host}:{target.port}/{target.database}"
    with pytest.raises(DatabaseError) as caught:
        connect(url)
    assert f"{target.host}:{target.port}" in caught.value.message
    assert "(1045)" in caught.value.message
    assert "wrong-pw" not in caught.value.message
    with pytest.raises(DatabaseError, match=r"cannot connect to root@127\.0\.0\.1:1/"):
        connect("mysql://root:pw@127.0.0.1:1/x", timeout_s=2)


def test_statements_params_and_literals(mconn: MySQLConnection) -> None:
    assert mconn.backend_id == mconn.execute("select connection_id()").fetchone()[0]
    mconn.execute("create table t (id int primary key, v varchar(20))")
    cur = mconn.execute("insert into t values (%s, %s), (%s, %s)", [1, "a", 2, "b"])
    assert cur.rowcount == 2
    rows = mconn.fetch_dicts("select id, v from t where id = %(id)s", {"id": 2})
    assert rows == [{"id": 2, "v": "b"}]
    assert mconn.execute(b"select count(*) from t").fetchall() == [(2,)]
    tricky = "it's a \\ back'slash"
    assert mconn.execute(f"select {mconn.literal(tricky)}").fetchone()[0] == tricky
    assert mconn.literal(None) == "NULL"
    assert mconn.execute("select 1 from t where false").description is not None


def test_transactions_commit_roll_back_and_nest(mconn: MySQLConnection) -> None:
    mconn.execute("create table t (id int primary key)")

    def count() -> int:
        return int(mconn.execute("select count(*) from t").fetchone()[0])

    with mconn.transaction():
        mconn.execute("insert into t values (1)")
        with pytest.raises(base.UniqueViolation), mconn.transaction():
            mconn.execute("insert into t values (2)")
            mconn.execute("insert into t values (1)")
        with mconn.transaction(force_rollback=True):
            mconn.execute("insert into t values (3)")
        with mconn.transaction():
            mconn.execute("insert into t values (4)")
    assert [r[0] for r in mconn.execute("select id from t order by id")] == [1, 4]
    with mconn.transaction(force_rollback=True):
        mconn.execute("insert into t values (5)")
        assert count() == 3
    with pytest.raises(RuntimeError), mconn.transaction():
        mconn.execute("insert into t values (6)")
        raise RuntimeError("boom")
    assert count() == 2
    with mconn.pipeline() as pipeline:
        mconn.execute("insert into t values (7)")
        pipeline.sync()
    assert count() == 3


def _errors(url: str) -> tuple[MySQLConnection, MySQLConnection]:
    return connect(url), connect(url)


def test_row_lock_wait_timeout_is_lock_not_available(mysql_url: str) -> None:
    holder, waiter = _errors(mysql_url)
    with holder, waiter:
        holder.execute("create table t (id int primary key, v int)")
        holder.execute("insert into t values (1, 0)")
        waiter.execute("set innodb_lock_wait_timeout = 1")
        with holder.transaction(force_rollback=True):
            holder.execute("update t set v = 1 where id = 1")
            with pytest.raises(base.LockNotAvailable) as caught:
                waiter.execute("update t set v = 2 where id = 1")
            assert caught.value.sqlstate == "HY000"
            assert "(1205)" in caught.value.message
            with pytest.raises(base.LockNotAvailable):
                waiter.execute("select * from t where id = 1 for update nowait")


def test_alter_wait_0_behind_an_open_transaction_fails_at_once(mysql_url: str) -> None:
    holder, ddl = _errors(mysql_url)
    with holder, ddl:
        holder.execute("create table t (id int primary key)")
        with holder.transaction(force_rollback=True):
            holder.execute("select * from t").fetchall()  # holds the table's metadata lock
            started = time.monotonic()
            with pytest.raises(base.LockNotAvailable):
                ddl.execute("alter table t wait 0 add column x int, algorithm=instant")
            with pytest.raises(base.LockNotAvailable):
                ddl.execute("alter table t nowait add column x int")
            assert time.monotonic() - started < 1.0  # neither queued for a second
            ddl.execute("set lock_wait_timeout = 1")  # whole seconds: the finest a session gets
            with pytest.raises(base.LockNotAvailable):
                ddl.execute("alter table t add column x int")
        assert ddl.broken is False
        ddl.execute("alter table t wait 0 add column x int, algorithm=instant")


def test_deadlock_is_deadlock_detected(mysql_url: str) -> None:
    first, second = _errors(mysql_url)
    with first, second:
        first.execute("create table t (id int primary key, v int)")
        first.execute("insert into t values (1, 0), (2, 0)")
        failures: list[BaseException] = []
        locked = threading.Barrier(2)

        def cross(conn: MySQLConnection, mine: int, theirs: int) -> None:
            try:
                with conn.transaction():
                    conn.execute("update t set v = v + 1 where id = %s", [mine])
                    locked.wait()
                    time.sleep(0.1 if mine == 1 else 0.4)
                    conn.execute("update t set v = v + 1 where id = %s", [theirs])
            except base.DriverError as exc:
                failures.append(exc)

        threads = [
            threading.Thread(target=cross, args=(first, 1, 2)),
            threading.Thread(target=cross, args=(second, 2, 1)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert len(failures) == 1
        assert isinstance(failures[0], base.DeadlockDetected)
        assert failures[0].sqlstate == "40001"


def test_killed_session_is_connection_broken(mysql_url: str) -> None:
    victim, killer = _errors(mysql_url)
    with victim, killer:
        killer.execute(f"kill {victim.backend_id}")
        with pytest.raises(base.ConnectionBroken):
            victim.execute("select 1")
        assert victim.broken and victim.closed
        with pytest.raises(base.ConnectionBroken):  # PyMySQL's InterfaceError(0, '') after that
            victim.execute("select 1")


def test_kill_query_and_statement_timeout_are_query_canceled(mysql_url: str) -> None:
    victim, killer = _errors(mysql_url)
    with victim, killer:
        timer = threading.Timer(0.3, killer.execute, [f"kill query {victim.backend_id}"])
        timer.start()
        with pytest.raises(base.QueryCanceled) as caught:
            victim.execute("select sleep(5) from dual where 1 = 1 union select 1")
        timer.join()
        assert "(1317)" in caught.value.message
        with pytest.raises(base.QueryCanceled) as caught:
            victim.execute(
                "set statement max_statement_time = 0.1 for select sleep(2) union select 1"
            )
        assert "(1969)" in caught.value.message
        assert victim.broken is False
        assert victim.execute("select 1").fetchone() == (1,)


def test_duplicates(mconn: MySQLConnection, mysql_db: str) -> None:
    mconn.execute("create table t (id int primary key, v int, constraint ck check (v > 0))")
    mconn.execute("insert into t values (1, 1)")
    with pytest.raises(base.UniqueViolation) as caught:
        mconn.execute("insert into t values (1, 1)")
    assert caught.value.sqlstate == "23000"
    with pytest.raises(base.DuplicateObject):
        mconn.execute("create table t (id int)")  # 1050
    with pytest.raises(base.DuplicateObject):
        mconn.execute("alter table t add column v int")  # 1060
    mconn.execute("create index iv on t (v)")
    with pytest.raises(base.DuplicateObject):
        mconn.execute("create index iv on t (v)")  # 1061
    with pytest.raises(base.DuplicateObject):
        mconn.execute(f"create database `{mysql_db}`")  # 1007
    with pytest.raises(base.DuplicateObject) as caught:
        mconn.execute("alter table t add constraint ck check (v < 9)")
    assert "(1826)" in caught.value.message


def test_missing_privileges(mysql_user: str, mysql_db: str) -> None:
    with connect(mysql_user) as conn:
        with pytest.raises(base.InsufficientPrivilege):
            conn.execute("create table t (id int)")  # 1142
        with pytest.raises(base.InsufficientPrivilege):
            conn.execute("set global max_connections = 500")  # 1227
        with pytest.raises(base.InsufficientPrivilege):
            conn.execute("create database `ls_test_not_mine`")  # 1044
    with pytest.raises(DatabaseError, match=r"\(1044\)"):
        connect(mysql_user.rsplit("/", 1)[0] + "/mysql")


def test_unmapped_errors_stay_driver_errors(mconn: MySQLConnection) -> None:
    with pytest.raises(base.DriverError) as caught:
        mconn.execute("select * from no_such_table")
    assert type(caught.value) is base.DriverError
    assert "(1146)" in caught.value.message


def test_errors_inside_transactions_come_out_unmasked(mysql_url: str) -> None:
    """A deadlock rolls the whole InnoDB transaction back (its savepoints with it) and a KILL ends
    the session: the savepoint's or transaction's rollback must not replace the real error."""
    victim, killer = _errors(mysql_url)
    with victim, killer:
        victim.execute("create table t (id int primary key)")
        with pytest.raises(base.ConnectionBroken), victim.transaction(), victim.transaction():
            victim.execute("insert into t values (1)")
            killer.execute(f"kill {victim.backend_id}")
            victim.execute("insert into t values (2)")
        assert victim.broken
        assert killer.execute("select count(*) from t").fetchone() == (0,)
        with killer.transaction():
            killer.execute("insert into t values (3)")
            with pytest.raises(base.UniqueViolation), killer.transaction():
                killer.execute("insert into t values (3)")
        assert killer.execute("select count(*) from t").fetchone() == (1,)
