"""Which database to talk to, and opening a connection with a clear error when it fails."""

from __future__ import annotations

import os
from typing import Any

import psycopg

from liveshift.errors import ConfigError, DatabaseError

ENV_VARIABLES = ("LIVESHIFT_DATABASE_URL", "DATABASE_URL")


def resolve_url(url: str | None) -> str:
    """--database-url, else $LIVESHIFT_DATABASE_URL, else $DATABASE_URL, else the embedded server."""
    for candidate in (url, *(os.environ.get(v) for v in ENV_VARIABLES)):
        if candidate:
            return check_scheme(candidate)
    from liveshift.embedded import embedded_url

    return embedded_url()


def check_scheme(url: str) -> str:
    scheme = url.split(":", 1)[0].lower() if "://" in url else "postgresql"
    if scheme in ("postgresql", "postgres"):
        return url
    if scheme in ("mysql", "mariadb", "sqlite"):
        raise ConfigError(
            f"{scheme} databases are not supported by this version of liveshift yet",
            hint="PostgreSQL is supported today (postgresql://...); MySQL/MariaDB and SQLite "
            "adapters are on the way.",
        )
    raise ConfigError(
        f"unknown database URL scheme {scheme!r}",
        hint="Use postgresql://user@host:port/dbname (or mysql://, sqlite:///path).",
    )


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return "(unparseable URL)"
    host = params.get("host", "localhost")
    return f"{params.get('user', '')}@{host}:{params.get('port', 5432)}/{params.get('dbname', '')}"


def set_local(conn: psycopg.Connection[Any], settings: list[tuple[str, str]]) -> None:
    """SET LOCAL each (name, value) for the open transaction, in one statement (it also goes
    into a pipeline)."""
    conn.execute(
        "select " + ", ".join("set_config(%s, %s, true)" for _ in settings),
        [value for pair in settings for value in pair],
    )


def connect(url: str, application_name: str = "liveshift") -> psycopg.Connection[Any]:
    """An autocommit connection; steps open their own transactions."""
    try:
        return psycopg.connect(
            url, autocommit=True, application_name=application_name, connect_timeout=10
        )
    except psycopg.OperationalError as exc:
        raise DatabaseError(
            f"cannot connect to {redact(url)}: {str(exc).strip()}",
            hint="Check that the server is running and the URL (--database-url, "
            "$LIVESHIFT_DATABASE_URL or $DATABASE_URL) is right.",
        ) from None
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"the database URL is not valid: {exc}") from None
