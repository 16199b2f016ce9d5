"""PostgreSQL (11 and later; tested on 15 and the embedded 16), through psycopg 3."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveshift.engines.backfill import BackfillSql, Monitor
from liveshift.engines.base import Capabilities, Connection
from liveshift.engines.postgres import connection
from liveshift.engines.postgres.backfill_sql import PgBackfillSql
from liveshift.engines.postgres.introspect import introspect as _introspect
from liveshift.engines.postgres.monitor import PgMonitor
from liveshift.engines.postgres.probe import Probe
from liveshift.engines.postgres.state_sql import STATE_SQL, PostgresStateSql
from liveshift.schema import Schema

if TYPE_CHECKING:
    from liveshift.engines.postgres.guard import PgGuard
    from liveshift.operations.actions import Action
    from liveshift.planner import MigrationPlan
    from liveshift.settings import Settings


class PostgresEngine:
    name: str = "postgresql"
    schemes: tuple[str, ...] = ("postgresql", "postgres")
    capabilities = Capabilities(
        name="postgresql",
        transactional_ddl=True,
        concurrent_index=True,
        not_valid_constraints=True,
        updatable_views=True,
        exclusion_constraints=True,
        partial_indexes=True,
        covering_indexes=True,  # INCLUDE: PostgreSQL 11 and later
        index_methods=frozenset({"btree", "hash", "gist", "gin", "spgist", "brin"}),
        identity_columns=True,
        replica_identity=True,
    )
    # liveshift's state in the database (liveshift.engines.state.StateSql).
    state_sql: PostgresStateSql = STATE_SQL
    driver_loggers: tuple[str, ...] = ("psycopg",)

    def connect(
        self, url: str, application_name: str = "liveshift", timeout_s: int = 10
    ) -> Connection:
        return connection.connect(url, application_name, timeout_s)

    def redact(self, url: str) -> str:
        return connection.redact(url)

    def introspect(self, conn: Connection, schema: str) -> Schema:
        return _introspect(conn, schema)

    def guard(self, conn: Connection, settings: Settings) -> PgGuard:
        """The lock guard the executor runs steps through (engines/guard.py)."""
        # Imported here: the guard needs the plan model, which an engine's import should not.
        from liveshift.engines.postgres.guard import PgGuard

        return PgGuard(conn, settings)

    def backfill_sql(self) -> BackfillSql:
        """The statements of the backfill's batches, slices and verification."""
        return PgBackfillSql()

    def monitor(self) -> Monitor:
        """Replica lag, load and WAL position, for the backfill's throttle."""
        return PgMonitor()

    def probe(self, conn: Connection, lock_timeout_ms: int) -> Probe:
        return Probe(conn, lock_timeout_ms)

    def annotate(self, plan: MigrationPlan, conn: Connection) -> None:
        """The backfills' WAL figures and the server's readiness for them (wal.py)."""
        from liveshift.engines.postgres import wal

        wal.annotate(plan, conn)

    def render(self, action: Action) -> str:
        # Imported here: the renderers import the operations' action types.
        from liveshift.engines.postgres.render import render

        return render(action)


POSTGRES = PostgresEngine()
