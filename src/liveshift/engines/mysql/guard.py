"""MySQL / MariaDB's lock guard: a guarded DDL statement never waits in the metadata-lock queue
(lock_wait_timeout 0 on MariaDB); the executor's retry loop tries again, and the blockers are read
from PROCESSLIST, INNODB_TRX and, where present, the metadata-lock tables.

Why never wait: a DDL statement that waits for a metadata lock makes every later query on the
table wait behind it, and lock_wait_timeout takes whole seconds only (0.5 is rejected; `WAIT 0.5`
is silently truncated), so the shortest bounded wait is a second of stall. Issue 17 measured, on
MariaDB 10.11 behind a 3 s open transaction, a plain ALTER at 2505 ms of application worst and a
never-waiting ALTER retried every ~100 ms at 10-55 ms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from liveshift.engines.base import Connection, DriverError, DuplicateObject
from liveshift.engines.mysql.server import (
    MetadataLockSource,
    ServerInfo,
    metadata_lock_source,
    min_lock_wait_timeout_s,
    server_info,
    statement_timeout_variable,
)
from liveshift.lock_policy import LockPolicy
from liveshift.plan import ConcurrentIndex, Step
from liveshift.progress import Blocker
from liveshift.retry import Refusal, with_retries
from liveshift.settings import Settings, format_duration


def try_wait_s(timeout_ms: int, info: ServerInfo) -> int:
    """The lock_wait_timeout (whole seconds) that stands for a try bounded by `timeout_ms`: rounded
    down, so a try never stalls the application longer than the policy says; below a second that
    is 0, "do not wait", where the server accepts it (MariaDB), else the server's minimum, 1 s
    (MySQL: longer than the policy asks, which describe_lock_policy says)."""
    return max(min_lock_wait_timeout_s(info), timeout_ms // 1000)


def describe_lock_policy(policy: LockPolicy, info: ServerInfo) -> str:
    """The lock policy as it behaves on this server, one line for `plan` and the report (the
    engine-neutral LockPolicy.describe speaks of milliseconds this engine cannot wait)."""
    deadline = format_duration(policy.deadline_s)
    floor = min_lock_wait_timeout_s(info)
    if floor == 0:
        first = try_wait_s(policy.try_ms, info)
        tries = (
            "each try never waits in the metadata-lock queue (lock_wait_timeout 0: an application "
            "query never queues behind it)"
            if first == 0
            else f"each try waits at most {first} s for its metadata lock"
        )
    else:
        tries = (
            f"each try waits at least {floor} s for its metadata lock ({info.describe()} "
            "cannot wait less: application queries may queue that long behind it)"
        )
    if policy.fixed:
        return (
            f"{tries} (--lock-timeout {policy.try_ms} ms, in whole seconds on "
            f"{info.describe()}), retried with jittered pauses for up to {deadline}"
        )
    longest = try_wait_s(max(policy.max_try_ms, policy.try_ms), info)
    if longest > try_wait_s(policy.try_ms, info):
        escalation = (
            f"after {format_duration(policy.escalate_after_s)} without the lock each try may "
            f"wait longer, in whole seconds only, up to {longest} s (reported)"
        )
    else:
        escalation = (
            "no escalation: lock_wait_timeout takes whole seconds and the policy's longest try "
            f"({policy.max_try_ms} ms) is shorter than a second"
        )
    return f"{tries}, retried with jittered pauses; {escalation}; gives up after {deadline}"


def split_table(name: str, default_db: str | None) -> tuple[str | None, str]:
    """(database, table) of a step's table name, `db.t`, `` `db`.`t` `` or a bare `t`."""
    parts = [p.strip().strip('`"').replace("``", "`") for p in name.split(".")]
    if len(parts) >= 2:
        return parts[-2], parts[-1]
    return default_db, parts[0]


_SESSION = """
select p.ID, p.USER, p.HOST, p.DB, p.COMMAND, p.TIME, p.STATE, p.INFO,
       timestampdiff(microsecond, t.trx_started, now(6)) / 1e6,
       t.trx_started
"""

# Open transactions and running statements on the table (fallback: no metadata-lock table). A
# transaction's metadata locks are not visible here, so a session with an open InnoDB transaction
# whose current database is the table's stands for one that may have read the table.
_BLOCKERS_GUESSED = (
    _SESSION
    + """, '', ''
from information_schema.PROCESSLIST p
left join information_schema.INNODB_TRX t on t.trx_mysql_thread_id = p.ID
where p.ID <> connection_id() and p.COMMAND not in ('Daemon', 'Binlog Dump', 'Killed')
  and coalesce(p.STATE, '') not like 'Waiting for table metadata lock%%'
  and ((t.trx_id is not null and p.DB = %(db)s)
       or (p.COMMAND = 'Query' and p.INFO like %(named)s))
order by t.trx_started is null, t.trx_started, p.TIME desc
"""
)

