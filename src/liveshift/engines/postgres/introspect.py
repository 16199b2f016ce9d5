"""PostgreSQL: the live catalog read into the schema model."""

from __future__ import annotations

from liveshift.engines.base import Connection
from liveshift.schema import Column, Constraint, Index, Schema, Table, Trigger

# In creation order (oid), so plans list tables the same way every time (a heap scan of
# pg_class returns them in whatever order its pages hold them).
# Sizes as of the last VACUUM or ANALYZE, like reltuples: from the catalog alone, so reading them
# takes no lock on a table (pg_relation_size would, and wait behind an ACCESS EXCLUSIVE).
_TABLES = """
select c.oid, c.relname, greatest(c.reltuples, 0)::bigint,
       c.relpages::bigint * current_setting('block_size')::int,
       (select coalesce(sum(ic.relpages), 0)::bigint * current_setting('block_size')::int
        from pg_index i join pg_class ic on ic.oid = i.indexrelid where i.indrelid = c.oid)
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname = %(schema)s and c.relkind in ('r', 'p')
order by c.oid
"""

_COLUMNS = """
select a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), not a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attgenerated <> '', a.attidentity <> ''
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
where n.nspname = %(schema)s and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped
order by a.attrelid, a.attnum
"""

_INDEXES = """
select i.indrelid, ic.relname,
       array(select a.attname from unnest(i.indkey) with ordinality k(attnum, ord)
             join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
             order by k.ord)::text[],
       i.indisunique, i.indisprimary, i.indisvalid, i.indpred is not null,
       pg_get_indexdef(i.indexrelid)
from pg_index i
join pg_class ic on ic.oid = i.indexrelid
join pg_class c on c.oid = i.indrelid
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = %(schema)s
"""

_CONSTRAINTS = """
select con.conrelid, con.conname, con.contype::text,
       array(select a.attname from unnest(con.conkey) k(attnum)
             join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum)::text[],
       con.convalidated, pg_get_constraintdef(con.oid),
       case when con.confrelid <> 0 then con.confrelid::regclass::text end
from pg_constraint con
join pg_class c on c.oid = con.conrelid
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = %(schema)s
"""

# tgtype bits (pg_trigger.h): 1 row-level, 2 before, 16 update, 64 instead of.
_TRIGGERS = """
select t.tgrelid, t.tgname,
       case when t.tgtype & 2 <> 0 then 'before' when t.tgtype & 64 <> 0 then 'instead of'
            else 'after' end,
       t.tgtype & 1 <> 0, t.tgtype & 16 <> 0, t.tgenabled::text,
       array(select a.attname from unnest(t.tgattr) k(attnum)
             join pg_attribute a on a.attrelid = t.tgrelid and a.attnum = k.attnum)::text[],
       t.tgqual is not null
from pg_trigger t
join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
where n.nspname = %(schema)s and not t.tgisinternal
order by t.tgname
"""


def introspect(conn: Connection, schema: str) -> Schema:
    """Read every table of `schema` into the schema model (one round trip per catalog)."""
    params = {"schema": schema}
    version = int(conn.execute("show server_version_num").fetchone()[0])
    model = Schema(name=schema, server_version=version)
    by_oid: dict[int, Table] = {}
    for oid, name, rows, heap_bytes, index_bytes in conn.execute(_TABLES, params):
        table = Table(
            schema=schema,
            name=name,
            estimated_rows=rows,
            heap_bytes=heap_bytes,
            index_bytes=index_bytes,
        )
        by_oid[oid] = table
        model.tables[name] = table
    for oid, name, type_, nullable, default, generated, identity in conn.execute(_COLUMNS, params):
        by_oid[oid].columns[name] = Column(
            name=name,
            type=type_,
            nullable=nullable,
            default=default,
            generated=generated,
            identity=identity,
        )
    for oid, name, columns, unique, primary, valid, partial, definition in conn.execute(
        _INDEXES, params
    ):
        if oid in by_oid:
            by_oid[oid].indexes[name] = Index(
                name, list(columns), unique, primary, valid, partial, definition
            )
    for oid, name, kind, columns, validated, definition, referenced in conn.execute(
        _CONSTRAINTS, params
    ):
        if oid in by_oid:
            by_oid[oid].constraints[name] = Constraint(
                name, kind, list(columns), validated, definition, referenced
            )
    for oid, name, timing, row_level, on_update, enabled, update_of, condition in conn.execute(
        _TRIGGERS, params
    ):
        if oid in by_oid:
            by_oid[oid].triggers.append(
                Trigger(name, timing, row_level, on_update, enabled, tuple(update_of), condition)
            )
    return model
