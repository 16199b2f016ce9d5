"""Shared helpers for operation tests: clients per version, the full lifecycle, refusals."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import sql

from liveshift.errors import ValidationError
from liveshift.migration import Migration
from liveshift.migrator import Migrator
from tests.operations.catalog import Conn, invalid_indexes, leftovers, shape, user_schemas


@contextmanager
def client(url: str, search_path: str = "public") -> Iterator[Conn]:
    """An autocommit connection as an application version: `public` for old clients, the version
    schema (e.g. `public_m1`) for new clients."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("set search_path = {}").format(sql.Identifier(search_path)))
        yield conn


def migration(name: str = "m1", *operations: dict[str, Any]) -> Migration:
    """A migration from operation dicts, e.g. migration("m1", {"drop_index": {"name": "i"}})."""
    return Migration.from_dict({"operations": list(operations)}, name=name)


def run_lifecycle(
    url: str,
    the_migration: Migration,
    *,
    started: Callable[[Conn, Conn], None],
    completed: Callable[[Conn], None],
) -> None:
    """start -> `started(old, new)` -> rollback -> exactly as before -> start -> `started` ->
    complete -> `completed(conn)` -> no leftovers, only the migration's version schema remains.

    `started` gets an old-version client (search_path public) and a new-version client (search_path
    the version schema); it may write through both: the rollback check compares the catalog only,
    so write rows the rollback must keep, or undo them, as the operation requires."""
    version_schema = f"public_{the_migration.name}"
    with client(url) as conn:
        before = shape(conn)
    migrator = Migrator(url)
    migrator.start(the_migration)
    with client(url) as old, client(url, version_schema) as new:
        assert version_schema in user_schemas(old)
        started(old, new)
    migrator.rollback()
    with client(url) as conn:
        assert shape(conn) == before, "rollback did not restore the schema exactly"
        assert leftovers(conn) == []
        assert invalid_indexes(conn) == []
    migrator.start(the_migration)
    with client(url) as old, client(url, version_schema) as new:
        started(old, new)
    migrator.complete()
    with client(url) as conn:
        completed(conn)
        assert leftovers(conn) == []
        assert invalid_indexes(conn) == []
        assert user_schemas(conn) == sorted(["public", version_schema])


def assert_refused(url: str, the_migration: Migration, match: str) -> ValidationError:
    """The migration is refused as bad input (exit code 2) before anything changes."""
    with client(url) as conn:
        before = shape(conn)
    with pytest.raises(ValidationError, match=match) as refused:
        Migrator(url).start(the_migration)
    assert refused.value.exit_code == 2
    with client(url) as conn:
        assert shape(conn) == before
        state = conn.execute("select to_regclass('liveshift.migrations') is not null").fetchone()
        if state and state[0]:
            assert conn.execute("select count(*) from liveshift.migrations").fetchone() == (0,)
    return refused.value
