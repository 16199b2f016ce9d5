"""The executor's loop against a fake engine (no database): order, resume, stops, lock retries,
giving up, escalation, and what is journaled before a step that cannot be atomic. The real
server's side is in test_blocking.py, test_dead_ends.py and operations/test_step_locks.py."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from liveshift.engines.base import Capabilities, LockNotAvailable, Params, Query
from liveshift.engines.postgres import POSTGRES
from liveshift.errors import Interrupted, LockTimeoutExceeded
from liveshift.executor import Executor
from liveshift.plan import ConcurrentIndex, LockMode, Step
from liveshift.progress import Blocker, Reporter
from liveshift.settings import Settings

PG_LIKE = replace(POSTGRES.capabilities, name="fake")
NO_TRANSACTIONAL_DDL = replace(
    POSTGRES.capabilities, name="fake-autocommit-ddl", transactional_ddl=False
)
BLOCKER = Blocker(
    pid=4242,
    application_name="billing",
    state="idle in transaction",
    transaction_age_s=12.5,
    query="select * from public.orders for update",
    mode="RowShareLock",
    relation="public.orders",
)
# Short pauses and deadlines: a test waits tenths of a second, not minutes.
FAST = {"lock_retry_max_backoff_s": 0.05, "lock_retry_deadline_s": 5.0}


class FakeCursor:
    def __init__(self, rows: list[Any] | None = None) -> None:
        self._rows = rows or []

    @property
    def rowcount(self) -> int:
        return len(self._rows)

    @property
    def description(self) -> Any:
        return None

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return list(self._rows)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


class FakeConnection:
    """Only what the executor's journal needs: it records each journal row as an event."""

    def __init__(self, events: list[tuple[Any, ...]]) -> None:
        self.events = events
        self.broken = False
        self.closed = False
        self.backend_id = 1

    def execute(self, query: Query, params: Params = None) -> FakeCursor:
        text = query.decode() if isinstance(query, bytes) else query
        if "liveshift.steps" in text and isinstance(params, Mapping):
            # The journal row (engines/postgres/state_sql.py journal_step's named parameters).
            self.events.append(
                (
                    "journal",
                    params["phase"],
                    params["position"],
                    params["status"],
                    params["lock_retries"],
                    params["error"],
                )
            )
        return FakeCursor()

    @contextmanager
    def transaction(self, force_rollback: bool = False) -> Iterator[None]:
        yield


class FakeGuard:
    """engines.guard.Guard: refuses the lock of each step's first `refusals[description]` tries."""

    end_session = "pg_terminate_backend(pid)"

    def __init__(self, events: list[tuple[Any, ...]], refusals: dict[str, int] | None = None):
        self.events = events
        self.refusals = dict(refusals or {})
        self.timeouts: list[int] = []  # the bound of every try, in order
        self.blockers_asked = 0
        self.after_step: Callable[[Step], None] = lambda _step: None

    def _try(self, step: Step, lock_timeout_ms: int | None) -> None:
        if lock_timeout_ms is not None:
            self.timeouts.append(lock_timeout_ms)
        if self.refusals.get(step.description, 0) > 0:
            self.refusals[step.description] -= 1
            raise LockNotAvailable("canceling statement due to lock timeout", sqlstate="55P03")

    def run_atomic(
        self, step: Step, lock_timeout_ms: int, before_commit: Callable[[float | None], None]
    ) -> float | None:
        self._try(step, lock_timeout_ms)
        self.events.append(("atomic", step.description))
        before_commit(1.0)
        self.after_step(step)
        return 0.001

    def run_outside(self, sql: str, step: Step, lock_timeout_ms: int | None = None) -> None:
        self._try(step, lock_timeout_ms)
        self.events.append(("outside", step.description))
        self.after_step(step)

    def build_index(self, step: Step, index: ConcurrentIndex, say: Callable[[str], None]) -> None:
        self.events.append(("index", index.name))

    def blockers(self, step: Step, since: datetime | None) -> list[Blocker]:
        self.blockers_asked += 1
        assert since is not None, "the blockers are asked for since the refused try began"
        return [BLOCKER]

    def now(self) -> datetime | None:
        return datetime.now(UTC)


class RecordingReporter(Reporter):
    def __init__(self) -> None:
        self.lock_waits: list[int] = []
        self.messages: list[str] = []
        self.finished: list[tuple[str, bool]] = []

    def step_finished(
        self,
        description: str,
        duration_s: float,
        skipped: bool = False,
        lock_held_s: float | None = None,
    ) -> None:
        self.finished.append((description, skipped))

    def lock_wait(
        self, description: str, attempt: int, blockers: list[Blocker], wait_s: float
    ) -> None:
        self.lock_waits.append(attempt)

    def message(self, text: str) -> None:
        self.messages.append(text)


def ddl(description: str, **fields: Any) -> Step:
    return Step(
        description=description,
        sql=f"-- {description}",
        lock=LockMode.ACCESS_EXCLUSIVE,
        tables=("public.orders",),
        operation="add_column",
        **fields,
    )


