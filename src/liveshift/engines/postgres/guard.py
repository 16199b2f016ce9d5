"""PostgreSQL's lock guard: lock_timeout / statement_timeout, LOCK TABLE before guarded DDL, the
blocker query over pg_locks, and CREATE INDEX CONCURRENTLY with its invalid leftovers."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

from liveshift.engines.base import Connection, DriverError
from liveshift.plan import ConcurrentIndex, LockMode, Step
from liveshift.progress import Blocker
from liveshift.schema import quote_ident
from liveshift.settings import Settings

_BLOCKERS = """
select l.pid, coalesce(a.application_name, ''), coalesce(a.state, ''),
       extract(epoch from now() - a.xact_start)::float8, coalesce(a.query, ''), l.mode,
       l.relation::regclass::text
from pg_locks l join pg_stat_activity a on a.pid = l.pid
where l.locktype = 'relation' and l.relation = any(%(relations)s::regclass[])
  and l.pid <> pg_backend_pid() and l.mode = any(%(modes)s)
  and (%(since)s::timestamptz is null or a.xact_start < %(since)s::timestamptz)
order by a.xact_start nulls last
"""


def find_blockers(
    conn: Connection,
    tables: Sequence[str],
    lock: LockMode,
    since: datetime | None = None,
) -> list[Blocker]:
    """Sessions holding a lock on `tables` that conflicts with `lock`, in transactions that began
    before `since` (when our attempt began): sessions that merely queued behind our attempt and got
    their locks when it gave up are not blockers."""
    modes = [m.pg_name for m in LockMode if lock.conflicts_with(m)]
    if not tables:
        return []
    try:
        rows = conn.execute(
            _BLOCKERS, {"relations": list(tables), "modes": modes, "since": since}
        ).fetchall()
    except DriverError:
        return []
    return [Blocker(*row) for row in rows]


class PgGuard:
    """engines.guard.Guard on one PostgreSQL connection."""

    end_session = "pg_terminate_backend(pid)"

    def __init__(self, conn: Connection, settings: Settings) -> None:
        self.conn = conn
        self.settings = settings

    def _set_timeouts(self, step: Step, local: bool, lock_timeout_ms: int) -> None:
        scope = "local" if local else "session"
        lock_timeout = lock_timeout_ms if step.guarded else 0
        self.conn.execute(f"set {scope} lock_timeout = {int(lock_timeout)}")
        statement_timeout = self.settings.statement_timeout_ms or 0
        self.conn.execute(f"set {scope} statement_timeout = {int(statement_timeout)}")

    def _lock_statement(self, step: Step) -> str | None:
        """`LOCK TABLE` of the tables a guarded step names, in its planned mode, when they all
        exist (a step may create its table); None otherwise."""
        if not step.guarded or not step.tables or step.lock is None:
            return None
        row = self.conn.execute(
            "select bool_and(to_regclass(t) is not null) from unnest(%s::text[]) t",
            (list(step.tables),),
        ).fetchone()
        if not (row and row[0]):
            return None
        return f"lock table only {', '.join(step.tables)} in {step.lock.value.lower()} mode"

    def run_atomic(
        self, step: Step, lock_timeout_ms: int, before_commit: Callable[[float | None], None]
    ) -> float | None:
        lock_first = self._lock_statement(step)
        with self.conn.transaction():
            self._set_timeouts(step, local=True, lock_timeout_ms=lock_timeout_ms)
            if lock_first:
                # Take the step's lock before its DDL, so that the time from here to the
                # commit is the time the application queues behind the held lock.
                self.conn.execute(lock_first)
            locked = time.monotonic()
            self.conn.execute(step.sql)
            held_ms = (time.monotonic() - locked) * 1000 if lock_first else None
            before_commit(held_ms)
        return time.monotonic() - locked if lock_first else None

    def run_outside(self, sql: str, step: Step, lock_timeout_ms: int | None = None) -> None:
        if lock_timeout_ms is None:
            lock_timeout_ms = self.settings.lock_policy.try_ms
        self._set_timeouts(step, local=False, lock_timeout_ms=lock_timeout_ms)
        try:
            self.conn.execute(sql)
        finally:
            if not self.conn.broken:
                self.conn.execute("reset lock_timeout")
                self.conn.execute("reset statement_timeout")

    def build_index(self, step: Step, index: ConcurrentIndex, say: Callable[[str], None]) -> None:
        row = self.conn.execute(
            "select i.indisvalid from pg_index i join pg_class c on c.oid = i.indexrelid "
            "join pg_namespace n on n.oid = c.relnamespace where n.nspname = %s and c.relname = %s",
            (index.schema, index.name),
        ).fetchone()
        drop = (
            f"drop index concurrently if exists {quote_ident(index.schema)}."
            f"{quote_ident(index.name)}"
        )
        if row is not None and not row[0]:
            say(f"dropping the invalid leftover index {index.name} to rebuild it")
            self.run_outside(drop, step)
        if row is None or not row[0]:
            try:
                self.run_outside(index.create_sql, step)
            except DriverError:
                # Leave no invalid index behind: it would slow every write until dropped.
                if not self.conn.broken:
                    self.conn.execute(drop)
                raise

    def blockers(self, step: Step, since: datetime | None) -> list[Blocker]:
        return find_blockers(self.conn, step.tables, step.lock or LockMode.ACCESS_EXCLUSIVE, since)

    def now(self) -> datetime | None:
        row = self.conn.execute("select clock_timestamp()").fetchone()
        return row[0] if row else None
