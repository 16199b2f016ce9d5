"""The lock guard: what the executor asks of an engine to run a step without queueing the
application behind an unbounded lock wait (the SQL of it lives in each engine's guard.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from liveshift.engines.base import Connection

if TYPE_CHECKING:
    from liveshift.plan import ConcurrentIndex, Step
    from liveshift.progress import Blocker
    from liveshift.settings import Settings


class Guard(Protocol):
    """Runs one step's statements on one connection, each lock wait bounded. A refused lock comes
    out as LockNotAvailable, for the executor's retry loop (liveshift.retry) to try again."""

    # How a user ends a stuck blocking session on this engine, for messages.
    end_session: str

    def run_atomic(
        self, step: Step, lock_timeout_ms: int, before_commit: Callable[[float | None], None]
    ) -> float | None:
        """Run `step.sql` in one transaction, its lock wait bounded by `lock_timeout_ms` when the
        step is guarded, and `before_commit(lock_held_ms)` in the same transaction (the journal
        row, so that a done step is never lost). The lock is taken first where the engine can,
        so the time it is held can be measured: returns it in seconds (through the commit), or
        None when it was not measured. Only on engines with transactional DDL."""

    def run_outside(self, sql: str, step: Step, lock_timeout_ms: int | None = None) -> None:
        """Run `sql` outside a transaction, its lock wait bounded by `lock_timeout_ms` (None: the
        lock policy's first try) when `step` is guarded, and the statement timeout set."""

    def build_index(self, step: Step, index: ConcurrentIndex, say: Callable[[str], None]) -> None:
        """Build `index` without blocking writes, idempotently: a valid index of its name means
        it is built; a leftover of a build that died is removed first (said through `say`); a
        build that fails leaves nothing behind."""

    def blockers(self, step: Step, since: datetime | None) -> list[Blocker]:
        """The sessions holding a lock on the step's tables that conflicts with its lock, in
        transactions that began before `since` (when the refused try began): those that merely
        queued behind the try are not blockers. Empty when the engine cannot tell."""

    def now(self) -> datetime | None:
        """The server's clock (for `since` above: the server's, as its sessions' start times)."""


@runtime_checkable
class GuardedEngine(Protocol):
    """An engine that can run steps: it makes a Guard for a connection."""

    def guard(self, conn: Connection, settings: Settings) -> Guard: ...


def guard_for(engine: object, conn: Connection, settings: Settings) -> Guard:
    """The Guard `engine` makes for `conn`; a clear error for an engine that cannot run steps yet."""
    if not isinstance(engine, GuardedEngine):
        from liveshift.errors import ConfigError

        name = getattr(engine, "name", type(engine).__name__)
        raise ConfigError(f"liveshift cannot run migration steps on {name} yet")
    return engine.guard(conn, settings)
