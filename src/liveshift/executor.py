"""Runs planned steps in order: each under a bounded lock wait (the engine's guard), retried, journaled."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from liveshift.engines.base import (
    Capabilities,
    Connection,
    ConnectionBroken,
    DriverError,
    QueryCanceled,
)
from liveshift.engines.guard import Guard
from liveshift.engines.state import StateSql
from liveshift.errors import (
    ConnectionLost,
    DatabaseError,
    Interrupted,
    LockTimeoutExceeded,
    user_names,
)
from liveshift.lock_policy import LockPolicy
from liveshift.plan import Step
from liveshift.progress import Blocker, Reporter
from liveshift.retry import Refusal, with_retries
from liveshift.settings import Settings
from liveshift.state import journal_step

REPORT_EVERY_S = 5.0  # a lock wait is reported at least this often while it lasts


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
    """Runs the steps of one phase in order, skipping those the journal says are done. The SQL of
    running a step under a bounded lock wait is the engine's (`guard`); what can be atomic with
    its journal row, the engine's `capabilities` say."""

    def __init__(
        self,
        conn: Connection,
        settings: Settings,
        reporter: Reporter,
        *,
        guard: Guard,
        capabilities: Capabilities,
        migration_id: int | None = None,
        phase: str = "",
        run_backfill: Callable[[Step, int], int | None] | None = None,
        run_catch_up: Callable[[Step], int] | None = None,
        done: set[int] | None = None,
        begun: set[int] | None = None,
        stop: threading.Event | None = None,
        state_sql: StateSql | None = None,
    ) -> None:
        self.conn = conn
        self.state_sql = state_sql  # the engine's journal statements (None: PostgreSQL's)
        self.settings = settings
        self.reporter = reporter
        self.guard = guard
        self.capabilities = capabilities
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

    def atomic(self, step: Step) -> bool:
        """Whether `step` commits with its journal row, all or nothing."""
        return step.transactional and self.capabilities.transactional_ddl

    def journals_begun_first(self, step: Step) -> bool:
        """Whether `step` is journaled as begun before it runs: DDL that may take effect in part
        and that the journal could otherwise not tell apart from a step never run."""
        if step.backfill is not None or step.catch_up is not None:
            return False  # they keep their own checkpoints
        if not self.capabilities.transactional_ddl:
            # Every DDL statement commits on its own: a crash between it and its journal row
            # would leave a done step looking never run.
            return True
        # Outside a transaction a step may take effect in part (DROP INDEX CONCURRENTLY killed
        # half-way); once begun, rollback could no longer restore the state before the
        # migration exactly: say so in the journal first.
        return self.phase == "complete" and not step.transactional and not step.reversible

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
            if self.journals_begun_first(step):
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
        started_at = datetime.now(UTC)
        started = time.monotonic()
        if step.backfill is not None or step.catch_up is not None:
            if step.backfill is not None:
                assert self.run_backfill is not None, "a backfill step needs a backfill runner"
                rows = self.run_backfill(step, position)
            else:
                assert self.run_catch_up is not None, "a catch-up step needs a catch-up runner"
                rows = self.run_catch_up(step)
            self._journal_after(position, step, started_at, started, 0, rows)
        elif step.concurrent_index is not None:
            self.guard.build_index(step, step.concurrent_index, self.reporter.message)
            self._journal_after(position, step, started_at, started, 0, None)
        elif self.atomic(step):
            self._run_atomic(position, step, started_at, started)
        else:
            retries = self._with_lock_retries(
                step, lambda _, timeout_ms: self.guard.run_outside(step.sql, step, timeout_ms)
            )
            self._journal_after(position, step, started_at, started, retries, None)

    def _run_atomic(self, position: int, step: Step, started_at: datetime, started: float) -> None:
        def attempt(retries: int, lock_timeout_ms: int) -> None:
            def journal(held_ms: float | None) -> None:
                # The journal row commits with the DDL: a crash never loses track of a done step.
                if self.migration_id is not None:
                    self._journal(position, step, started_at, started, retries, None, held_ms)

            self.lock_held_s = self.guard.run_atomic(step, lock_timeout_ms, journal)

        self._with_lock_retries(step, attempt)

    def _with_lock_retries(self, step: Step, action: Callable[[int, int], None]) -> int:
        """Run `action(retries, lock_timeout_ms)` under the lock policy (liveshift.retry): on a
        refused lock name the blockers, pause and try again, each try's wait escalating only
        after a long time without the lock, until the deadline. Returns how many retries it
        took."""
        policy = self.settings.lock_policy
        began: datetime | None = None  # on the server's clock, when the last try began
        reported = 0.0

        def tried(retries: int, timeout_ms: int) -> None:
            nonlocal began
            began = self.guard.now()
            action(retries, timeout_ms)

        def refused(refusal: Refusal) -> None:
            nonlocal reported
            self.lock_retries += 1
            blockers = self.guard.blockers(step, began)
            if refusal.gives_up:
                raise self._gave_up(
                    step, policy, refusal.attempt, refusal.waited_s, blockers
                ) from None
            # One line for the first wait, then one every few seconds or when the tries
            # escalate: a blocker held for minutes does not flood the report.
            waited = refusal.waited_s
            if refusal.attempt == 1 or refusal.escalates or waited - reported >= REPORT_EVERY_S:
                reported = waited
                self.reporter.lock_wait(
                    step.description, refusal.attempt, blockers, refusal.pause_s
                )
            if refusal.escalates:
                self.reporter.message(
                    f"`{user_names(step.description, step.tables)}` has not had its lock for {waited:.0f}s: each "
                    f"try now waits up to {refusal.next_timeout_ms} ms (was {refusal.timeout_ms} ms), so "
                    f"application queries may queue that long behind it"
                )

        _, retries = with_retries(
            tried,
            deadline_s=policy.deadline_s,
            pause_s=policy.pause_s,
            try_timeout_ms=policy.try_timeout_ms,
            on_refused=refused,
        )
        return retries

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
            hint="End or wait for the blocking sessions "
            f"({self.guard.end_session} if they are stuck) and run the same command again: it resumes here. A table that always has a "
            "transaction open needs longer tries: --lock-timeout 2s lets each try wait 2 s "
            "(application queries queue that long behind it); --lock-retry-deadline 30min "
            "keeps trying longer.",
        )

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
            state_sql=self.state_sql,
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