def executor(
    guard: FakeGuard,
    events: list[tuple[Any, ...]],
    *,
    phase: str = "start",
    capabilities: Capabilities = PG_LIKE,
    done: set[int] | None = None,
    stop: threading.Event | None = None,
    **settings: Any,
) -> tuple[Executor, RecordingReporter]:
    reporter = RecordingReporter()
    return (
        Executor(
            FakeConnection(events),  # type: ignore[arg-type]  # only what the journal uses
            Settings(**{**FAST, **settings}),
            reporter,
            guard=guard,
            capabilities=capabilities,
            migration_id=7,
            phase=phase,
            done=done,
            stop=stop,
        ),
        reporter,
    )


def test_steps_run_in_order_each_with_its_journal_row_and_done_positions_are_skipped() -> None:
    events: list[tuple[Any, ...]] = []
    run, reporter = executor(FakeGuard(events), events, done={1})
    run.run([ddl("add a"), ddl("add b"), ddl("add c")])
    assert events == [
        ("atomic", "add a"),
        ("journal", "start", 0, "done", 0, None),
        ("atomic", "add c"),
        ("journal", "start", 2, "done", 0, None),
    ]
    assert reporter.finished == [("add a", False), ("add b", True), ("add c", False)]
    assert run.done == {0, 1, 2}


def test_a_stop_between_steps_raises_interrupted_with_the_resume_hint() -> None:
    events: list[tuple[Any, ...]] = []
    stop = threading.Event()
    guard = FakeGuard(events)
    guard.after_step = lambda step: stop.set() if step.description == "add a" else None
    run, _ = executor(guard, events, stop=stop)
    with pytest.raises(Interrupted) as raised:
        run.run([ddl("add a"), ddl("add b"), ddl("add c")])
    assert raised.value.message == (
        "stopped before step 2 of 3 (add b); every step before it is done and recorded"
    )
    assert raised.value.hint == (
        "Run the same command again to resume from here, or `liveshift rollback`."
    )
    assert ("atomic", "add b") not in events
    assert run.done == {0}


def test_a_lock_refused_n_times_then_granted_is_retried_reported_and_journaled() -> None:
    events: list[tuple[Any, ...]] = []
    guard = FakeGuard(events, refusals={"add a": 3})
    run, reporter = executor(guard, events)
    run.run([ddl("add a")])
    assert events == [("atomic", "add a"), ("journal", "start", 0, "done", 3, None)]
    assert run.lock_retries == 3
    assert reporter.lock_waits[0] == 1  # the first wait is always reported
    assert guard.blockers_asked == 3
    assert len(guard.timeouts) == 4


def test_a_lock_never_granted_gives_up_naming_the_blockers() -> None:
    events: list[tuple[Any, ...]] = []
    guard = FakeGuard(events, refusals={"add a": 10_000})
    run, _ = executor(guard, events, lock_retry_deadline_s=0.3)
    with pytest.raises(LockTimeoutExceeded) as raised:
        run.run([ddl("add a"), ddl("add b")])
    error = raised.value
    assert error.sqlstate == "55P03"
    assert error.details == [f"blocked by {BLOCKER.describe()}"]
    assert "pid 4242 (billing, idle in transaction" in error.details[0]
    assert error.message.startswith("`add a` could not get its ACCESS EXCLUSIVE lock within ")
    assert f"({run.lock_retries} tries, each waiting up to 50 ms)" in error.message
    assert run.lock_retries >= 2
    assert events == []  # nothing ran, nothing was journaled


def test_each_escalation_of_the_tries_is_reported_once() -> None:
    events: list[tuple[Any, ...]] = []
    guard = FakeGuard(events, refusals={"add a": 6})
    run, reporter = executor(guard, events, lock_escalate_after_s=0.1)
    run.run([ddl("add a")])
    changes = [(a, b) for a, b in zip(guard.timeouts, guard.timeouts[1:], strict=False) if a != b]
    assert changes, "the tries should have escalated after 0.1 s without the lock"
    assert changes[0] == (50, 100)
    escalations = [m for m in reporter.messages if "each try now waits up to" in m]
    assert len(escalations) == len(changes)
    assert escalations[0] == (
        "`add a` has not had its lock for 0s: each try now waits up to 100 ms (was 50 ms), so "
        "application queries may queue that long behind it"
    )


def test_a_step_outside_a_transaction_in_complete_is_journaled_as_begun_first() -> None:
    events: list[tuple[Any, ...]] = []
    run, _ = executor(FakeGuard(events), events, phase="complete")
    run.run([ddl("drop index concurrently", transactional=False), ddl("drop column")])
    begun = "begun outside a transaction; not known to be done"
    assert events == [
        ("journal", "complete", 0, "failed", 0, begun),
        ("outside", "drop index concurrently"),
        ("journal", "complete", 0, "done", 0, None),
        ("atomic", "drop column"),
        ("journal", "complete", 1, "done", 0, None),
    ]
    assert run.begun == {0}
    assert not run.rollback_open()  # an irreversible step of complete has begun


def test_without_transactional_ddl_every_ddl_step_is_journaled_as_begun_and_run_outside() -> None:
    events: list[tuple[Any, ...]] = []
    guard = FakeGuard(events, refusals={"add a": 1})
    run, _ = executor(guard, events, capabilities=NO_TRANSACTIONAL_DDL)
    run.run([ddl("add a")])
    begun = "begun outside a transaction; not known to be done"
    assert events == [
        ("journal", "start", 0, "failed", 0, begun),
        ("outside", "add a"),
        ("journal", "start", 0, "done", 1, None),
    ]
