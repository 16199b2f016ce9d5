"""PostgreSQL (11 and later; tested on 15 and the embedded 16), through psycopg 3."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveshift.engines.base import Capabilities, Connection
from liveshift.engines.postgres import connection
from liveshift.engines.postgres.introspect import introspect as _introspect
from liveshift.schema import Schema

if TYPE_CHECKING:
    from liveshift.engines.postgres.guard import PgGuard
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


POSTGRES = PostgresEngine()
