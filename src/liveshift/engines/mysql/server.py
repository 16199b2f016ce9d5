"""MySQL / MariaDB servers: flavour and version read from the server, and the facts recipes decide
on (instant DDL, lock-wait syntax, enforced CHECKs, where metadata locks can be seen).

Decided by what the server says (`version()`), never by the URL's scheme: a mariadb:// URL may
point at MySQL and the other way round. Sources: the MariaDB Knowledge Base ("InnoDB Online DDL
Operations with the INSTANT Alter Algorithm", "WAIT and NOWAIT", "CHECK constraints",
"metadata_lock_info plugin") and the MySQL 8.0 reference manual ("Online DDL Operations",
"Locking Read Concurrency with NOWAIT and SKIP LOCKED", "CHECK Constraints"). Only MariaDB 10.11
was at hand: tests/mysql/test_server.py checks each MariaDB fact there; the MySQL branches are
from the manual alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from liveshift.engines.base import Connection, DriverError

Flavour = Literal["mariadb", "mysql"]


@dataclass(frozen=True)
class ServerInfo:
    """What a server is: its flavour and version, and the text they were read from."""

    flavour: Flavour
    version: tuple[int, int, int]
    version_text: str  # version(), e.g. "10.11.19-MariaDB-0+deb12u1" or "8.0.36"
    comment: str  # @@version_comment, e.g. "Debian 12" or "MySQL Community Server - GPL"

    @property
    def number(self) -> int:
        """The version as one number (10.11.19 -> 101119, 8.0.36 -> 80036), for
        Schema.server_version."""
        major, minor, patch = self.version
        return major * 10000 + minor * 100 + patch

    @property
    def mariadb(self) -> bool:
        return self.flavour == "mariadb"

    def at_least(self, mariadb: tuple[int, ...] | None, mysql: tuple[int, ...] | None) -> bool:
        """Whether this server is at least the version given for its flavour (None: never)."""
        wanted = mariadb if self.mariadb else mysql
        return wanted is not None and self.version >= _padded(wanted)

    def describe(self) -> str:
        name = "MariaDB" if self.mariadb else "MySQL"
        return f"{name} {'.'.join(map(str, self.version))}"


def _padded(version: tuple[int, ...]) -> tuple[int, int, int]:
    major, minor, patch = (*version, 0, 0, 0)[:3]
    return (major, minor, patch)


_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def parse_version(version_text: str, comment: str = "") -> ServerInfo:
    """Flavour and version from `version()` and `@@version_comment`. MariaDB says so in
    version() ("10.11.19-MariaDB-..."); a replication-compatible "5.5.5-" prefix (seen in the
    handshake of MariaDB 10.x) is skipped."""
    text = version_text.removeprefix("5.5.5-")
    match = _VERSION.search(text)
    if match is None:
        raise ValueError(f"cannot read a server version from {version_text!r}")
    flavour: Flavour = "mariadb" if "mariadb" in f"{version_text} {comment}".lower() else "mysql"
    major, minor, patch = (int(part) for part in match.groups())
    return ServerInfo(flavour, (major, minor, patch), version_text, comment)


def server_info(conn: Connection) -> ServerInfo:
    """Ask the server what it is."""
    version_text, comment = conn.execute("select version(), @@version_comment").fetchone()
    return parse_version(str(version_text), str(comment or ""))


# -- DDL facts -----------------------------------------------------------------------------------


def instant_add_column(info: ServerInfo, *, at_end: bool) -> bool:
    """ADD COLUMN with ALGORITHM=INSTANT. MariaDB: 10.3.2 as the last column, 10.4 anywhere
    (verified: AFTER and FIRST on 10.11). MySQL: 8.0.12 as the last column, 8.0.29 anywhere."""
    if at_end:
        return info.at_least(mariadb=(10, 3, 2), mysql=(8, 0, 12))
    return info.at_least(mariadb=(10, 4), mysql=(8, 0, 29))


def instant_drop_column(info: ServerInfo) -> bool:
    """DROP COLUMN with ALGORITHM=INSTANT: MariaDB 10.4 (verified on 10.11), MySQL 8.0.29."""
    return info.at_least(mariadb=(10, 4), mysql=(8, 0, 29))


def alter_wait_clause(info: ServerInfo) -> bool:
    """`ALTER TABLE t WAIT n | NOWAIT ...` (also CREATE/DROP INDEX, RENAME/DROP/TRUNCATE TABLE,
    LOCK TABLE): MariaDB 10.3.0 (MDEV-11379; verified: fails at once with 1205 behind an open
    transaction). MySQL has no such clause: set the session's lock_wait_timeout instead."""
    return info.at_least(mariadb=(10, 3), mysql=None)


