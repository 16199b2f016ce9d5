"""MySQL / MariaDB (InnoDB), being built (issue 17): capabilities, connection, catalog, probe,
renderer, guard, state and the backfill's statements exist, each tested on MariaDB; one migration
run end to end does not yet, so `connect` refuses and plan goes as far as capabilities decide."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveshift.engines.base import Capabilities, Connection
from liveshift.errors import ConfigError
from liveshift.schema import Schema

if TYPE_CHECKING:
    from liveshift.engines.backfill import BackfillSql, Monitor
    from liveshift.engines.guard import Guard
    from liveshift.engines.probe import Probe
    from liveshift.engines.state import StateSql
    from liveshift.operations.actions import Action
    from liveshift.planner import MigrationPlan
    from liveshift.settings import Settings

NOT_BUILT = (
    "the MySQL/MariaDB engine is not built yet: liveshift cannot run migrations on MySQL yet"
)


class MySQLEngine:
    """Declares what InnoDB can do, so that plan refuses what it cannot before connecting; it
    connects to nothing yet."""

    name: str = "mysql"
    schemes: tuple[str, ...] = ("mysql", "mariadb")
    # InnoDB as of MySQL 8.0 and MariaDB 10.11; where the two differ, the flag takes what both
    # can do (docs/engines.md notes the flavours).
    capabilities = Capabilities(
        name="mysql",
        transactional_ddl=False,  # every DDL statement commits the transaction it runs in
        concurrent_index=True,  # ALGORITHM=INPLACE, LOCK=NONE
        not_valid_constraints=False,  # ADD CHECK / FOREIGN KEY with checks copy the table
        updatable_views=True,  # views in a version database accept writes
        exclusion_constraints=False,  # no EXCLUDE constraints
        partial_indexes=False,  # no CREATE INDEX ... WHERE
        covering_indexes=False,  # no INCLUDE (InnoDB secondary indexes carry the primary key)
        index_methods=frozenset({"btree"}),  # InnoDB builds BTREE (HASH is taken as BTREE)
        identity_columns=False,  # AUTO_INCREMENT, not GENERATED ... AS IDENTITY
        replica_identity=False,  # the binlog's row image is a server setting, not per table
    )

    def connect(
        self, url: str, application_name: str = "liveshift", timeout_s: int = 10
    ) -> Connection:
        raise ConfigError(
            NOT_BUILT,
            hint="`liveshift plan` checks a migration against the MySQL engine's capabilities "
            "without connecting; running it needs the engine itself (issue 17). "
            "PostgreSQL is supported today (postgresql://...).",
        )

    @property
    def state_sql(self) -> StateSql:
        """liveshift's state in the `liveshift` database (imported when first asked for)."""
        from liveshift.engines.mysql.state_sql import STATE_SQL

        return STATE_SQL

    driver_loggers: tuple[str, ...] = ("pymysql",)

    def guard(self, conn: Connection, settings: Settings) -> Guard:
        """The never-wait metadata-lock guard (engines/mysql/guard.py)."""
        from liveshift.engines.mysql.guard import MySQLGuard

        return MySQLGuard(conn, settings)

    def render(self, action: Action) -> str:
        """The statement of one action on InnoDB, online or refused (engines/mysql/render/)."""
        from liveshift.engines.mysql.render import render

        return render(action)

    def backfill_sql(self) -> BackfillSql:
        """Keyset batches that are safe for statement-based replication (backfill_sql.py)."""
        from liveshift.engines.mysql.backfill_sql import MySQLBackfillSql

        return MySQLBackfillSql()

    def monitor(self) -> Monitor:
        """Load, and replica lag by heartbeat (monitor.py); one per backfill: it keeps the
        heartbeat's timing."""
        from liveshift.engines.mysql.monitor import MySQLMonitor

        return MySQLMonitor()

    def probe(self, conn: Connection, lock_timeout_ms: int) -> Probe:
        """The planner's questions, each decided by the server (probe.py)."""
        from liveshift.engines.mysql.probe import probe

        return probe(conn, lock_timeout_ms)

    def annotate(self, plan: MigrationPlan, conn: Connection) -> None:
        """No notes yet (a backfill's binary-log volume is the counterpart of PostgreSQL's WAL)."""

    def redact(self, url: str) -> str:
        from liveshift.engines.mysql.connection import redact

        return redact(url)

    def introspect(self, conn: Connection, schema: str) -> Schema:
        from liveshift.engines.mysql.introspect import introspect

        return introspect(conn, schema)


MYSQL = MySQLEngine()