_BLOCKERS_MDL_INFO = (
    _SESSION
    + """, m.LOCK_MODE, concat(m.TABLE_SCHEMA, '.', m.TABLE_NAME)
from information_schema.METADATA_LOCK_INFO m
join information_schema.PROCESSLIST p on p.ID = m.THREAD_ID
left join information_schema.INNODB_TRX t on t.trx_mysql_thread_id = p.ID
where p.ID <> connection_id() and m.TABLE_SCHEMA = %(db)s and m.TABLE_NAME = %(table)s
order by t.trx_started is null, t.trx_started, p.TIME desc
"""
)

_BLOCKERS_PFS = (
    _SESSION
    + """, m.LOCK_TYPE, concat(m.OBJECT_SCHEMA, '.', m.OBJECT_NAME)
from performance_schema.metadata_locks m
join performance_schema.threads th on th.THREAD_ID = m.OWNER_THREAD_ID
join information_schema.PROCESSLIST p on p.ID = th.PROCESSLIST_ID
left join information_schema.INNODB_TRX t on t.trx_mysql_thread_id = p.ID
where p.ID <> connection_id() and m.OBJECT_TYPE = 'TABLE' and m.LOCK_STATUS = 'GRANTED'
  and m.OBJECT_SCHEMA = %(db)s and m.OBJECT_NAME = %(table)s
order by t.trx_started is null, t.trx_started, p.TIME desc
"""
)


def _blocker(row: tuple[Any, ...], relation: str, source: MetadataLockSource | None) -> Blocker:
    ident, user, host, _db, command, idle, state, info, age, _started, mode, locked = row
    where = f"{user}@{str(host or '').rsplit(':', 1)[0]}"
    doing = str(command or "")
    if state:
        doing += f", {state}"
    if info:
        query = str(info)
    elif command == "Sleep":
        query = f"(idle {idle}s, no statement running)"
    else:
        query = ""
    if not mode:
        # No metadata-lock table: the lock itself is not seen, only its likely holder.
        mode = "an open transaction (metadata locks not visible here)" if age is not None else ""
        mode = mode or "a running statement naming the table"
    return Blocker(
        pid=int(ident),
        application_name=where,
        state=doing,
        transaction_age_s=float(age) if age is not None else None,
        query=query,
        mode=str(mode),
        relation=str(locked or relation),
    )


