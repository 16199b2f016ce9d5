"""MySQL / MariaDB (InnoDB): capabilities only, for now. The engine itself is the issue
"MySQL/MariaDB"; until then its URLs are planned as far as capabilities decide, then refused."""

from __future__ import annotations

from liveshift.engines.base import Capabilities, Connection
from liveshift.errors import ConfigError
from liveshift.schema import Schema


class MySQLEngine:
    name: str = "mysql"
    schemes: tuple[str, ...] = ("mysql", "mariadb")
    capabilities = Capabilities(
        name="mysql",
        transactional_ddl=False,  # every DDL statement commits the transaction it runs in
        concurrent_index=True,  # ALGORITHM=INPLACE, LOCK=NONE
        not_valid_constraints=False,  # ADD CHECK / FOREIGN KEY with checks copy the table
        updatable_views=True,  # views in a version database accept writes
    )

    def connect(
        self, url: str, application_name: str = "liveshift", timeout_s: int = 10
    ) -> Connection:
        raise ConfigError(
            "MySQL/MariaDB databases are not supported by this version of liveshift yet",
            hint="PostgreSQL is supported today (postgresql://...); `liveshift lint` reads "
            "PostgreSQL SQL.",
        )

    def redact(self, url: str) -> str:
        rest = url.split("://", 1)[-1]
        return rest.rsplit("@", 1)[-1] if "@" in rest else rest

    def introspect(self, conn: Connection, schema: str) -> Schema:
        raise NotImplementedError("the MySQL engine reads no catalog yet")


MYSQL = MySQLEngine()