def select_nowait(info: ServerInfo) -> bool:
    """`SELECT ... FOR UPDATE NOWAIT`: MariaDB 10.3.0 (error 1205, verified), MySQL 8.0.1 (error
    3572)."""
    return info.at_least(mariadb=(10, 3), mysql=(8, 0, 1))


def min_lock_wait_timeout_s(info: ServerInfo) -> int:
    """The smallest session lock_wait_timeout (whole seconds on both: MariaDB rejects 0.5,
    verified). MariaDB accepts 0, "do not wait" (10.3.0, with WAIT/NOWAIT); MySQL's minimum is
    1."""
    return 0 if info.at_least(mariadb=(10, 3), mysql=None) else 1


def set_statement(info: ServerInfo) -> bool:
    """`SET STATEMENT var = value FOR <statement>` (one statement's lock_wait_timeout or
    max_statement_time): MariaDB 10.1.2 (verified). MySQL has none (SET_VAR hints cover a few
    variables; not relied on here)."""
    return info.at_least(mariadb=(10, 1, 2), mysql=None)


def statement_timeout_variable(info: ServerInfo) -> tuple[str, float]:
    """The session variable bounding a statement's run time and its unit in seconds: MariaDB's
    max_statement_time in seconds (fractions allowed; any statement; verified: error 1969), MySQL's
    max_execution_time in milliseconds (read-only SELECTs only; error 3024)."""
    return ("max_statement_time", 1.0) if info.mariadb else ("max_execution_time", 0.001)


def check_constraints_enforced(info: ServerInfo) -> bool:
    """CHECK constraints are enforced: MariaDB 10.2.1 (verified on 10.11), MySQL 8.0.16 (before,
    MySQL parsed and ignored them)."""
    return info.at_least(mariadb=(10, 2, 1), mysql=(8, 0, 16))


def instant_rename_column(info: ServerInfo) -> bool:
    """RENAME COLUMN / CHANGE of the name only, ALGORITHM=INSTANT: MariaDB 10.4 (verified on
    10.11), MySQL 8.0.28."""
    return info.at_least(mariadb=(10, 4), mysql=(8, 0, 28))


# -- where metadata locks can be seen --------------------------------------------------------------

MetadataLockSource = Literal["performance_schema", "metadata_lock_info"]


def metadata_lock_source(conn: Connection) -> MetadataLockSource | None:
    """Where this server shows who holds (or waits for) a metadata lock: performance_schema
    .metadata_locks when performance_schema is on with its MDL instrument (MySQL 8 default; pending
    locks too), else MariaDB's metadata_lock_info plugin when installed (granted locks only;
    `INSTALL SONAME 'metadata_lock_info'` needs the INSERT privilege on mysql.plugin), else None:
    then only PROCESSLIST ("Waiting for table metadata lock") and INNODB_TRX name a blocker."""
    try:
        enabled = conn.execute(
            "select count(*) from performance_schema.setup_instruments"
            " where name = 'wait/lock/metadata/sql/mdl' and enabled = 'YES'"
            " and @@performance_schema = 1"
        ).fetchone()[0]
        if enabled:
            return "performance_schema"
    except DriverError:
        pass  # performance_schema compiled out or not readable by this user
    installed = conn.execute(
        "select count(*) from information_schema.PLUGINS"
        " where PLUGIN_NAME = 'METADATA_LOCK_INFO' and PLUGIN_STATUS = 'ACTIVE'"
    ).fetchone()[0]
    return "metadata_lock_info" if installed else None
