"""MySQL / MariaDB's measurements for the backfill's throttle: replica lag by a heartbeat row, the
load of the database's other sessions, and where a replica's SQL thread stands.

Replica lag is measured by a heartbeat, not by Seconds_Behind_Master: issue 17 measured that
figure NULL while a replication thread is stopped, 33 s for 18.9 s of real lag after a big
transaction (it adds the primary's run time) and 5-6 s of false lag while a transaction sat open
on the primary. The monitor writes `liveshift.heartbeat` on the primary (a row per server id:
the primary's clock in microseconds) at most every `interval_s`, and reads it on the replica: the
value read is the replica's position on the primary's heartbeat timeline, which the throttle's
LagClock turns into seconds by the primary's own clock (no clock skew between machines); the
replica's clock minus the value read ("difference of timestamps") is reported as well.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from liveshift.engines.backfill import LoadSample, ReplicaLag, ReplicaView
from liveshift.engines.base import Connection, DriverError, InsufficientPrivilege
from liveshift.engines.mysql.backfill_sql import MARKER
from liveshift.engines.mysql.introspect import quote_name
from liveshift.engines.state import STATE_SCHEMA

HEARTBEAT_INTERVAL_S = 0.5

# The primary's clock in microseconds. NOW(6) replicates as the statement's timestamp, so this is
# deterministic under statement-based replication too (the server id is a parameter: @@server_id
# in a replicated statement would read the replica's own).
_NOW_US = "cast(unix_timestamp(now(6)) * 1000000 as signed)"

# What the database's other sessions are doing, in one row: how many run a statement, how many of
# those wait for a lock (an InnoDB row lock: INNODB_TRX in LOCK WAIT; a metadata lock: a
# PROCESSLIST state "Waiting for ... lock"), and on what. liveshift's own batches are left out by
# the marker their statements carry (PROCESSLIST has no application name), as are this session,
# replication and daemon threads and idle sessions. No `%` anywhere: the checkpoint sends it
# without parameters, the lane may send it with. Without the PROCESS privilege both tables show
# only the user's own sessions: the load then reads low.
LOAD_SAMPLE = f"""
select a.active, a.mdl_waits + w.row_waits as waiting,
       nullif(concat_ws(', ', if(w.row_waits > 0, 'Lock:innodb row lock', null), a.mdl_states), '')
           as waits
from (select count(*) as active,
             coalesce(sum(locate('Waiting for', p.state) = 1 and right(p.state, 4) = 'lock'), 0)
                 as mdl_waits,
             group_concat(distinct case when locate('Waiting for', p.state) = 1
                                         and right(p.state, 4) = 'lock'
                                        then concat('Lock:', p.state) end) as mdl_states
      from information_schema.processlist p
      where p.id <> connection_id()
        and p.command not in ('Sleep', 'Daemon', 'Binlog Dump', 'Binlog Dump GTID', 'Connect',
                              'Slave_IO', 'Slave_SQL', 'Slave_worker', 'Killed')
        and (database() is null or p.db = database())
        and locate('{MARKER}', coalesce(p.info, '')) = 0) a,
     (select count(*) as row_waits from information_schema.innodb_trx t
      where t.trx_state = 'LOCK WAIT' and t.trx_mysql_thread_id <> connection_id()
        and locate('{MARKER}', coalesce(t.trx_query, '')) = 0) w