class MySQLGuard:
    """engines.guard.Guard on one MySQL / MariaDB connection. DDL is not transactional here (every
    statement commits): the executor runs every step with run_outside and journals it before and
    after (Capabilities.transactional_ddl is False), never with run_atomic."""

    end_session = "KILL <id>"

    def __init__(self, conn: Connection, settings: Settings, info: ServerInfo | None = None):
        self.conn = conn
        self.settings = settings
        self._info = info
        self._source: MetadataLockSource | None = None
        self._source_known = False  # asked the server once: it does not change in a run

    @property
    def info(self) -> ServerInfo:
        if self._info is None:
            self._info = server_info(self.conn)
        return self._info

    def describe_policy(self) -> str:
        """The lock policy as it behaves on this server (describe_lock_policy)."""
        return describe_lock_policy(self.settings.lock_policy, self.info)

    @staticmethod
    def guards(step: Step) -> bool:
        """Whether `step`'s lock wait is bounded: every step that takes a lock on a table, not
        only those whose (PostgreSQL) lock mode blocks writes. On this engine every DDL statement
        takes an exclusive metadata lock, if only for a moment at its start or end (CREATE
        TRIGGER, ADD INDEX ... LOCK=NONE), and while it waits for it every query on the table
        queues behind it."""
        return step.guarded or (step.lock is not None and bool(step.tables))

    @contextmanager
    def _bounded(
        self, step: Step, lock_timeout_ms: int | None, guarded: bool | None = None
    ) -> Iterator[None]:
        """The session's lock wait (guarded steps; `guarded` overrides) and statement time
        bounded around one statement, then put back as they were."""
        wait_s = None
        if self.guards(step) if guarded is None else guarded:
            if lock_timeout_ms is None:
                lock_timeout_ms = self.settings.lock_policy.try_ms
            wait_s = try_wait_s(lock_timeout_ms, self.info)
        timeout_var, unit_s = statement_timeout_variable(self.info)
        statement_ms = self.settings.statement_timeout_ms
        before = self.conn.execute(
            f"select @@session.lock_wait_timeout, @@session.{timeout_var}"
        ).fetchone()
        if wait_s is not None:
            self.conn.execute(f"set session lock_wait_timeout = {int(wait_s)}")
        if statement_ms:
            limit = statement_ms / 1000 / unit_s
            self.conn.execute(f"set session {timeout_var} = {limit:.3f}")
        try:
            yield
        finally:
            if not self.conn.broken:
                self.conn.execute(
                    f"set session lock_wait_timeout = %s, {timeout_var} = %s", tuple(before)
                )

    def run_atomic(
        self, step: Step, lock_timeout_ms: int, before_commit: Callable[[float | None], None]
    ) -> float | None:
        # Every DDL statement commits the transaction it runs in: a journal row "in the same
        # transaction" would be a lie. The executor never comes here (transactional_ddl False).
        raise RuntimeError(
            "DDL is not transactional on MySQL/MariaDB: steps run with run_outside and are "
            "journaled before and after"
        )

    def run_outside(self, sql: str, step: Step, lock_timeout_ms: int | None = None) -> None:
        self._run(sql, step, lock_timeout_ms)

    def _run(
        self, sql: str, step: Step, lock_timeout_ms: int | None, guarded: bool | None = None
    ) -> None:
        with self._bounded(step, lock_timeout_ms, guarded):
            self.conn.execute(sql)

    def _index_exists(self, step: Step, index: ConcurrentIndex) -> bool:
        db, table = split_table(step.tables[0], index.schema) if step.tables else (None, "")
        row = self.conn.execute(
            "select count(*) from information_schema.STATISTICS where TABLE_SCHEMA = "
            "coalesce(%s, database()) and INDEX_NAME = %s and (%s = '' or TABLE_NAME = %s)",
            (db or index.schema or None, index.name, table, table),
        ).fetchone()
        return bool(row and row[0])

    def build_index(self, step: Step, index: ConcurrentIndex, say: Callable[[str], None]) -> None:
        """`index.create_sql` (ALTER TABLE ... ADD INDEX ..., ALGORITHM=INPLACE, LOCK=NONE) under
        the never-wait guard, retried by the lock policy. An online build of InnoDB is all or
        nothing: an index of the name in the catalog is complete, and a failed build leaves none."""
        if self._index_exists(step, index):
            return
        policy = self.settings.lock_policy
        began: datetime | None = None

        def attempt(_retries: int, timeout_ms: int) -> None:
            nonlocal began
            began = self.now()
            try:
                # Always guarded: the build takes an exclusive metadata lock at its start and
                # end, whatever lock mode the step was planned with.
                self._run(index.create_sql, step, timeout_ms, guarded=True)
            except DuplicateObject:
                # Built by a run that died before its journal row: done.
                if not self._index_exists(step, index):
                    raise

        def refused(refusal: Refusal) -> None:
            if refusal.attempt == 1 or refusal.gives_up or refusal.escalates:
                who = "; ".join(b.describe() for b in self.blockers(step, began))
                say(
                    f"index {index.name}: metadata lock not available (try {refusal.attempt}), "
                    f"blocked by {who or 'a session that has since gone'}"
                )

        with_retries(
            attempt,
            deadline_s=policy.deadline_s,
            pause_s=policy.pause_s,
            try_timeout_ms=policy.try_timeout_ms,
            on_refused=refused,
        )

    def _lock_source(self) -> MetadataLockSource | None:
        if not self._source_known:
            try:
                self._source = metadata_lock_source(self.conn)
            except DriverError:
                self._source = None
            self._source_known = True
        return self._source

    def blockers(self, step: Step, since: datetime | None) -> list[Blocker]:
        """The sessions holding a metadata lock on the step's tables (metadata_lock_info or
        performance_schema.metadata_locks, granted locks), or, where neither is there, the
        sessions with an open transaction in the table's database or a running statement naming
        it. Only transactions begun before `since` (to the second: trx_started has no
        fraction) and sessions without one. Empty when the server will not say."""
        source = self._lock_source()
        query = {
            "metadata_lock_info": _BLOCKERS_MDL_INFO,
            "performance_schema": _BLOCKERS_PFS,
            None: _BLOCKERS_GUESSED,
        }[source]
        found: dict[int, Blocker] = {}
        try:
            default_db = self.conn.execute("select database()").fetchone()[0]
            for name in step.tables:
                db, table = split_table(name, default_db)
                params = {"db": db, "table": table, "named": f"%{table}%"}
                for row in self.conn.execute(query, params).fetchall():
                    started = row[9]
                    # trx_started is cut to whole seconds, so it reads at most the true start:
                    # past `since`, the transaction began after the refused try, not a blocker.
                    if since is not None and started is not None and started > since:
                        continue
                    blocker = _blocker(row, f"{db}.{table}", source)
                    found.setdefault(blocker.pid, blocker)
        except DriverError:
            return []
        return list(found.values())

    def now(self) -> datetime | None:
        row = self.conn.execute("select now(6)").fetchone()
        return row[0] if row else None
