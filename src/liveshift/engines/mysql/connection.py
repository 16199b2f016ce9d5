"""MySQL / MariaDB connections through PyMySQL, with the driver's errors mapped by error number onto
the engine-neutral classes of engines/base.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pymysql
import pymysql.cursors

from liveshift.engines import base
from liveshift.engines.base import Params, Query
from liveshift.errors import ConfigError, DatabaseError

# Error number -> (neutral class, SQLSTATE). PyMySQL reads the SQLSTATE off the wire but drops it
# (err.raise_mysql_exception keeps only the number and message), so the SQLSTATE of each number
# below is the one the server documents for it (MariaDB "Error codes" pages; MySQL "Server Error
# Message Reference"); other numbers carry no SQLSTATE. Numbers marked "provoked" are raised by a
# real server in tests/mysql/test_connection.py (MariaDB 10.11); the others are from the docs only.
_BY_ERRNO: dict[int, tuple[type[base.DriverError], str | None]] = {
    # Lock wait timeout: a row lock (innodb_lock_wait_timeout) and a metadata lock
    # (lock_wait_timeout) alike; MariaDB also raises it for ALTER ... WAIT 0 / NOWAIT and
    # SELECT ... FOR UPDATE NOWAIT (provoked).
    1205: (base.LockNotAvailable, "HY000"),
    # ER_LOCK_NOWAIT: MySQL 8's SELECT ... FOR UPDATE NOWAIT (MySQL only, docs).
    3572: (base.LockNotAvailable, "HY000"),
    1213: (base.DeadlockDetected, "40001"),  # ER_LOCK_DEADLOCK (provoked)
    1317: (base.QueryCanceled, "70100"),  # ER_QUERY_INTERRUPTED: KILL QUERY (provoked)
    1969: (base.QueryCanceled, "70100"),  # MariaDB ER_STATEMENT_TIMEOUT, max_statement_time
    # (provoked)
    3024: (base.QueryCanceled, "HY000"),  # MySQL ER_QUERY_TIMEOUT, max_execution_time (docs)
    # Session gone: server gone away, lost during query, cannot connect (client-side numbers
    # PyMySQL raises itself), connection killed (MariaDB), shutdown in progress, MySQL 8's
    # disconnect for inactivity.
    2006: (base.ConnectionBroken, None),
    2013: (base.ConnectionBroken, None),  # KILL <id> of this session (provoked)
    2003: (base.ConnectionBroken, None),
    1927: (base.ConnectionBroken, "70100"),  # MariaDB ER_CONNECTION_KILLED
    1053: (base.ConnectionBroken, "08S01"),  # ER_SERVER_SHUTDOWN
    4031: (base.ConnectionBroken, "HY000"),  # MySQL 8.0.24+ ER_CLIENT_INTERACTION_TIMEOUT
    # Privileges: on a table, a "super"-like privilege, a database, the login itself, a column.
    1142: (base.InsufficientPrivilege, "42000"),  # provoked
    1227: (base.InsufficientPrivilege, "42000"),  # provoked
    1044: (base.InsufficientPrivilege, "42000"),  # provoked
    1045: (base.InsufficientPrivilege, "28000"),  # provoked (wrong password)
    1143: (base.InsufficientPrivilege, "42000"),
    1062: (base.UniqueViolation, "23000"),  # ER_DUP_ENTRY (provoked)
    1586: (base.UniqueViolation, "23000"),  # ER_DUP_ENTRY_WITH_KEY_NAME
    1050: (base.DuplicateObject, "42S01"),  # table exists (provoked)
    1060: (base.DuplicateObject, "42S21"),  # duplicate column name (provoked)
    1061: (base.DuplicateObject, "42000"),  # duplicate key name (provoked)
    1007: (base.DuplicateObject, "HY000"),  # database exists (provoked)
    1359: (base.DuplicateObject, "HY000"),  # trigger exists
    # MySQL: ER_FK_DUP_NAME; MariaDB: ER_DUP_CONSTRAINT_NAME (provoked with a CHECK on MariaDB).
    1826: (base.DuplicateObject, "HY000"),
    # read_only / super_read_only and the like: the server will not do it here.
    1290: (base.NotAvailableHere, "HY000"),
    1792: (base.NotAvailableHere, "25006"),  # write in a READ ONLY transaction
}


def translate(exc: pymysql.err.MySQLError) -> base.DriverError:
    """`exc` as the neutral error class its error number stands for."""
    args = exc.args
    errno = args[0] if args and isinstance(args[0], int) else 0
    message = str(args[1]) if len(args) > 1 else (str(exc) or type(exc).__name__)
    kind, sqlstate = _BY_ERRNO.get(errno, (None, None))
    if kind is None:
        # PyMySQL raises InterfaceError(0, '') for a statement on a connection it already lost,
        # and OperationalError with a 2xxx (client) number for socket trouble.
        lost = isinstance(exc, pymysql.err.InterfaceError) or (
            isinstance(exc, pymysql.err.OperationalError) and 2000 <= errno < 3000
        )
        kind = base.ConnectionBroken if lost else base.DriverError
        if lost and not message:
            message = "the connection to the server was lost"
    return kind(f"({errno}) {message}" if errno else message, sqlstate=sqlstate)


class _Cursor:
    """The buffered result of one statement (PyMySQL reads the whole result at execute time)."""

    def __init__(self, cursor: pymysql.cursors.Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    @property
    def description(self) -> Any:
        return self._cursor.description

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall())

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class _Pipeline:
    """PyMySQL has no pipeline: every statement already waited for its result."""

    def sync(self) -> None:
        return None


class MySQLConnection:
    """A PyMySQL connection behind engines.base.Connection (autocommit on)."""

    def __init__(self, conn: pymysql.connections.Connection[Any]) -> None:
        self.raw = conn
        self._broken = False
        self._closed = False
        self._depth = 0  # open transaction levels: 1 the transaction, more are savepoints
        self._backend_id = int(conn.thread_id())

    @property
    def broken(self) -> bool:
        return self._broken

    @property
    def closed(self) -> bool:
        return self._closed or self._broken

    @property
    def backend_id(self) -> int:
        """CONNECTION_ID() (the handshake's thread id: the same number, no round trip)."""
        return self._backend_id

    def _error(self, exc: pymysql.err.MySQLError) -> base.DriverError:
        error = translate(exc)
        if isinstance(error, base.ConnectionBroken):
            self._broken = True
            self._depth = 0  # the server rolled the transaction back with the session
        return error

    def _query_text(self, query: Query) -> str:
        return query.decode() if isinstance(query, bytes) else query

    def execute(self, query: Query, params: Params = None) -> _Cursor:
        cursor = self.raw.cursor()
        try:
            cursor.execute(self._query_text(query), params)
        except pymysql.err.MySQLError as exc:
            raise self._error(exc) from exc
        return _Cursor(cursor)

    def fetch_dicts(self, query: Query, params: Params = None) -> list[dict[str, Any]]:
        cursor = self.raw.cursor(pymysql.cursors.DictCursor)
        try:
            cursor.execute(self._query_text(query), params)
        except pymysql.err.MySQLError as exc:
            raise self._error(exc) from exc
        return list(cursor.fetchall())

    def literal(self, value: Any) -> str:
        """PyMySQL's escaping follows the session: backslashes are doubled unless sql_mode has
        NO_BACKSLASH_ESCAPES (the server reports it in every OK packet)."""
        return str(self.raw.escape(value))

    @contextmanager
    def transaction(self, force_rollback: bool = False) -> Iterator[None]:
        """BEGIN ... COMMIT, or a savepoint when one is open. DDL is not transactional here: an
        ALTER inside commits the transaction at once (the server's implicit commit)."""
        savepoint = f"_ls_sp_{self._depth}" if self._depth else None
        self.execute(f"savepoint {savepoint}" if savepoint else "begin")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            self._undo(savepoint, quiet=True)
            raise
        self._depth -= 1
        if force_rollback:
            self._undo(savepoint, quiet=False)
        elif savepoint:
            self.execute(f"release savepoint {savepoint}")
        else:
            self.execute("commit")

    def _undo(self, savepoint: str | None, *, quiet: bool) -> None:
        """Roll back to `savepoint` (or the whole transaction). `quiet`: an error is already on
        its way out, and wins: after a deadlock InnoDB has rolled back the whole transaction and
        the savepoint is gone (1305), after a lost connection there is nothing to roll back."""
        if self._broken:
            return
        try:
            if savepoint:
                self.execute(f"rollback to savepoint {savepoint}")
                self.execute(f"release savepoint {savepoint}")
            else:
                self.execute("rollback")
        except base.DriverError:
            if not quiet:
                raise

    @contextmanager
    def pipeline(self) -> Iterator[_Pipeline]:
        yield _Pipeline()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            # Already lost: closing the socket is all there was to do.
            with suppress(pymysql.err.Error):
                self.raw.close()

    def __enter__(self) -> MySQLConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class MySQLUrl:
    """A mysql:// or mariadb:// URL, read."""

    user: str
    password: str | None
    host: str
    port: int
    database: str | None
    unix_socket: str | None = None
    charset: str = "utf8mb4"
    ssl: dict[str, str] | None = None

    def redacted(self) -> str:
        where = f"{self.host}:{self.port}" if not self.unix_socket else self.unix_socket
        return f"{self.user}@{where}/{self.database or ''}"


_SSL_PARAMS = ("ssl_ca", "ssl_cert", "ssl_key")


def parse_url(url: str) -> MySQLUrl:
    """Read `mysql://user:password@host:port/database?unix_socket=...&charset=...&ssl_ca=...`
    (`mariadb://` alike); user, password and socket path are percent-decoded."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("mysql", "mariadb"):
        raise ConfigError(f"not a MySQL/MariaDB URL: scheme {parts.scheme!r}")
    try:
        port = parts.port or 3306
    except ValueError:
        raise ConfigError(
            "the database URL has an invalid port", hint="mysql://user@host:3306/database"
        ) from None
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    unknown = sorted(set(query) - {"unix_socket", "charset", *_SSL_PARAMS})
    if unknown:
        raise ConfigError(
            f"the database URL has unknown parameters: {', '.join(unknown)}",
            hint="MySQL/MariaDB URLs take unix_socket, charset, ssl_ca, ssl_cert and ssl_key.",
        )
    ssl = {key: query[key] for key in _SSL_PARAMS if key in query}
    database = unquote(parts.path.lstrip("/")) or None
    return MySQLUrl(
        user=unquote(parts.username or "root"),
        password=unquote(parts.password) if parts.password is not None else None,
        host=parts.hostname or "localhost",
        port=port,
        database=database,
        unix_socket=query.get("unix_socket"),
        charset=query.get("charset", "utf8mb4"),
        ssl=ssl or None,
    )


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return parse_url(url).redacted()
    except ConfigError:
        return "(unparseable URL)"


def connect(url: str, application_name: str = "liveshift", timeout_s: int = 10) -> MySQLConnection:
    """An autocommit connection; steps open their own transactions. `application_name` goes as
    the `program_name` connection attribute (performance_schema.session_connect_attrs on MySQL;
    MariaDB accepts it and shows it where performance_schema is on)."""
    target = parse_url(url)
    try:
        raw = pymysql.connect(
            host=target.host,
            port=target.port,
            user=target.user,
            password=target.password or "",
            database=target.database,
            unix_socket=target.unix_socket,
            charset=target.charset,
            connect_timeout=timeout_s,
            autocommit=True,
            program_name=application_name,
            ssl=target.ssl,
            # The state's timestamps (now()) are UTC, as PostgreSQL's timestamptz compare.
            init_command="set time_zone = '+00:00'",
        )
    except pymysql.err.MySQLError as exc:
        error = translate(exc)
        raise DatabaseError(
            f"cannot connect to {target.redacted()}: {error.message}",
            hint="Check that the server is running and the URL (--database-url, "
            "$LIVESHIFT_DATABASE_URL or $DATABASE_URL) is right.",
        ) from None
    return MySQLConnection(raw)
