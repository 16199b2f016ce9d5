"""PostgreSQL connections through psycopg 3, with the driver's errors mapped by SQLSTATE onto the
engine-neutral classes of engines/base.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from liveshift.engines import base
from liveshift.engines.base import Params, Query
from liveshift.errors import ConfigError, DatabaseError

# SQLSTATE -> the neutral class shared code decides on (PostgreSQL Appendix A).
_BY_SQLSTATE: dict[str, type[base.DriverError]] = {
    "55P03": base.LockNotAvailable,
    "40P01": base.DeadlockDetected,
    "57014": base.QueryCanceled,
    "42501": base.InsufficientPrivilege,
    "23505": base.UniqueViolation,
    "42710": base.DuplicateObject,
    "55000": base.NotAvailableHere,
    "57P01": base.ConnectionBroken,  # admin_shutdown (pg_terminate_backend)
    "57P02": base.ConnectionBroken,  # crash_shutdown
    "57P03": base.ConnectionBroken,  # cannot_connect_now
}


def translate(exc: psycopg.Error) -> base.DriverError:
    """`exc` as the neutral error class its SQLSTATE stands for."""
    sqlstate = exc.sqlstate
    diag = getattr(exc, "diag", None)
    message = (diag.message_primary if diag else None) or str(exc).strip()
    kind = _BY_SQLSTATE.get(sqlstate or "")
    if kind is None:
        lost = isinstance(exc, psycopg.InterfaceError) or (
            isinstance(exc, psycopg.OperationalError)
            and (sqlstate is None or sqlstate.startswith("08"))
        )
        kind = base.ConnectionBroken if lost else base.DriverError
    return kind(
        message,
        sqlstate=sqlstate,
        hint=diag.message_hint if diag else None,
        detail=diag.message_detail if diag else None,
    )


class _Cursor:
    """A psycopg cursor whose fetches raise neutral errors (in a pipeline, a result arrives at
    fetch time)."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def description(self) -> Any:
        return self._cursor.description

    def fetchone(self) -> Any:
        try:
            return self._cursor.fetchone()
        except psycopg.Error as exc:
            raise translate(exc) from exc

    def fetchall(self) -> list[Any]:
        try:
            return self._cursor.fetchall()
        except psycopg.Error as exc:
            raise translate(exc) from exc

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class _Pipeline:
    def __init__(self, pipeline: psycopg.Pipeline) -> None:
        self._pipeline = pipeline

    def sync(self) -> None:
        try:
            self._pipeline.sync()
        except psycopg.Error as exc:
            raise translate(exc) from exc


class PgConnection:
    """A psycopg connection behind engines.base.Connection."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn

    @property
    def broken(self) -> bool:
        return self.raw.broken

    @property
    def closed(self) -> bool:
        return self.raw.closed

    @property
    def backend_id(self) -> int:
        return self.raw.info.backend_pid

    def execute(self, query: Query, params: Params = None) -> _Cursor:
        try:
            return _Cursor(self.raw.execute(query, params))
        except psycopg.Error as exc:
            raise translate(exc) from exc

    def fetch_dicts(self, query: Query, params: Params = None) -> list[dict[str, Any]]:
        try:
            with self.raw.cursor(row_factory=dict_row) as cur:
                return cur.execute(query, params).fetchall()
        except psycopg.Error as exc:
            raise translate(exc) from exc

    def literal(self, value: Any) -> str:
        return sql.Literal(value).as_string(self.raw)

    @contextmanager
    def transaction(self, force_rollback: bool = False) -> Iterator[None]:
        try:
            with self.raw.transaction(force_rollback=force_rollback):
                yield
        except psycopg.Error as exc:
            raise translate(exc) from exc

    @contextmanager
    def pipeline(self) -> Iterator[_Pipeline]:
        try:
            with self.raw.pipeline() as pipeline:
                yield _Pipeline(pipeline)
        except psycopg.Error as exc:
            raise translate(exc) from exc

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> PgConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return "(unparseable URL)"
    host = params.get("host", "localhost")
    return f"{params.get('user', '')}@{host}:{params.get('port', 5432)}/{params.get('dbname', '')}"


def set_local(conn: base.Connection, settings: list[tuple[str, str]]) -> None:
    """SET LOCAL each (name, value) for the open transaction, in one statement (it also goes
    into a pipeline)."""
    conn.execute(
        "select " + ", ".join("set_config(%s, %s, true)" for _ in settings),
        [value for pair in settings for value in pair],
    )


def connect(url: str, application_name: str = "liveshift", timeout_s: int = 10) -> PgConnection:
    """An autocommit connection; steps open their own transactions."""
    try:
        return PgConnection(
            psycopg.connect(
                url, autocommit=True, application_name=application_name, connect_timeout=timeout_s
            )
        )
    except psycopg.OperationalError as exc:
        raise DatabaseError(
            f"cannot connect to {redact(url)}: {str(exc).strip()}",
            hint="Check that the server is running and the URL (--database-url, "
            "$LIVESHIFT_DATABASE_URL or $DATABASE_URL) is right.",
        ) from None
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"the database URL is not valid: {exc}") from None
