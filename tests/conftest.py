"""Test fixtures: real servers only. Every test gets a fresh database on every configured server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import conninfo, sql

PG15_URL = os.environ.get("LIVESHIFT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("LIVESHIFT_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
EMBEDDED_DIR = Path(os.environ.get("LIVESHIFT_TEST_EMBEDDED_DIR", "/tmp/liveshift-test-pg16"))


@dataclass(frozen=True)
class PgServer:
    """A PostgreSQL server the tests run against, with its admin URL."""

    name: str
    admin_url: str

    def version(self) -> int:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            return int(conn.execute("show server_version_num").fetchone()[0])  # type: ignore[index]


def _server_reachable(url: str) -> None:
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("select 1")
    except psycopg.OperationalError as exc:  # fail, never skip: CI must go red
        pytest.fail(f"PostgreSQL at {url} is unreachable: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def pg15() -> PgServer:
    _server_reachable(PG15_URL)
    return PgServer("pg15", PG15_URL)


@pytest.fixture(scope="session")
def pg16_embedded() -> PgServer:
    from liveshift.embedded import embedded_url

    url = embedded_url(EMBEDDED_DIR, announce=False)
    _server_reachable(url)
    return PgServer("pg16-embedded", url)


@pytest.fixture(scope="session", params=["pg15", "pg16-embedded"])
def pg_server(request: pytest.FixtureRequest) -> PgServer:
    """Each PostgreSQL server in turn: the system PostgreSQL 15 and the embedded PostgreSQL 16."""
    fixture = "pg15" if request.param == "pg15" else "pg16_embedded"
    server: PgServer = request.getfixturevalue(fixture)
    return server


def _with_dbname(url: str, dbname: str) -> str:
    params = conninfo.conninfo_to_dict(url)
    params["dbname"] = dbname
    return conninfo.make_conninfo(**params)


def fresh_database(server: PgServer) -> Iterator[str]:
    name = f"ls_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        yield _with_dbname(server.admin_url, name)
    finally:
        with psycopg.connect(server.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty database on each PostgreSQL server, dropped after the test."""
    yield from fresh_database(pg_server)


@pytest.fixture
def pg15_url(pg15: PgServer) -> Iterator[str]:
    """A fresh database on the system PostgreSQL 15 only (for replica and server-level tests)."""
    yield from fresh_database(pg15)


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """An autocommit connection to the fresh database."""
    with psycopg.connect(pg_url, autocommit=True) as c:
        yield c


@pytest.fixture
def login_role(pg_url: str) -> Iterator[str]:
    """The URL of a new role in the fresh database that may only log in (a test grants it what it
    needs); dropped with what it owns afterwards."""
    role = f"ls_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
        try:
            yield conninfo.make_conninfo(pg_url, user=role)
        finally:
            conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


from tests.golden_plans import golden_plans, write_recorded  # noqa: E402, F401


def pytest_sessionfinish(session: pytest.Session) -> None:
    write_recorded()
