"""Shared helpers for operation tests: catalog snapshots, clients per version, the full lifecycle."""

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

Conn = psycopg.Connection[Any]

_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast", "liveshift")


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


def user_schemas(conn: Conn) -> list[str]:
    """Schemas other than the system's and liveshift's state schema (so: public + version ones)."""
    return [
        r[0]
        for r in conn.execute(
            "select nspname from pg_namespace where nspname <> all(%s) "
            "and nspname not like 'pg\\_temp\\_%%' and nspname not like 'pg\\_toast\\_temp\\_%%' "
            "order by 1",
            (list(_SYSTEM_SCHEMAS),),
        )
    ]


def relations(conn: Conn, schema: str = "public", kinds: str = "rpvmi") -> list[str]:
    """Names of the relations of `schema` of the given pg_class relkinds, sorted."""
    return [
        r[0]
        for r in conn.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relkind = any(%s) order by 1",
            (schema, list(kinds)),
        )
    ]


def columns(conn: Conn, table: str, schema: str = "public") -> list[tuple[str, str]]:
    """(name, data type) of a table's or view's columns in order, as a client sees them."""
    return [
        (r[0], r[1])
        for r in conn.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = %s and table_name = %s order by ordinal_position",
            (schema, table),
        )
    ]


def shape(conn: Conn, schema: str = "public") -> dict[str, list[tuple[Any, ...]]]:
    """Everything 'exactly as before' compares: the user schemas, and in `schema` every relation,
    column, default, constraint (with validity), index (with definition and validity), trigger,
    function and view definition."""
    params = {"schema": schema}
    queries = {
        "relations": "select c.relname, c.relkind::text from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace where n.nspname = %(schema)s order by 1",
        "columns": "select c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), "
        "a.attnotnull, pg_get_expr(d.adbin, d.adrelid) from pg_attribute a "
        "join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace "
        "left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum "
        "where n.nspname = %(schema)s and c.relkind in ('r', 'p', 'v', 'm') and a.attnum > 0 "
        "and not a.attisdropped order by 1, 2",
        "constraints": "select c.relname, con.conname, pg_get_constraintdef(con.oid), "
        "con.convalidated from pg_constraint con join pg_class c on c.oid = con.conrelid "
        "join pg_namespace n on n.oid = c.relnamespace where n.nspname = %(schema)s order by 1, 2",
        "indexes": "select ic.relname, pg_get_indexdef(i.indexrelid), i.indisvalid "
        "from pg_index i join pg_class ic on ic.oid = i.indexrelid "
        "join pg_namespace n on n.oid = ic.relnamespace where n.nspname = %(schema)s order by 1",
        "triggers": "select c.relname, t.tgname from pg_trigger t join pg_class c "
        "on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %(schema)s and not t.tgisinternal order by 1, 2",
        "functions": "select p.oid::regprocedure::text from pg_proc p join pg_namespace n "
        "on n.oid = p.pronamespace where n.nspname = %(schema)s order by 1",
        "views": "select c.relname, pg_get_viewdef(c.oid) from pg_class c join pg_namespace n "
        "on n.oid = c.relnamespace where n.nspname = %(schema)s and c.relkind in ('v', 'm') "
        "order by 1",
    }
    result = {name: conn.execute(query, params).fetchall() for name, query in queries.items()}
    result["schemas"] = [(s,) for s in user_schemas(conn)]
    return result


def rows(conn: Conn, table: str, order_by: str = "1") -> list[tuple[Any, ...]]:
    """Every row of `table` (as the connection's search_path resolves it), in a stable order."""
    return conn.execute(
        sql.SQL("select * from {} order by " + order_by).format(sql.Identifier(table))
    ).fetchall()


def leftovers(conn: Conn) -> list[str]:
    """Objects liveshift names `_ls_...` anywhere outside its state schema: after complete or
    rollback there must be none."""
    return [
        r[0]
        for r in conn.execute(
            "select 'column ' || c.relname || '.' || a.attname from pg_attribute a "
            "join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace "
            "where a.attname like '\\_ls\\_%%' and not a.attisdropped and n.nspname <> all(%(s)s) "
            "union all select 'function ' || proname from pg_proc p join pg_namespace n "
            "on n.oid = p.pronamespace where proname like '\\_ls\\_%%' and n.nspname <> all(%(s)s) "
            "union all select 'trigger ' || tgname from pg_trigger where tgname like '\\_ls\\_%%' "
            "union all select 'constraint ' || conname from pg_constraint "
            "where conname like '\\_ls\\_%%' "
            "union all select 'relation ' || c.relname from pg_class c join pg_namespace n "
            "on n.oid = c.relnamespace where c.relname like '\\_ls\\_%%' and n.nspname <> all(%(s)s)",
            {"s": list(_SYSTEM_SCHEMAS)},
        )
    ]


def invalid_indexes(conn: Conn) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "select indexrelid::regclass::text from pg_index where not indisvalid order by 1"
        )
    ]


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
