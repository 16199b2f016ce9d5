"""PostgreSQL (11 and later; tested on 15 and the embedded 16), through psycopg 3."""

from __future__ import annotations

from liveshift.engines.base import Capabilities, Connection
from liveshift.engines.postgres import connection
from liveshift.engines.postgres.introspect import introspect as _introspect
from liveshift.engines.postgres.probe import Probe
from liveshift.engines.postgres.state_sql import STATE_SQL, PostgresStateSql
from liveshift.schema import Schema


class PostgresEngine:
    name: str = "postgresql"
    schemes: tuple[str, ...] = ("postgresql", "postgres")
    capabilities = Capabilities(
        name="postgresql",
        transactional_ddl=True,
        concurrent_index=True,
        not_valid_constraints=True,
        updatable_views=True,
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

    def probe(self, conn: Connection, lock_timeout_ms: int) -> Probe:
        return Probe(conn, lock_timeout_ms)


POSTGRES = PostgresEngine()