"""


@dataclass(frozen=True)
class ReplicaStatus:
    """SHOW REPLICA STATUS, the parts worth reporting. `seconds_behind` is the server's own figure,
    shown but never trusted (see the module's docstring)."""

    io_running: bool
    sql_running: bool
    gtid_position: str | None  # MariaDB's Gtid_IO_Pos / MySQL's Executed_Gtid_Set
    source_file: str | None  # Relay_Master_Log_File / Relay_Source_Log_File
    executed_position: int | None  # Exec_Master_Log_Pos / Exec_Source_Log_Pos
    seconds_behind: int | None


def _first(row: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in row:
            return row[name]
    return None


def replica_status(conn: Connection) -> ReplicaStatus | None:
    """The replica threads of this server; None when it is not a replica. Raises
    InsufficientPrivilege without REPLICATION CLIENT / REPLICA MONITOR (MariaDB 10.5+: SLAVE
    MONITOR)."""
    rows: list[dict[str, Any]] | None = None
    # SHOW REPLICA STATUS: MySQL 8.0.22+, MariaDB 10.5.1+; SHOW SLAVE STATUS before (and gone
    # from MySQL 8.4).
    for statement in ("show replica status", "show slave status"):
        try:
            rows = conn.fetch_dicts(statement)
            break
        except InsufficientPrivilege:
            raise
        except DriverError:
            continue
    if not rows:
        return None
    row = rows[0]
    behind = _first(row, "Seconds_Behind_Master", "Seconds_Behind_Source")
    position = _first(row, "Exec_Master_Log_Pos", "Exec_Source_Log_Pos")
    return ReplicaStatus(
        io_running=_first(row, "Slave_IO_Running", "Replica_IO_Running") == "Yes",
        sql_running=_first(row, "Slave_SQL_Running", "Replica_SQL_Running") == "Yes",
        gtid_position=_first(row, "Gtid_IO_Pos", "Executed_Gtid_Set") or None,
        source_file=_first(row, "Relay_Master_Log_File", "Relay_Source_Log_File"),
        executed_position=int(position) if position is not None else None,
        seconds_behind=int(behind) if behind is not None else None,
    )


class MySQLMonitor:
    """The Monitor of MySQL / MariaDB (engines/backfill.py). Positions are heartbeat values:
    microseconds of the primary's clock."""

    load_sample_sql: str = LOAD_SAMPLE

    def __init__(
        self, database: str = STATE_SCHEMA, interval_s: float = HEARTBEAT_INTERVAL_S
    ) -> None:
        self.database = database
        self.interval_s = interval_s
        self.table = f"{quote_name(database)}.heartbeat"
        self._lock = threading.Lock()
        self._last_beat = 0.0  # monotonic time of the last heartbeat written
        self._position: int | None = None
        self._server_ids: dict[int, int] = {}  # backend id -> @@server_id
        self._created = False

    # -- load --------------------------------------------------------------------------------

    def load(self, conn: Connection) -> LoadSample:
        return LoadSample.of(conn.execute(LOAD_SAMPLE).fetchone())

    # -- the primary: the heartbeat ------------------------------------------------------------

    def ensure_heartbeat(self, conn: Connection) -> None:
        """The heartbeat table (and its database), created on the primary so that replication
        creates them on its replicas."""
        if self._created:
            return
        conn.execute(
            f"create database if not exists {quote_name(self.database)} "
            "character set utf8mb4 collate utf8mb4_bin"
        )
        conn.execute(
            f"create table if not exists {self.table} (server_id int unsigned primary key, "
            "ts_us bigint not null) engine = InnoDB"
        )
        self._created = True

    def beat(self, conn: Connection) -> int:
        """Write the heartbeat now; its value (the primary's clock in microseconds)."""
        backend = conn.backend_id
        server_id = self._server_ids.get(backend)
        if server_id is None:
            row = conn.execute("select @@server_id").fetchone()
            server_id = self._server_ids[backend] = int(row[0])
        self.ensure_heartbeat(conn)
        # REPLACE of one row by its primary key, no LIMIT, no @@variables: the same on a replica
        # applying it as a statement.
        conn.execute(
            f"replace into {self.table} (server_id, ts_us) values (%s, {_NOW_US})", (server_id,)
        )
        row = conn.execute(
            f"select ts_us from {self.table} where server_id = %s", (server_id,)
        ).fetchone()
        return int(row[0])

    def wal_position(self, conn: Connection) -> int | None:
        """The primary's heartbeat position, the heartbeat written first when the last one is
        `interval_s` old; None when this server is read-only (a replica: nothing to measure from
        here)."""
        row = conn.execute("select @@read_only").fetchone()
        if row is not None and int(row[0]):
            return None
        with self._lock:
            now = time.monotonic()
            if self._position is None or now - self._last_beat >= self.interval_s:
                self._position = self.beat(conn)
                self._last_beat = now
            return self._position

    def replicas(self, conn: Connection) -> list[ReplicaLag]:
        # A MySQL primary does not know how far its replicas have applied (SHOW REPLICAS lists
        # hosts only): lag is read on each replica, by the URLs given with --replica-url.
        return []

    # -- a replica -------------------------------------------------------------------------------

    def read_heartbeat(self, conn: Connection) -> tuple[int, int] | None:
        """(newest heartbeat value, this server's clock) in microseconds; None without one."""
        try:
            row = conn.execute(
                f"select ts_us, {_NOW_US} from {self.table} order by ts_us desc limit 1"
            ).fetchone()
        except DriverError:  # no heartbeat table: nothing was ever replicated from a monitor
            return None
        return (int(row[0]), int(row[1])) if row else None

    def replica_view(self, conn: Connection) -> ReplicaView:
        """The newest heartbeat this server has applied, as its position; whether its SQL thread
        is stopped (when this session may ask: REPLICATION CLIENT / SLAVE MONITOR); and how old
        that heartbeat is by this server's clock, less one heartbeat interval (a heartbeat is
        that old when written last), so that the figure is a floor of the lag, not one interval
        over it."""
        try:
            status = replica_status(conn)
            known = True
        except InsufficientPrivilege:
            status, known = None, False
        if known and status is None:
            return ReplicaView(None, False, 0.0)  # not a replica
        read = self.read_heartbeat(conn)
        if read is None:
            return ReplicaView(None, False, 0.0)
        position, now_us = read
        paused = status is not None and not status.sql_running
        age_s = max((now_us - position) / 1e6 - self.interval_s, 0.0)
        return ReplicaView(position, paused, age_s)

    def lag_s(self, conn: Connection) -> float | None:
        """The replica's heartbeat age by its own clock (the difference of timestamps); None
        without a heartbeat. For reports and tests; the throttle uses replica_view."""
        read = self.read_heartbeat(conn)
        if read is None:
            return None
        position, now_us = read
        return max((now_us - position) / 1e6, 0.0)


class HeartbeatWriter:
    """Writes the heartbeat every `interval_s` on its own connection, in a thread, until stopped:
    for a replica whose lag must be read while nothing else writes on the primary (a paused
    backfill, a test)."""

    def __init__(self, conn: Connection, monitor: MySQLMonitor | None = None) -> None:
        self.conn = conn
        self.monitor = monitor or MySQLMonitor()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="liveshift-heartbeat", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> HeartbeatWriter:
        self.monitor.beat(self.conn)  # the table exists before the thread returns
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.monitor.interval_s):
            try:
                self.monitor.beat(self.conn)
            except DriverError as exc:  # kept for the owner; the next beat tries again
                self.error = exc

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
