"""What an engine supplies so liveshift can keep its state in the target database and plan there."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from liveshift.engines.base import Connection, Engine
from liveshift.errors import ConfigError

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe
    from liveshift.operations.actions import Action
    from liveshift.planner import MigrationPlan

# The schema (MySQL: database) liveshift keeps its state in, in every engine.
STATE_SCHEMA = "liveshift"


@dataclass(frozen=True)
class LockHolder:
    """The session holding a schema's runner lock, as the server describes it."""

    session_id: int
    application: str
    host: str
    since: str  # when the session connected, as text with its time zone
    age_s: float
    state: str
    query: str


class StateSql(Protocol):
    """The engine-specific part of liveshift's state (the `liveshift` schema): its DDL and
    upgrades, the statements with no portable spelling (upserts, JSON columns, returning the new
    id, aggregates) and the runner lock. liveshift.state holds the logic and the portable SQL.

    Each method runs on the caller's connection, inside whatever transaction it has open."""

    def exists(self, conn: Connection) -> bool:
        """Whether the state tables exist."""

    def lock_init(self, conn: Connection) -> None:
        """Take the lock, held to the end of the open transaction, that serialises two runners
        creating or upgrading the state at once."""

    def create(self, conn: Connection, version: int) -> None:
        """Create the state schema as state version `version` describes it (and record it)."""

    def upgrade(self, conn: Connection, version: int) -> None:
        """Apply the one upgrade that brings the state from `version - 1` to `version`."""

    def insert_migration(self, conn: Connection, values: Mapping[str, Any]) -> int:
        """Insert a migrations row in phase 'starting' (JSON values already as text); its id."""

    def journal_step(self, conn: Connection, values: Mapping[str, Any]) -> None:
        """Insert or replace the steps row of (migration_id, phase, position)."""

    def set_paused(self, conn: Connection, schema: str, paused: bool, reason: str | None) -> None:
        """Insert or replace the control row of `schema`."""

    def backfill_summary(self, conn: Connection, migration_id: int) -> list[dict[str, Any]]:
        """One row per backfilled column, its slices added together (see StateStore.backfills)."""

    def unlock_init(self, conn: Connection) -> None:
        """Let go of `lock_init`'s lock where it outlives the transaction (a session lock)."""

    def decode_row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A row of the state as Python values (JSON decoded, timestamps aware)."""

    def decode_json(self, value: Any) -> Any:
        """One JSON column's value as Python values."""

    def insert_backfill_slice(self, conn: Connection, values: Mapping[str, Any]) -> None:
        """Record one slice of a backfill that begins, keeping the row if it is there."""

    def checkpoint_backfill(
        self, conn: Connection, values: Mapping[str, Any], sample_sql: str | None
    ) -> Any:
        """One batch's checkpoint; with `sample_sql` the returned cursor holds its one row,
        read inside the batch's transaction."""

    def try_runner_lock(self, conn: Connection, schema: str) -> bool:
        """Take the session-level runner lock of `schema` if free; whether it was taken."""

    def release_runner_lock(self, conn: Connection, schema: str) -> None: ...

    def runner_lock_holder(self, conn: Connection, schema: str) -> LockHolder | None:
        """The session holding the runner lock of `schema` (None: nobody, it just ended)."""


@runtime_checkable
class MigratingEngine(Engine, Protocol):
    """An engine liveshift can run migrations on: it keeps the state and answers the planner."""

    @property
    def state_sql(self) -> StateSql:
        """The engine's statements for liveshift's own state."""

    # The logger names of the engine's driver: the CLI silences them (see cli._quiet_libraries).
    driver_loggers: tuple[str, ...]

    def probe(self, conn: Connection, lock_timeout_ms: int) -> Probe:
        """The planner's read-only questions, each bounded by `lock_timeout_ms`."""

    def render(self, action: Action) -> str:
        """The engine's statement text for one action (operations/actions/)."""

    def annotate(self, plan: MigrationPlan, conn: Connection) -> None:
        """Add the engine's notes to a plan's steps (what a backfill writes to the WAL, ...)."""


def migrating(engine: Engine) -> MigratingEngine:
    """`engine` as one that runs migrations, or a clear error when it cannot yet."""
    if not isinstance(engine, MigratingEngine):
        raise ConfigError(
            f"liveshift cannot run migrations on {engine.name} databases yet",
            hint="PostgreSQL is supported today (postgresql://...).",
        )
    return engine
