"""MySQLMonitor on the real MariaDB: the load sample sees a session waiting for a row lock, the
heartbeat is written on the primary at most every interval, and on a private primary + replica
pair (built by a fixture from the installed binaries, ../shared/RECIPES.md) the heartbeat lag grows
while the replica's SQL thread is stopped and falls when it starts again."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pymysql
import pytest

from liveshift.backfill.throttle import LagClock
from liveshift.engines.base import Connection
from liveshift.engines.mysql.backfill_sql import MARKER
from liveshift.engines.mysql.connection import MySQLConnection, connect
from liveshift.engines.mysql.monitor import HeartbeatWriter, MySQLMonitor, replica_status
from tests.mysql.test_backfill_sql import run_batches, spec_for


def test_load_sees_a_session_waiting_for_a_row_lock(mconn: MySQLConnection, mysql_url: str):
    monitor = MySQLMonitor()
    mconn.execute("create table r (id int primary key, v int)")
    mconn.execute("insert into r values (1, 0)")
    assert monitor.load(mconn).waiting == 0
    holder = connect(mysql_url)
    waiter = connect(mysql_url)
    errors: list[BaseException] = []

    def wait_for_the_row() -> None:
        try:
            waiter.execute("set innodb_lock_wait_timeout = 10")
            waiter.execute("update r set v = 2 where id = 1")
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    try:
        holder.execute("begin")
        holder.execute("update r set v = 1 where id = 1")
        thread = threading.Thread(target=wait_for_the_row)
        thread.start()
        deadline = time.monotonic() + 5
        sample = monitor.load(mconn)
        while sample.waiting == 0 and time.monotonic() < deadline:
            # INNODB_TRX is a cache InnoDB refreshes only when it was last read 0.1 s ago or more
            # (trx0i_s.cc, CACHE_MIN_IDLE_TIME_US): polled faster, it never changes.
            time.sleep(0.2)
            sample = monitor.load(mconn)
        assert sample.active >= 1 and sample.waiting == 1, errors
        assert sample.waits is not None and "innodb row lock" in sample.waits
        # the checkpoint sends the same statement as a sample of its own
        time.sleep(0.2)
        row = mconn.execute(monitor.load_sample_sql).fetchone()
        assert int(row[1]) == 1
        holder.execute("rollback")
        thread.join(5)
        assert not errors
    finally:
        holder.close()
        waiter.close()


def test_load_leaves_out_liveshift_batches(mconn: MySQLConnection, mysql_url: str):
    mconn.execute("create table r (id int primary key, v int)")
    mconn.execute("insert into r values (1, 0)")
    holder = connect(mysql_url)
    lane = connect(mysql_url)
    try:
        holder.execute("begin")
        holder.execute("update r set v = 1 where id = 1")
        thread = threading.Thread(
            target=lambda: lane.execute(f"{MARKER} update r set v = 3 where id = 1")
        )
        thread.start()
        time.sleep(0.5)
        assert MySQLMonitor().load(mconn).waiting == 0
        holder.execute("rollback")
        thread.join(5)
    finally:
        holder.close()
        lane.close()


def test_heartbeat_on_a_primary(mconn: MySQLConnection, mysql_db: str):
    monitor = MySQLMonitor(database=mysql_db, interval_s=0.3)
    first = monitor.wal_position(mconn)
    assert first is not None
    assert monitor.wal_position(mconn) == first  # written at most every interval
    time.sleep(0.35)
    second = monitor.wal_position(mconn)
    assert second is not None and 250_000 <= second - first <= 5_000_000
    rows = mconn.execute(f"select server_id, ts_us from `{mysql_db}`.heartbeat").fetchall()
    assert len(rows) == 1 and rows[0][1] == second
    assert monitor.replicas(mconn) == []
    # the system server is no replica: no position, whatever heartbeat it holds
    assert replica_status(mconn) is None
    assert monitor.replica_view(mconn).replayed is None
    lag = monitor.lag_s(mconn)
    assert lag is not None and lag < 5


# -- a private primary + replica pair --------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """One mariadbd of the pair, started by this process (and stopped by its pid)."""

    def __init__(self, root: Path, name: str, server_id: int, extra: str) -> None:
        self.dir = root / name
        (self.dir / "data").mkdir(parents=True)
        (self.dir / "run").mkdir()
        self.port = _free_port()
        self.cnf = self.dir / "my.cnf"
        self.cnf.write_text(
            "[mysqld]\nuser = mysql\n"
            f"datadir = {self.dir}/data\nsocket = {self.dir}/run/mysqld.sock\n"
            f"pid-file = {self.dir}/run/mysqld.pid\nlog-error = {self.dir}/error.log\n"
            f"port = {self.port}\nbind-address = 127.0.0.1\nserver-id = {server_id}\n"
            "innodb_buffer_pool_size = 32M\nperformance_schema = OFF\n" + extra
        )
        shutil.chown(self.dir, "mysql", "mysql")
        for sub in ("data", "run"):
            shutil.chown(self.dir / sub, "mysql", "mysql")
        subprocess.run(
            [
                "mariadb-install-db",
                f"--defaults-file={self.cnf}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        self.process = subprocess.Popen(
            ["/usr/sbin/mariadbd", f"--defaults-file={self.cnf}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                pymysql.connect(host="127.0.0.1", port=self.port, user="root").close()
                break
            except pymysql.err.MySQLError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    log = (self.dir / "error.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"mariadbd {name} did not start:\n{log}") from None
                time.sleep(0.2)

    @property
    def url(self) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[_Server, _Server]]:
    """A primary (log_bin, binlog_format STATEMENT: the strictest for the backfill's statements)
    and a replica of it, on free ports; torn down after the module."""
    if os.geteuid() != 0 or shutil.which("mariadb-install-db") is None:
        pytest.fail("the replica pair needs root and the MariaDB server binaries", pytrace=False)
    # Not under pytest's temporary directory: mariadbd runs as mysql, which cannot enter it.
    root = Path(tempfile.mkdtemp(prefix="ls-mariadb-pair-"))
    os.chmod(root, 0o755)
    servers: list[_Server] = []
    try:
        primary = _Server(
            root, "primary", 1, f"log_bin = {root}/primary/data/bin\nbinlog_format = STATEMENT\n"
        )
        servers.append(primary)
        replica = _Server(
            root, "replica", 2, "relay_log = relay\nread_only = ON\nskip_slave_start = ON\n"
        )
        servers.append(replica)
        with connect(primary.url) as p:
            p.execute("create user 'repl'@'127.0.0.1' identified by 'repl-pw'")
            p.execute("grant replication slave, replication client on *.* to 'repl'@'127.0.0.1'")
        with connect(replica.url) as r:
            # Both are fresh: the replica replays the primary's binary log from its start.
            r.execute("set global gtid_slave_pos = ''")
            r.execute(
                f"change master to master_host = '127.0.0.1', master_port = {primary.port}, "
                "master_user = 'repl', master_password = 'repl-pw', "
                "master_use_gtid = slave_pos, master_connect_retry = 1"
            )
            r.execute("start slave")
        yield primary, replica
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _wait_for(check: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_heartbeat_lag_on_a_real_replica(pair: tuple[_Server, _Server]):
    primary_server, replica_server = pair
    monitor = MySQLMonitor(interval_s=0.25)
    clock = LagClock()
    with connect(primary_server.url) as primary, connect(replica_server.url) as replica:

        def poll() -> tuple[float, float, bool]:
            """As the throttle does: the primary's position (beating when due), then the
            replica's view. (lag by the primary's clock, age by the replica's, paused)"""
            position = monitor.wal_position(primary)
            assert position is not None
            clock.record(position)
            view = monitor.replica_view(replica)
            assert view.replayed is not None
            return clock.lag_s(view.replayed), view.age_s, view.paused

        assert monitor.wal_position(replica) is None  # read_only: not a primary
        monitor.wal_position(primary)  # the first heartbeat (and its table)
        _wait_for(lambda: monitor.replica_view(replica).replayed is not None)
        _wait_for(lambda: poll()[0] < 0.5)
        lag, age, paused = poll()
        assert lag < 0.5 and age < 0.5 and not paused
        # a backfill-like write load on the primary, replicated as statements
        primary.execute("create database app")
        primary.execute("create table app.t (id int primary key, v int, c int)")
        primary.execute("insert into app.t select seq, seq, null from app.seq_1_to_2000")
        # the backfill's batches, as statements: the server finds nothing unsafe in them
        assert primary.execute("select @@binlog_format").fetchone()[0] == "STATEMENT"
        done, last = run_batches(primary, spec_for("app", "t", ("id",)), size=300)
        assert len(done) == 7 and last == ["2000"]
        # (a control: an UPDATE with LIMIT is flagged unsafe, error 1592, on this server)
        primary.execute("update app.t set v = v limit 1")
        assert [w[1] for w in primary.execute("show warnings").fetchall()] == [1592]

        replica.execute("stop slave sql_thread")
        stopped_at = time.monotonic()
        status = replica_status(replica)
        assert status is not None and not status.sql_running and status.io_running
        assert status.seconds_behind is None  # the server's own figure: NULL, useless here
        samples = []
        while time.monotonic() - stopped_at < 3.0:
            samples.append(poll())
            time.sleep(0.2)
        lag, age, paused = samples[-1]
        assert paused
        assert 2.0 <= lag <= 4.0, samples
        assert 1.5 <= age <= 4.0, samples  # the replica's clock, less one interval
        assert [s[0] for s in samples] == sorted(s[0] for s in samples)  # grows

        replica.execute("start slave sql_thread")
        started = time.monotonic()
        _wait_for(lambda: poll()[0] < 0.5, timeout_s=10)
        lag, age, paused = poll()
        assert lag < 0.5 and age < 0.5 and not paused
        assert time.monotonic() - started < 5
        row = replica.execute("select count(*) from app.t where c = v * 2").fetchone()
        assert int(row[0]) == 2000
        print(f"stopped: {samples}; caught up in {time.monotonic() - started:.2f}s")


def test_heartbeat_writer_keeps_beating(pair: tuple[_Server, _Server]):
    primary_server, replica_server = pair
    with connect(primary_server.url) as primary, connect(replica_server.url) as replica:
        monitor = MySQLMonitor(interval_s=0.2)
        writer = HeartbeatWriter(primary, monitor).start()
        try:
            time.sleep(1.0)
            lag = monitor.lag_s(replica)
            assert lag is not None and lag < 0.6
            beats: Connection = replica  # the writer's connection is its thread's alone
            row = beats.execute("select count(*) from liveshift.heartbeat").fetchone()
            assert int(row[0]) == 1  # one row per primary server id
        finally:
            writer.stop()
        assert writer.error is None
