"""Fixtures for the MySQL/MariaDB engine: the server at $LIVESHIFT_TEST_MYSQL_URL (MariaDB 10.11 at
127.0.0.1:3306 by default), a fresh database per test, a throwaway user."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pymysql
import pytest

from liveshift.engines.mysql.connection import MySQLConnection, connect, parse_url
from tests.conftest import MARIADB_URL


def _raw(url: str) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
    target = parse_url(url)
    return pymysql.connect(
        host=target.host,
        port=target.port,
        user=target.user,
        password=target.password or "",
        database=target.database,
        autocommit=True,
        connect_timeout=5,
    )


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


@pytest.fixture(scope="session")
def mysql_admin_url() -> str:
    """The server's admin URL; the test FAILS (never skips) when it is unreachable: CI must go
    red."""
    try:
        _raw(MARIADB_URL).close()
    except pymysql.err.MySQLError as exc:
        pytest.fail(f"MySQL/MariaDB at {MARIADB_URL} is unreachable: {exc}", pytrace=False)
    return MARIADB_URL


@pytest.fixture
def mysql_db(mysql_admin_url: str) -> Iterator[str]:
    """The name of a fresh, empty database, dropped after the test."""
    name = f"ls_test_{uuid.uuid4().hex[:12]}"
    with _raw(mysql_admin_url) as admin:
        admin.cursor().execute(f"create database `{name}`")
    try:
        yield name
    finally:
        with _raw(mysql_admin_url) as admin:
            admin.cursor().execute(f"drop database if exists `{name}`")


@pytest.fixture
def mysql_url(mysql_admin_url: str, mysql_db: str) -> str:
    """The URL of the fresh database."""
    return with_database(mysql_admin_url, mysql_db)


@pytest.fixture
def mconn(mysql_url: str) -> Iterator[MySQLConnection]:
    """An autocommit MySQLConnection to the fresh database."""
    with connect(mysql_url) as conn:
        yield conn


@pytest.fixture
def mysql_user(mysql_admin_url: str, mysql_db: str) -> Iterator[str]:
    """The URL (to the fresh database) of a new user who may only log in and read that
    database; dropped afterwards."""
    user = f"ls_u_{uuid.uuid4().hex[:10]}"
    admin = _raw(mysql_admin_url)
    cur = admin.cursor()
    cur.execute(f"create user '{user}'@'%' identified by 'pw-{user}'")
    cur.execute(f"grant select on `{mysql_db}`.* to '{user}'@'%'")
    target = parse_url(mysql_admin_url)
    try:
        yield f"mysql://{user}:pw-{user}@{target.host}:{target.port}/{mysql_db}"
    finally:
        cur.execute(f"drop user '{user}'@'%'")
        admin.close()
