"""Runs planned steps: each in its own transaction under lock_timeout, retried, journaled."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from liveshift.engines.base import (
    Connection,
    ConnectionBroken,
    DriverError,
    LockNotAvailable,
    QueryCanceled,
)
from liveshift.errors import (
    ConnectionLost,
    DatabaseError,
    Interrupted,
    LockTimeoutExceeded,
    user_names,
)
from liveshift.lock_policy import LockPolicy
from liveshift.plan import ConcurrentIndex, LockMode, Step
from liveshift.progress import Blocker, Reporter
from liveshift.schema import quote_ident
from liveshift.settings import Settings
from liveshift.state import journal_step

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


REPORT_EVERY_S = 5.0  # a lock wait is reported at least this often while it lasts


def backoff_s(attempt: int, base_s: float, cap_s: float) -> float:
    """Exponential backoff with full jitter: a herd of retries spreads out."""
    ceiling: float = min(cap_s, base_s * (2 ** min(attempt, 16)))
    return random.uniform(base_s, max(base_s, ceiling))


def rollback_open(phase: str, steps: Sequence[Step], ran: set[int]) -> bool:
    """Whether `liveshift rollback` is still accepted after the positions of `phase` that `ran`
    (done, or begun outside a transaction): always, except once complete ran a step rollback
    cannot take back."""
    return phase != "complete" or all(steps[p].reversible for p in ran if p < len(steps))


def or_rollback(open_: bool, undo: str = " to undo") -> str:
    """The way back a hint offers: `liveshift rollback`, only when the tool will accept it."""
    return f", or `liveshift rollback`{undo}" if open_ else ""


def database_error(
    exc: DriverError, step: Step | None = None, *, rollback: bool = True
) -> DatabaseError:
    """A driver error as one of ours, chosen by its class (which the engine chose by error code,
    never by message text); `rollback`: whether the hint may offer `liveshift rollback`."""
    where = f" while running `{user_names(step.description, step.tables)}`" if step else ""
    if isinstance(exc, ConnectionBroken):
        return ConnectionLost(
            f"the connection to the database was lost{where}: {exc.message}",
            sqlstate=exc.sqlstate,
            hint="Nothing is lost: every step commits with its journal entry. Run the same command "
            f"again to resume{or_rollback(rollback)}.",
        )
    if isinstance(exc, QueryCanceled):
        return DatabaseError(
            f"a statement hit the statement timeout{where}",
            sqlstate=exc.sqlstate,
            hint="Raise --statement-timeout, or run when the table is quieter; run the command "
            "again to resume.",
        )
    tables = step.tables if step else ()
    # The server's own hint says what to fix; ours, which commands go on from here.
    server_hint = f"{user_names(exc.hint, tables).rstrip('.')}. " if exc.hint else ""
    return DatabaseError(
        user_names(f"the database refused a step{where}: {exc.message}", tables),
        sqlstate=exc.sqlstate,
        hint=f"{server_hint}Nothing after this step ran. Fix the cause and run the command again "
        f"to resume{or_rollback(rollback, '')}.",
    )


class Executor:
    """Runs the steps of one phase in order, skipping those the journal says are done."""

    def __init__(
        self,
        conn: Connection,
        settings: Settings,
        reporter: Reporter,
        *,
        migration_id: int | None = None,
        phase: str = "",
        run_backfill: Callable[[Step, int], int | None] | None = None,
        run_catch_up: Callable[[Step], int] | None = None,
        done: set[int] | None = None,
        begun: set[int] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.conn = conn
        self.settings = settings
        self.reporter = reporter
        self.migration_id = migration_id
        self.phase = phase
        self.run_backfill = run_backfill
        self.run_catch_up = run_catch_up
        self.done = set(done or ())
        self.begun = set(begun or ())  # journaled as begun, not done (outside a transaction)
        self.steps: Sequence[Step] = ()
        self.lock_retries = 0
        self.lock_held_s: float | None = None  # the last transactional step's, once locked
        self.stop = stop or threading.Event()

    def rollback_open(self) -> bool:
        """Whether `liveshift rollback` is still accepted after what this phase has done."""
        return rollback_open(self.phase, self.steps, self.done | self.begun)

    def run(self, steps: Sequence[Step]) -> None:
        self.steps = steps
        for position, step in enumerate(steps):
            self.reporter.step_started(position + 1, len(steps), step.description)
            if position in self.done:
                self.reporter.step_finished(step.description, 0.0, skipped=True)
                continue
            if self.stop.is_set():
                raise Interrupted(
                    f"stopped before step {position + 1} of {len(steps)} ({step.description}); "
                    "every step before it is done and recorded",
                    hint="Run the same command again to resume from here"
                    f"{or_rollback(self.rollback_open(), '')}.",
                )
            started = time.monotonic()
            if self.phase == "complete" and not step.transactional and not step.reversible:
                # Outside a transaction a step may take effect in part (DROP INDEX CONCURRENTLY
                # killed half-way); once begun, rollback could no longer restore the state
                # before the migration exactly: say so in the journal first.
                self._journal_begun(position, step)
            self.lock_held_s = None
            try:
                self.run_step(position, step)
            except DriverError as exc:
                raise database_error(exc, step, rollback=self.rollback_open()) from exc
            self.done.add(position)
            self.reporter.step_finished(
                step.description, time.monotonic() - started, lock_held_s=self.lock_held_s
            )

    def run_step(self, position: int, step: Step) -> None:
        if step.backfill is not None or step.catch_up is not None:
            started_at = datetime.now(UTC)
            started = time.monotonic()
            if step.backfill is not None:
                assert self.run_backfill is not None, "a backfill step needs a backfill runner"
                rows = self.run_backfill(step, position)
            else:
                assert self.run_catch_up is not None, "a catch-up step needs a catch-up runner"
                rows = self.run_catch_up(step)
            self._journal_after(position, step, started_at, started, 0, rows)
        elif step.concurrent_index is not None:
            self._run_concurrent_index(position, step, step.concurrent_index)
        elif step.transactional:
            self._run_transactional(position, step)
        else:
            started_at = datetime.now(UTC)
            started = time.monotonic()
            retries = self._with_lock_retries(
                step, lambda _, timeout_ms: self._autocommit(step.sql, step, timeout_ms)
            )
            self._journal_after(position, step, started_at, started, retries, None)

    def _set_timeouts(self, step: Step, local: bool, lock_timeout_ms: int) -> None:
        scope = "local" if local else "session"
        lock_timeout = lock_timeout_ms if step.guarded else 0
        self.conn.execute(f"set {scope} lock_timeout = {int(lock_timeout)}")
        statement_timeout = self.settings.statement_timeout_ms or 0
        self.conn.execute(f"set {scope} statement_timeout = {int(statement_timeout)}")

    def _run_transactional(self, position: int, step: Step) -> None:
        started_at = datetime.now(UTC)
        started = time.monotonic()
        lock_first = self._lock_statement(step)

        def attempt(retries: int, lock_timeout_ms: int) -> None:
            with self.conn.transaction():
                self._set_timeouts(step, local=True, lock_timeout_ms=lock_timeout_ms)
                if lock_first:
                    # Take the step's lock before its DDL, so that the time from here to the
                    # commit is the time the application queues behind the held lock.
                    self.conn.execute(lock_first)
                locked = time.monotonic()
                self.conn.execute(step.sql)
                held_ms = (time.monotonic() - locked) * 1000 if lock_first else None
                # The journal row commits with the DDL: a crash never loses track of a done step.
                if self.migration_id is not None:
                    self._journal(position, step, started_at, started, retries, None, held_ms)
            self.lock_held_s = time.monotonic() - locked if lock_first else None

        self._with_lock_retries(step, attempt)

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

    def _with_lock_retries(self, step: Step, action: Callable[[int, int], None]) -> int:
        """Run `action(retries, lock_timeout_ms)` under the lock policy: on lock_not_available
        (55P03) name the blockers, pause and try again, each try's wait escalating only after a
        long time without the lock, until the deadline. Returns how many retries it took."""
        policy = self.settings.lock_policy
        first = time.monotonic()
        attempt = 0
        timeout_ms = policy.try_timeout_ms(0.0)
        reported = 0.0
        while True:
            began = self._server_time()
            try:
                action(attempt, timeout_ms)
                return attempt
            except LockNotAvailable:
                attempt += 1
                self.lock_retries += 1
                blockers = find_blockers(
                    self.conn, step.tables, step.lock or LockMode.ACCESS_EXCLUSIVE, began
                )
                wait = policy.pause_s(attempt)
                waited = time.monotonic() - first
                if waited + wait > policy.deadline_s:
                    raise self._gave_up(step, policy, attempt, waited, blockers) from None
                following = policy.try_timeout_ms(waited + wait)
                # One line for the first wait, then one every few seconds or when the tries
                # escalate: a blocker held for minutes does not flood the report.
                if attempt == 1 or following != timeout_ms or waited - reported >= REPORT_EVERY_S:
                    reported = waited
                    self.reporter.lock_wait(step.description, attempt, blockers, wait)
                if following != timeout_ms:
                    self.reporter.message(
                        f"`{user_names(step.description, step.tables)}` has not had its lock for {waited:.0f}s: each "
                        f"try now waits up to {following} ms (was {timeout_ms} ms), so "
                        f"application queries may queue that long behind it"
                    )
                timeout_ms = following
                time.sleep(wait)

    def _gave_up(
        self,
        step: Step,
        policy: LockPolicy,
        attempts: int,
        waited_s: float,
        blockers: list[Blocker],
    ) -> LockTimeoutExceeded:
        lock = step.lock.value if step.lock else "its"
        longest = policy.try_timeout_ms(waited_s)
        return LockTimeoutExceeded(
            f"`{user_names(step.description, step.tables)}` could not get its {lock} lock "
            f"within {waited_s:.0f}s "
            f"({attempts} tries, each waiting up to {longest} ms)",
            details=[f"blocked by {b.describe()}" for b in blockers]
            or ["the blocker has since gone"],
            sqlstate="55P03",
            hint="End or wait for the blocking sessions (pg_terminate_backend(pid) if they are "
            "stuck) and run the same command again: it resumes here. A table that always has a "
            "transaction open needs longer tries: --lock-timeout 2s lets each try wait 2 s "
            "(application queries queue that long behind it); --lock-retry-deadline 30min "
            "keeps trying longer.",
        )

    def _server_time(self) -> datetime | None:
        row = self.conn.execute("select clock_timestamp()").fetchone()
        return row[0] if row else None

    def _autocommit(self, sql: str, step: Step, lock_timeout_ms: int | None = None) -> None:
        if lock_timeout_ms is None:
            lock_timeout_ms = self.settings.lock_policy.try_ms
        self._set_timeouts(step, local=False, lock_timeout_ms=lock_timeout_ms)
        try:
            self.conn.execute(sql)
        finally:
            if not self.conn.broken:
                self.conn.execute("reset lock_timeout")
                self.conn.execute("reset statement_timeout")

    def _run_concurrent_index(self, position: int, step: Step, index: ConcurrentIndex) -> None:
        """Build an index concurrently; a leftover invalid index of the same name (a build that
        died) is dropped first, a valid one means the step is already done."""
        started_at = datetime.now(UTC)
        started = time.monotonic()
        row = self.conn.execute(
            "select i.indisvalid from pg_index i join pg_class c on c.oid = i.indexrelid "
            "join pg_namespace n on n.oid = c.relnamespace where n.nspname = %s and c.relname = %s",
            (index.schema, index.name),
        ).fetchone()
        if row is not None and not row[0]:
            self.reporter.message(f"dropping the invalid leftover index {index.name} to rebuild it")
            self._autocommit(
                f"drop index concurrently if exists {quote_ident(index.schema)}."
                f"{quote_ident(index.name)}",
                step,
            )
        if row is None or not row[0]:
            try:
                self._autocommit(index.create_sql, step)
            except DriverError:
                # Leave no invalid index behind: it would slow every write until dropped.
                if not self.conn.broken:
                    self.conn.execute(
                        f"drop index concurrently if exists {quote_ident(index.schema)}."
                        f"{quote_ident(index.name)}"
                    )
                raise
        self._journal_after(position, step, started_at, started, 0, None)

    def _journal(
        self,
        position: int,
        step: Step,
        started_at: datetime,
        started: float | None,
        retries: int,
        rows: int | None,
        lock_held_ms: float | None = None,
        *,
        error: str | None = None,
    ) -> None:
        """One journal row: done, or (with `error`) begun and not known to be done."""
        assert self.migration_id is not None
        journal_step(
            self.conn,
            migration_id=self.migration_id,
            phase=self.phase,
            position=position,
            operation=step.operation,
            description=step.description,
            sql=step.display_sql(),
            lock_mode=step.lock.value if step.lock else None,
            status="failed" if error else "done",
            started_at=started_at,
            duration_ms=(time.monotonic() - started) * 1000 if started is not None else 0.0,
            lock_retries=retries,
            rows=rows,
            lock_held_ms=lock_held_ms,
            error=error,
        )

    def _journal_begun(self, position: int, step: Step) -> None:
        self.begun.add(position)
        if self.migration_id is None:
            return
        with self.conn.transaction():
            self._journal(
                position,
                step,
                datetime.now(UTC),
                None,
                0,
                None,
                error="begun outside a transaction; not known to be done",
            )

    def _journal_after(
        self,
        position: int,
        step: Step,
        started_at: datetime,
        started: float,
        retries: int,
        rows: int | None,
    ) -> None:
        if self.migration_id is not None:
            with self.conn.transaction():
                self._journal(position, step, started_at, started, retries, rows)
