"""Compare what liveshift built with what PostgreSQL builds from the same definition written
directly, on a twin of the tables in a scratch schema."""

from __future__ import annotations

from typing import Any

from tests.operations.catalog import Conn

TWIN = "ls_twin"

_DEFS = """
select 'constraint', con.conname, con.contype::text, pg_get_constraintdef(con.oid),
       con.convalidated::text
from pg_constraint con where con.conrelid = %(table)s::regclass
union all
select 'index', ic.relname, i.indisunique::text || i.indisprimary::text,
       replace(pg_get_indexdef(i.indexrelid), %(schema)s || '.', ''),
       i.indisvalid::text || i.indisreplident::text
from pg_index i join pg_class ic on ic.oid = i.indexrelid where i.indrelid = %(table)s::regclass
union all
select 'column', a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull::text, ''
from pg_attribute a where a.attrelid = %(table)s::regclass and a.attnum > 0 and not a.attisdropped
union all
select 'table', c.relname, c.relreplident::text, '', '' from pg_class c
where c.oid = %(table)s::regclass
order by 1, 2
"""


def definitions(conn: Conn, table: str, schema: str = "public") -> list[tuple[Any, ...]]:
    """A table's columns (type, NOT NULL), constraints (pg_get_constraintdef, validated), indexes (pg_get_indexdef without
    the schema, valid, replica identity) and replica identity (pg_class.relreplident)."""
    return conn.execute(_DEFS, {"table": f"{schema}.{table}", "schema": schema}).fetchall()


def direct(conn: Conn, setup: str, statements: str, table: str) -> list[tuple[Any, ...]]:
    """definitions() of `table` after `setup` then `statements` run directly (names unqualified)
    in a scratch schema, dropped afterwards."""
    conn.execute(f"create schema {TWIN}")
    try:
        conn.execute(f"set search_path = {TWIN}")
        conn.execute(setup)
        conn.execute(statements)
        return definitions(conn, table, TWIN)
    finally:
        conn.execute("reset search_path")
        conn.execute(f"drop schema {TWIN} cascade")
