"""The Python API: start, complete, roll back and inspect migrations on one database."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from liveshift import __version__, catchup
from liveshift.backfill import Backfiller, Throttle, verify_backfill
from liveshift.connect import resolve_url
from liveshift.engines import engine_for
from liveshift.engines.backfill import backfill_engine
from liveshift.engines.base import Connection, DriverError
from liveshift.engines.guard import guard_for
from liveshift.engines.state import MigratingEngine, migrating
from liveshift.errors import (
    ConnectionLost,
    DatabaseError,
    Interrupted,
    LiveshiftError,
    MigrationBusy,
    StateError,
    VerificationFailed,
)
from liveshift.executor import Executor, database_error, or_rollback, rollback_open
from liveshift.migration import Migration
from liveshift.plan import Backfill, Step, step_from_json, step_to_json
from liveshift.planner import MigrationPlan, check_capabilities, plan_migration
from liveshift.progress import Reporter
from liveshift.settings import Settings
from liveshift.state import MigrationRecord, StateStore, migration_lock

T = TypeVar("T")


class Migrator:
    """Runs migrations against one database. `url` None means the usual resolution (environment,
    then the embedded PostgreSQL)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        schema: str = "public",
        settings: Settings | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        self.url = resolve_url(url)
        # Chosen once: it connects, reads the schema, keeps the state and answers the planner.
        self.engine = engine_for(self.url)
        self.schema = schema
        self.settings = settings or Settings()
        self.reporter = reporter or Reporter()
        self.stop = threading.Event()
        # Set while recovering from a lost connection: a refused connection or a runner lock
        # still held by our own vanished session is then part of the outage, not a new failure.
        self._outage = False
        # Whether the hints of the command running now may offer `liveshift rollback`: not once
        # complete has run a step rollback cannot take back.
        self._rollback_open = True

    # -- connections and guards --------------------------------------------------------------

    def _connect(self, timeout_s: int = 10) -> Connection:
        return self.engine.connect(self.url, self.settings.application_name, timeout_s)

    @property
    def _migrating(self) -> MigratingEngine:
        """The engine as one that keeps state and plans (a clear error if it cannot yet)."""
        return migrating(self.engine)

    def _state(self, conn: Connection) -> StateStore:
        return StateStore(conn, self._migrating.state_sql)

    @contextmanager
    def _session(self, *, lock: bool = True, init: bool = True) -> Iterator[Connection]:
        try:
            conn = self._connect()
        except DatabaseError as exc:
            if self._outage:
                raise ConnectionLost(exc.message, hint=exc.hint) from exc
            raise
        try:
            state = self._state(conn)
            if init:
                state.init()
            if lock:
                with self._migration_lock(conn):
                    yield conn
            else:
                yield conn
        except DriverError as exc:
            raise database_error(exc) from exc
        finally:
            conn.close()

    @contextmanager
    def _migration_lock(self, conn: Connection) -> Iterator[None]:
        """The schema's runner lock (state.migration_lock: says who holds it, waits for --wait or
        a short grace for a runner killed a moment ago)."""
        try:
            lock = migration_lock(
                conn,
                self.schema,
                wait_s=self.settings.runner_wait_s,
                grace_s=self.settings.runner_lock_wait_s,
                say=None if self._outage else self.reporter.message,
                stopped=self.stop.is_set,
                state_sql=self._migrating.state_sql,
            )
            lock.__enter__()
        except MigrationBusy as busy:
            if self._outage:  # perhaps our own session, not yet noticed gone
                raise ConnectionLost(busy.message, hint=busy.hint) from busy
            raise
        try:
            yield
        finally:
            lock.__exit__(None, None, None)

    @contextmanager
    def _stoppable(self) -> Iterator[None]:
        """First Ctrl-C / SIGTERM: finish the current batch or step, then stop cleanly.
        A second one: stop at once (the open transaction rolls back; nothing is half-written)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous: dict[signal.Signals, Any] = {}

        def handler(signum: int, frame: FrameType | None) -> None:
            if self.stop.is_set():
                for sig, old in previous.items():
                    signal.signal(sig, old)
                raise KeyboardInterrupt
            self.stop.set()
            self.reporter.message(
                "stopping after the current batch (press Ctrl-C again to stop at once)"
            )

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def _reconnecting(
        self, action: Callable[[], T], command: str, *, rollback_open: bool = True
    ) -> T:
        """Run `action`; when the connection is lost, reconnect with backoff for up to
        `reconnect_timeout_s` and run it again: it resumes from the journal and the backfill
        checkpoint, which live in the database (never from what this process remembers, which a
        server crash may have undone). `command` is what the user runs to resume by hand;
        `rollback_open`: whether its hints may offer rollback before a phase has run (complete's
        may not: an earlier run may have gone past what rollback can take back)."""
        deadline: float | None = None
        self._rollback_open = rollback_open
        with self._stoppable():
            try:
                while True:
                    try:
                        return action()
                    except ConnectionLost as lost:
                        timeout = self.settings.reconnect_timeout_s
                        if timeout <= 0 or self.stop.is_set():
                            raise
                        now = time.monotonic()
                        if deadline is None or now > deadline:  # a new outage, not a relapse
                            deadline = now + timeout
                        self._outage = True
                        self.reporter.message(
                            f"{_first_line(lost.message)}; reconnecting for up to "
                            f"{max(deadline - now, 0):.0f}s"
                        )
                        waited = self._await_database(deadline, lost, command, now)
                        self.reporter.message(
                            f"reconnected after {waited:.1f}s; resuming from the last checkpoint"
                        )
            finally:
                self._outage = False

    def _await_database(
        self, deadline: float, lost: ConnectionLost, command: str, since: float
    ) -> float:
        """Wait until the server accepts a connection again; seconds waited."""
        attempt = 0
        last_error = _first_line(lost.message)
        while True:
            remaining = deadline - time.monotonic()
            if self.stop.is_set():
                raise Interrupted(
                    "stopped while reconnecting to the database; every finished step and "
                    "backfill batch is saved",
                    hint=f"Run the same `{command}` to resume{or_rollback(self._rollback_open)}.",
                )
            if remaining <= 0:
                raise ConnectionLost(
                    f"lost the connection to the database and could not reconnect within "
                    f"{self.settings.reconnect_timeout_s:g}s (last error: {last_error})",
                    sqlstate=lost.sqlstate,
                    hint="Nothing is lost: every finished step and backfill batch is saved in the "
                    f"database with its checkpoint. When the database is back, run the same "
                    f"`{command}` to resume from there (raise --reconnect-timeout to wait longer "
                    f"next time){or_rollback(self._rollback_open)}.",
                )
            try:
                timeout_s = max(1, min(5, int(remaining)))
                with self._connect(timeout_s) as probe:
                    probe.execute("select 1")
                return time.monotonic() - since
            except (DriverError, DatabaseError) as exc:
                last_error = _first_line(str(exc)) or type(exc).__name__
            attempt += 1
            # Backoff with jitter, capped: a restarting server is usually back within seconds.
            pause = random.uniform(0.1, min(2.0, 0.1 * 2**attempt))
            self.stop.wait(max(0.0, min(pause, deadline - time.monotonic())))

    # -- planning ----------------------------------------------------------------------------

    def _plan(self, conn: Connection, migration: Migration, state: StateStore) -> MigrationPlan:
        schema_name = migration.schema or self.schema
        schema = self.engine.introspect(conn, schema_name)
        previous = state.last_complete(schema_name) if state.exists() else None
        probe = self._migrating.probe(conn, self.settings.lock_timeout_ms or 500)
        plan = plan_migration(
            migration,
            schema,
            probe,
            previous.version_schema if previous else None,
            render=self._migrating.render,
        )
        self._migrating.annotate(plan, conn)
        return plan

    def plan(self, migration: Migration) -> MigrationPlan:
        """Every step of every phase, validated against the live database; changes nothing."""
        check_capabilities(migration, self.engine.capabilities)  # before connecting
        with self._session(lock=False, init=False) as conn:
            return self._plan(conn, migration, self._state(conn))

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, migration: Migration, complete: bool = False) -> MigrationRecord:
        """Expand and backfill; resumes the same migration if an earlier start was interrupted,
        and reconnects by itself after a lost connection (`reconnect_timeout_s`)."""
        check_capabilities(migration, self.engine.capabilities)  # before connecting
        if migration.schema and migration.schema != self.schema:
            self.schema = migration.schema
        command = "liveshift start FILE" + (" --complete" if complete else "")
        return self._reconnecting(lambda: self._start(migration, complete), command)

    def _start(self, migration: Migration, complete: bool) -> MigrationRecord:
        with self._session() as conn:
            state = self._state(conn)
            record = self._begin_or_resume(conn, state, migration)
            if record.phase == "starting":
                self.reporter.phase("start", record.name)
                self._run_phase(conn, state, record, "start")
                state.set_phase(record.id, "started")
                record = state.get(record.id)
                self.reporter.message(
                    f"{record.name} started: new clients use search_path {record.version_schema}; "
                    "old clients keep working on the base tables"
                )
            if complete:
                record = self._complete(conn, state, record)
            return record

    def _begin_or_resume(
        self, conn: Connection, state: StateStore, migration: Migration
    ) -> MigrationRecord:
        active = state.active(self.schema)
        if active is not None:
            if active.name != migration.name:
                raise StateError(
                    f"migration {active.name!r} is active on schema {self.schema!r} "
                    f"(phase {active.phase}); only one migration can be active at a time",
                    hint=f"Finish it first: {self._ways_on(state, active)}.",
                )
            if active.checksum != migration.checksum:
                raise StateError(
                    f"migration {migration.name!r} was started from a different version of its "
                    "file; resuming it with this file could mix two plans",
                    hint="Restore the file as it was"
                    f"{or_rollback(self._can_roll_back(state, active), ' and start again')}.",
                )
            if active.phase == "rolling_back":
                raise StateError(
                    f"migration {active.name!r} is being rolled back",
                    hint="Run `liveshift rollback` to finish the rollback.",
                )
            if active.phase == "starting":
                self.reporter.message(f"resuming the start of {active.name}")
            return active
        done = state.find(self.schema, migration.name)
        if done is not None:
            raise StateError(
                f"migration {migration.name!r} is already complete on schema {self.schema!r}",
                hint="Give a new migration a new name (file name), see `liveshift history`.",
            )
        plan = self._plan(conn, migration, state)
        migration_id = state.create(
            schema=self.schema,
            name=migration.name,
            checksum=migration.checksum,
            operations=migration.to_json(),
            plan={
                phase: [step_to_json(s) for s in steps] for phase, steps in plan.phases().items()
            },
            version_schema=plan.version_schema,
            previous_version_schema=plan.previous_version_schema,
            source=migration.source,
            liveshift_version=__version__,
        )
        return state.get(migration_id)

    def _steps(self, record: MigrationRecord, phase: str) -> list[Step]:
        return [step_from_json(s) for s in record.plan[phase]]

    def _can_roll_back(self, state: StateStore, record: MigrationRecord) -> bool:
        """Whether rollback still restores the state before `record` exactly: in any active phase
        but complete, and in complete until it runs a step rollback cannot take back."""
        if record.phase != "completing":
            return record.active
        ran = state.done_steps(record.id, "complete") | state.begun_steps(record.id, "complete")
        return rollback_open("complete", self._steps(record, "complete"), ran)

    def _ways_on(self, state: StateStore, record: MigrationRecord) -> str:
        """The commands the tool accepts for the active migration `record`, for a hint."""
        file = record.source or "FILE"
        forward = {
            "starting": [f"`liveshift start {file}` to finish starting it"],
            "started": ["`liveshift complete`"],
            "completing": ["`liveshift complete`"],
        }.get(record.phase, [])
        back = ["`liveshift rollback`"] if self._can_roll_back(state, record) else []
        return " or ".join(forward + back)

    def _never_ran(self, state: StateStore, record: MigrationRecord) -> set[int]:
        """Positions of rollback steps that undo only start steps which never ran (a start that
        failed early): nothing to undo, and undoing it anyway may fail (a type never changed)."""
        start = self._steps(record, "start")
        ran = state.done_steps(record.id, "start")
        # The first step not done was running when start stopped: outside a transaction (a
        # concurrent index, a backfill) it may have left something behind.
        first = next((p for p in range(len(start)) if p not in ran), None)
        if first is not None and not start[first].transactional:
            ran.add(first)
        return {
            position
            for position, step in enumerate(self._steps(record, "rollback"))
            if step.undoes and not ran.intersection(step.undoes)
        }

    def _run_phase(
        self, conn: Connection, state: StateStore, record: MigrationRecord, phase: str
    ) -> None:
        engine = backfill_engine(self.engine)
        monitor = engine.monitor()
        throttle = Throttle(conn, self.settings, state, self.schema, monitor=monitor)
        backfiller = Backfiller(
            conn,
            self.settings,
            self.reporter,
            throttle=throttle,
            migration_id=record.id,
            stop=self.stop,
            connect=self._connect,
            sql=engine.backfill_sql(),
            monitor=monitor,
            state_sql=self._migrating.state_sql,
        )

        def verify(backfill: Backfill, recompute: bool) -> None:
            if recompute:
                self.reporter.message(
                    f"verifying {backfill.table}.{backfill.column}: recomputing `up` "
                    "for every row, in batches"
                )
            problems = verify_backfill(
                conn, backfill, recompute=recompute, stop=self.stop, sql=backfiller.sql
            )
            if problems:
                raise VerificationFailed(
                    f"the backfill of {backfill.table}.{backfill.column} left rows that "
                    "do not match",
                    details=problems,
                    hint="Inspect those rows; `liveshift rollback` undoes the migration.",
                )

        def run_backfill(step: Step, position: int) -> int | None:
            assert step.backfill is not None
            rows = backfiller.run(step.backfill)
            # Rows old clients updated meanwhile match `up` only after the catch-up.
            verify(step.backfill, self.settings.verify and not step.backfill.catch_up_follows)
            return rows

        def run_catch_up(step: Step) -> int:
            assert step.catch_up is not None
            target = step.catch_up.target
            rows = catchup.run_catch_up(
                conn, step.catch_up, self.settings, self.stop, say=self.reporter.message
            )
            self.reporter.message(f"{target.table}.{target.column}: {rows:,} rows recomputed")
            if self.settings.verify:
                verify(target, recompute=True)
            return rows

        done = state.done_steps(record.id, phase)
        if phase == "rollback":
            done |= self._never_ran(state, record)
        executor = Executor(
            conn,
            self.settings,
            self.reporter,
            guard=guard_for(self.engine, conn, self.settings),
            capabilities=self.engine.capabilities,
            state_sql=self._migrating.state_sql,
            migration_id=record.id,
            phase=phase,
            run_backfill=run_backfill,
            run_catch_up=run_catch_up,
            done=done,
            begun=state.begun_steps(record.id, phase),
            stop=self.stop,
        )
        try:
            executor.run(self._steps(record, phase))
        finally:
            self._rollback_open = executor.rollback_open()
            throttle.close()

    def _complete(
        self, conn: Connection, state: StateStore, record: MigrationRecord
    ) -> MigrationRecord:
        if record.phase == "rolling_back":
            raise StateError(
                f"migration {record.name!r} is being rolled back: it cannot be completed",
                hint="Run `liveshift rollback` to finish the rollback.",
            )
        if record.phase not in ("started", "completing"):
            raise StateError(
                f"migration {record.name!r} is in phase {record.phase}, not started",
                hint=f"Finish starting it first: `liveshift start {record.source or 'FILE'}` "
                "(resumes where it stopped), or `liveshift rollback`.",
            )
        for step in self._steps(record, "complete"):
            for warning in step.warnings:
                self.reporter.message(warning)
        state.set_phase(record.id, "completing")
        self.reporter.phase("complete", record.name)
        self._run_phase(conn, state, record, "complete")
        state.set_phase(record.id, "complete")
        self.reporter.message(f"{record.name} complete")
        return state.get(record.id)

    def complete(self) -> MigrationRecord:
        """Contract the active migration: only the new shape remains."""
        return self._reconnecting(self._complete_active, "liveshift complete", rollback_open=False)

    def _complete_active(self) -> MigrationRecord:
        with self._session() as conn:
            state = self._state(conn)
            return self._complete(conn, state, self._require_active(state))

    def rollback(self) -> MigrationRecord:
        """Undo the active migration from wherever its start got to."""
        return self._reconnecting(self._rollback, "liveshift rollback")

    def _rollback(self) -> MigrationRecord:
        with self._session() as conn:
            state = self._state(conn)
            record = self._require_active(state)
            # A complete that stopped before a step rollback cannot take back (e.g. a VALIDATE
            # found a violating row: they all run first) left the migration as start left it, so
            # rollback is exact.
            if not self._can_roll_back(state, record):
                raise StateError(
                    f"migration {record.name!r} is part-way through complete and cannot be rolled "
                    "back",
                    hint="Run `liveshift complete` to finish it.",
                )
            state.set_phase(record.id, "rolling_back")
            self.reporter.phase("rollback", record.name)
            self._run_phase(conn, state, record, "rollback")
            state.set_phase(record.id, "rolled_back")
            self.reporter.message(f"{record.name} rolled back")
            return state.get(record.id)

    def _require_active(self, state: StateStore) -> MigrationRecord:
        record = state.active(self.schema)
        if record is None:
            last = state.last_complete(self.schema)
            if last is None:
                raise StateError(
                    f"no migration is active on schema {self.schema!r}",
                    hint="`liveshift history` lists what ran; `liveshift start FILE` starts one.",
                )
            when = f"{last.completed_at:%Y-%m-%d %H:%M:%S %Z}".strip() if last.completed_at else "?"
            raise StateError(
                f"no migration is active on schema {self.schema!r}: the last one, "
                f"{last.name!r}, completed at {when}",
                hint="complete and rollback act on an active migration only. A completed "
                "migration is undone by a new migration that reverses it (`liveshift start "
                "FILE`); `liveshift history` lists what ran.",
            )
        return record

    def migrate(
        self, directory: str | Path, outcome: MigrateOutcome | None = None
    ) -> list[MigrationRecord]:
        """Start and complete every migration file in `directory` not yet applied, in order.
        `outcome`, when given, is kept up to date (for a summary when a file fails)."""
        outcome = outcome if outcome is not None else MigrateOutcome()
        path = Path(directory)
        if not path.is_dir():
            raise StateError(f"{path} is not a directory", hint="Give the migrations directory.")
        files = sorted(
            p for p in path.iterdir() if p.suffix in (".yaml", ".yml", ".json") and p.is_file()
        )
        migrations = []
        outcome.pending = [f.name for f in files]
        for f in files:  # every file checked before any runs
            outcome.failed = f.name
            migrations.append(Migration.load(f))
        outcome.failed = None
        applied: list[MigrationRecord] = []
        for file, migration in zip(files, migrations, strict=True):
            outcome.failed = file.name
            with self._session(lock=False) as conn:
                state = self._state(conn)
                done = state.find(migration.schema or self.schema, migration.name)
            if done is not None and done.phase == "complete":
                if done.checksum != migration.checksum:
                    self.reporter.message(
                        f"warning: {migration.name} changed since it was applied; not re-applied"
                    )
                outcome.skipped.append(file.name)
            else:
                applied.append(self.start(migration, complete=True))
                outcome.applied.append(file.name)
            outcome.pending.remove(file.name)
            outcome.failed = None
        return applied

    # -- inspection --------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The active migration, its phase, step and backfill progress, throttling state."""
        with self._session(lock=False, init=False) as conn:
            state = self._state(conn)
            if not state.exists():
                return {"schema": self.schema, "initialized": False, "active": None}
            record = state.active(self.schema)
            last = state.last_complete(self.schema)
            result: dict[str, Any] = {
                "schema": self.schema,
                "initialized": True,
                "paused": state.paused(self.schema),
                "last_complete": last.name if last else None,
                "version_schema": (record.version_schema if record else None)
                or (last.version_schema if last else None),
                "active": None,
            }
            if record is not None:
                steps = state.steps(record.id)
                phase_key = {
                    "starting": "start",
                    "started": "start",  # start done: its steps, all done
                    "completing": "complete",
                    "rolling_back": "rollback",
                }
                current = phase_key.get(record.phase)
                done = [s for s in steps if s["phase"] == current and s["status"] == "done"]
                result["active"] = {
                    "name": record.name,
                    "phase": record.phase,
                    "started_at": record.started_at,
                    "steps_done": len(done) if current else None,
                    "steps_total": len(record.plan[current]) if current else None,
                    "backfills": [
                        {
                            "table": b["table_name"],
                            "column": b["column_name"],
                            "rows_done": b["rows_done"],
                            "rows_total": b["rows_total"],
                            "batches": b["batches"],
                            "slices": b["slices"],
                            "batch_size": b["batch_size"],
                            "rows_per_second": b["rows_per_second"],
                            "eta_s": _eta(b),
                            "throttle": b["throttle"],
                            "updated_at": b["updated_at"],
                            "finished": b["finished_at"] is not None,
                        }
                        for b in state.backfills(record.id)
                    ],
                }
            return result

    def history(self) -> list[dict[str, Any]]:
        with self._session(lock=False, init=False) as conn:
            state = self._state(conn)
            if not state.exists():
                return []
            rows = []
            for record in state.history():
                steps = state.steps(record.id)
                rows.append(
                    {
                        "id": record.id,
                        "schema": record.schema_name,
                        "name": record.name,
                        "phase": record.phase,
                        "started_at": record.started_at,
                        "completed_at": record.completed_at,
                        "rolled_back_at": record.rolled_back_at,
                        "steps": len(steps),
                        "duration_ms": sum(s["duration_ms"] for s in steps),
                        "lock_retries": sum(s["lock_retries"] for s in steps),
                    }
                )
            return rows

    def init(self) -> bool:
        with self._session(lock=False, init=False) as conn:
            return self._state(conn).init()

    def pause(self, reason: str | None = None) -> None:
        with self._session(lock=False) as conn:
            self._state(conn).set_paused(self.schema, True, reason)

    def resume(self) -> None:
        with self._session(lock=False) as conn:
            self._state(conn).set_paused(self.schema, False)


@dataclass
class MigrateOutcome:
    """How far `migrate` got: files applied, skipped (applied before) and the one that failed."""

    applied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: str | None = None
    pending: list[str] = field(default_factory=list)  # not reached yet (the failed one included)

    def summary(self) -> str:
        def names(files: list[str]) -> str:
            return f" ({', '.join(files)})" if files else ""

        text = (
            f"{len(self.applied)} applied{names(self.applied)}, "
            f"{len(self.skipped)} skipped as applied before{names(self.skipped)}"
        )
        if self.failed:
            rest = [f for f in self.pending if f != self.failed]
            text += f", failed: {self.failed}, not run: {len(rest)}{names(rest)}"
        return text


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _eta(backfill: dict[str, Any]) -> float | None:
    rate, total = backfill["rows_per_second"], backfill["rows_total"] or 0
    if backfill["finished_at"] is not None:
        return 0.0
    if not rate:
        return None
    remaining: int = max(int(total) - int(backfill["rows_done"]), 0)
    return remaining / float(rate)


__all__ = ["Interrupted", "LiveshiftError", "Migrator"]
