"""Catalog snapshots for operation tests: a schema's or table's shape, liveshift's leftovers."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

Conn = psycopg.Connection[Any]

_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast", "liveshift")


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


def version_schemas(conn: Conn) -> list[str]:
    """The version schemas of migrations on `public` (public_<migration>)."""
    return [s for s in user_schemas(conn) if s.startswith("public_")]


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
        (str(r[0]), str(r[1]))
        for r in conn.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = %s and table_name = %s order by ordinal_position",
            (schema, table),
        )
    ]


def shape(conn: Conn, schema: str = "public") -> dict[str, list[tuple[Any, ...]]]:
    """Everything 'exactly as before' compares: the user schemas, and in `schema` every relation,
    column, default, constraint (with validity), index (with definition, validity, replica identity
    and cluster marks), table replica identity, trigger, function, view definition and sequence (with its options)."""
    params = {"schema": schema}
    queries = {
        "relations": "select c.relname, c.relkind::text, c.relreplident::text from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace where n.nspname = %(schema)s order by 1",
        "columns": "select c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), "
        "a.attnotnull, a.attidentity::text, pg_get_expr(d.adbin, d.adrelid) from pg_attribute a "
        "join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace "
        "left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum "
        "where n.nspname = %(schema)s and c.relkind in ('r', 'p', 'v', 'm') and a.attnum > 0 "
        "and not a.attisdropped order by 1, 2",
        "constraints": "select c.relname, con.conname, pg_get_constraintdef(con.oid), "
        "con.convalidated from pg_constraint con join pg_class c on c.oid = con.conrelid "
        "join pg_namespace n on n.oid = c.relnamespace where n.nspname = %(schema)s order by 1, 2",
        "indexes": "select ic.relname, pg_get_indexdef(i.indexrelid), i.indisvalid, "
        "i.indisreplident, i.indisclustered "
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
        "sequences": "select c.relname, format_type(s.seqtypid, null), s.seqstart, "
        "s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle, "
        "pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid), d.deptype::text "
        "from pg_sequence s join pg_class c on c.oid = s.seqrelid "
        "join pg_namespace n on n.oid = c.relnamespace left join pg_depend d "
        "on d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype in ('a', 'i') "
        "where n.nspname = %(schema)s order by 1",
    }
    result = {name: conn.execute(query, params).fetchall() for name, query in queries.items()}
    result["schemas"] = [(s,) for s in user_schemas(conn)]
    return result


def table_shape(conn: Conn, table: str, schema: str = "public") -> list[tuple[Any, ...]]:
    """One table's columns, constraints, indexes and triggers: what 'exactly as before' compares
    when only that table changes."""
    name = f"{schema}.{table}"
    found = conn.execute(
        "select attname, format_type(atttypid, atttypmod), attnotnull, "
        "pg_get_expr(d.adbin, d.adrelid) from pg_attribute a "
        "left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum "
        "where attrelid = %s::regclass and attnum > 0 and not attisdropped order by attnum",
        (name,),
    ).fetchall()
    for query in (
        "select conname, pg_get_constraintdef(oid), convalidated from pg_constraint "
        "where conrelid = %s::regclass order by conname",
        "select indexrelid::regclass::text, indisvalid from pg_index "
        "where indrelid = %s::regclass order by 1",
        "select tgname from pg_trigger where tgrelid = %s::regclass and not tgisinternal "
        "order by 1",
    ):
        found += [("--",), *conn.execute(query, (name,)).fetchall()]
    return found


def rows(conn: Conn, table: str, order_by: str = "1") -> list[tuple[Any, ...]]:
    """Every row of `table` (as the connection's search_path resolves it), in a stable order."""
    return conn.execute(
        sql.SQL("select * from {} order by " + order_by).format(sql.Identifier(table))
    ).fetchall()


def leftovers(conn: Conn) -> list[str]:
    """Objects liveshift names `_ls_...` anywhere outside its state schema (columns, functions,
    triggers, constraints, indexes, sequences, tables), and the checks it adds for NOT NULL until
    complete (`<table>_<column>_not_null_check`): after complete or rollback there must be none."""
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
            "where conname like '\\_ls\\_%%' or (contype = 'c' "
            "and conname like '%%\\_not\\_null\\_check' and pg_get_constraintdef(oid) like '%%IS NOT NULL%%') "
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
