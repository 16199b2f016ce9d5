"""PostgreSQL's answers to the catalog questions operations ask about live objects."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from liveshift.engines.probe_objects import (
    ColumnFacts,
    ConstraintFact,
    Dependent,
    IndexFact,
    IndexShape,
    ReferencingKeyFact,
    ReplicaIdentityFacts,
    SequenceFact,
    TableDependent,
)
from liveshift.engines.state import STATE_SCHEMA
from liveshift.schema import Table, quote_ident, quote_literal
from liveshift.triggers import REPLICA_ROLE

if TYPE_CHECKING:
    from liveshift.operations.actions import Action

T = TypeVar("T")

# -- what depends on a column --

# One row per object that depends on the column: its kind, its name, and whether it involves
# other columns of the table too (so it cannot simply go away with the column).
_DEPENDENTS = """
with col as (
  select a.attrelid as rel, a.attnum as num from pg_attribute a
  where a.attrelid = {table}::regclass and a.attname = {column} and not a.attisdropped
), deps as (
  select d.classid, d.objid, d.deptype from pg_depend d, col
  where d.refclassid = 'pg_class'::regclass and d.refobjid = col.rel and d.refobjsubid = col.num
    and d.deptype in ('n', 'a')
)
select distinct kind, name, involves_others from (
  select case v.relkind when 'm' then 'materialized view' else 'view' end as kind,
         v.oid::regclass::text as name, true as involves_others
  from deps join pg_rewrite r on deps.classid = 'pg_rewrite'::regclass and r.oid = deps.objid
  join pg_class v on v.oid = r.ev_class
  join pg_namespace vn on vn.oid = v.relnamespace
  where v.oid <> (select rel from col) and vn.nspname not in ({version_schemas})
  union all
  select 'index', i.oid::regclass::text,
         (select count(*) from unnest(x.indkey) k where k <> 0) <> 1
         or x.indexprs is not null or x.indpred is not null
  from deps join pg_class i on deps.classid = 'pg_class'::regclass and i.oid = deps.objid
  join pg_index x on x.indexrelid = i.oid
  where i.relkind = 'i'
    and not exists (select from pg_constraint c where c.conindid = i.oid and c.conrelid = x.indrelid)
  union all
  select case c.contype when 'p' then 'primary key' when 'u' then 'unique constraint'
              when 'f' then 'foreign key' when 'c' then 'check constraint'
              when 'x' then 'exclusion constraint' else 'constraint' end,
         c.conname || ' on ' || c.conrelid::regclass::text,
         c.contype in ('p', 'x') or cardinality(c.conkey) <> 1 or c.conrelid <> (select rel from col)
         or exists (select from pg_constraint f where f.contype = 'f' and f.conindid = c.conindid
                    and c.contype = 'u' and f.confrelid = c.conrelid)
  from deps join pg_constraint c on deps.classid = 'pg_constraint'::regclass and c.oid = deps.objid
  union all
  select 'trigger', t.tgname || ' on ' || t.tgrelid::regclass::text, true
  from deps join pg_trigger t on deps.classid = 'pg_trigger'::regclass and t.oid = deps.objid
  where t.tgname not like '\\_ls\\_%'
  union all
  select 'policy', p.polname || ' on ' || p.polrelid::regclass::text, true
  from deps join pg_policy p on deps.classid = 'pg_policy'::regclass and p.oid = deps.objid
  union all
  select 'generated column', a.attname || ' of ' || a.attrelid::regclass::text, true
  from deps join pg_attrdef ad on deps.classid = 'pg_attrdef'::regclass and ad.oid = deps.objid
  join pg_attribute a on a.attrelid = ad.adrelid and a.attnum = ad.adnum
  where a.attnum <> (select num from col)
  union all
  select 'statistics object', s.stxname, true
  from deps join pg_statistic_ext s on deps.classid = 'pg_statistic_ext'::regclass
    and s.oid = deps.objid
) found
order by kind, name
"""

# Foreign keys of other tables that point at a unique constraint or index on the column.
_REFERENCING = """
select 'foreign key', f.conname || ' on ' || f.conrelid::regclass::text, true
from pg_constraint f
join pg_attribute a on a.attrelid = f.confrelid and a.attnum = any (f.confkey)
where f.contype = 'f' and f.confrelid = {table}::regclass and a.attname = {column}
"""

# -- what a column's replacement must carry over; each fact's fields follow its query's columns --


def _uses(rel: str, keys: str, catalog: str, oid: str) -> str:
    """SQL: the names of the table's columns an index or constraint uses, by its key list and
    by pg_depend (expressions, predicates, INCLUDE columns, check conditions)."""
    return f"""array(
  select a.attname from pg_attribute a
  where a.attrelid = {rel} and a.attnum > 0 and not a.attisdropped
    and (a.attnum = any ({keys}) or exists (
      select from pg_depend d where d.classid = '{catalog}'::regclass and d.objid = {oid}
        and d.refclassid = 'pg_class'::regclass and d.refobjid = {rel}
        and d.refobjsubid = a.attnum))
  order by a.attnum)::text[]"""


def _column(table: str, column: str) -> str:
    return f"""with col as (
  select a.attrelid as rel, a.attnum as num, a.attname as name from pg_attribute a
  where a.attrelid = {table}::regclass and a.attname = {column} and not a.attisdropped
)
"""


_INDEX_USES = _uses("x.indrelid", "x.indkey::int2[]", "pg_class", "x.indexrelid")
_CONSTRAINT_USES = _uses("c.conrelid", "coalesce(c.conkey, '{}'::int2[])", "pg_constraint", "c.oid")


def _key_array(what: str, keys: str, rel: str) -> str:
    """SQL: `what` (of pg_attribute a) for each column of a key list, in key order."""
    return (
        f"array(select {what} from unnest({keys}) with ordinality k(num, ord) "
        f"join pg_attribute a on a.attrelid = {rel} and a.attnum = k.num order by k.ord)::text[]"
    )


# Indexes of the table that use the column anywhere (key, INCLUDE, expression, predicate) and
# back no constraint of the table.
_INDEXES = f"""
select i.relname, pg_get_indexdef(x.indexrelid), x.indisvalid, {_INDEX_USES},
       x.indisreplident, x.indisclustered
from pg_index x join pg_class i on i.oid = x.indexrelid, col
where x.indrelid = col.rel
  and not exists (select from pg_constraint c where c.conindid = x.indexrelid
                  and c.conrelid = x.indrelid and c.contype in ('p', 'u', 'x'))
  and col.name = any ({_INDEX_USES})
order by 1
"""

# Constraints of the table that use the column; for a primary key or unique constraint, its
# index; for a foreign key, the referenced table and the types of the referenced columns.
_CONSTRAINTS = f"""
select c.conname, c.contype::text, pg_get_constraintdef(c.oid), c.convalidated,
       c.condeferrable, c.condeferred,
       case when c.contype in ('p', 'u') then pg_get_indexdef(c.conindid) end,
       case when c.confrelid <> 0 then c.confrelid::regclass::text end,
       {_key_array("format_type(a.atttypid, a.atttypmod)", "c.confkey", "c.confrelid")},
       {_key_array("a.attname", "c.conkey", "c.conrelid")},
       c.confrelid = c.conrelid and col.num = any (coalesce(c.confkey, '{{}}'::int2[])),
       {_CONSTRAINT_USES},
       coalesce(x.indisreplident, false), coalesce(x.indisclustered, false)
from pg_constraint c
left join pg_index x on c.contype in ('p', 'u') and x.indexrelid = c.conindid, col
where c.conrelid = col.rel and col.name = any ({_CONSTRAINT_USES})
order by 1
"""

# Foreign keys (of any table, this one included) that reference the column.
_REFERENCING_KEYS = f"""
select f.conname, n.nspname, r.relname, pg_get_constraintdef(f.oid), f.convalidated,
       greatest(r.reltuples, 0)::bigint, i.relname,
       {_key_array("format_type(a.atttypid, a.atttypmod)", "f.conkey", "f.conrelid")},
       {_key_array("a.attname", "f.conkey", "f.conrelid")},
       {_key_array("a.attname", "f.confkey", "f.confrelid")}
from pg_constraint f
join pg_class r on r.oid = f.conrelid
join pg_namespace n on n.oid = r.relnamespace
join pg_class i on i.oid = f.conindid, col
where f.contype = 'f' and f.confrelid = col.rel and col.num = any (f.confkey)
order by 2, 3, 1
"""

# The sequence the column owns: a serial's (deptype 'a') or an identity's (deptype 'i').
_SEQUENCE = """
select s.oid::regclass::text, sn.nspname, s.relname, format_type(q.seqtypid, null), q.seqstart,
       q.seqincrement, q.seqmin, q.seqmax, q.seqcache, q.seqcycle,
       case d.deptype when 'i' then a.attidentity::text else '' end
from pg_depend d
join pg_class s on s.oid = d.objid and s.relkind = 'S'
join pg_namespace sn on sn.oid = s.relnamespace
join pg_sequence q on q.seqrelid = s.oid
join col on d.refobjid = col.rel and d.refobjsubid = col.num
join pg_attribute a on a.attrelid = col.rel and a.attnum = col.num
where d.classid = 'pg_class'::regclass and d.refclassid = 'pg_class'::regclass
  and d.deptype in ('a', 'i')
order by 1
"""

# Every index and constraint name of the table, to tell the model's own additions apart.
_NAMES = """
select 'index', i.relname from pg_index x join pg_class i on i.oid = x.indexrelid, col
where x.indrelid = col.rel
union all
select 'constraint', c.conname from pg_constraint c, col where c.conrelid = col.rel
union all
select 'referencing', c.conname from pg_constraint c, col
where c.confrelid = col.rel and c.contype = 'f'
"""

# -- what depends on a table --

_TABLE_DEPENDENTS = """
select distinct kind, name from (
  select case v.relkind when 'm' then 'materialized view' else 'view' end as kind,
         v.oid::regclass::text as name
  from pg_depend d
  join pg_rewrite r on d.classid = 'pg_rewrite'::regclass and r.oid = d.objid
  join pg_class v on v.oid = r.ev_class
  join pg_namespace vn on vn.oid = v.relnamespace
  where d.refclassid = 'pg_class'::regclass and d.refobjid = {table}::regclass
    and v.oid <> {table}::regclass and vn.nspname not in ({version_schemas})
  union all
  select 'foreign key', f.conname || ' on ' || f.conrelid::regclass::text
  from pg_constraint f
  where f.contype = 'f' and f.confrelid = {table}::regclass and f.conrelid <> {table}::regclass
  union all
  select 'function', p.oid::regprocedure::text
  from pg_depend d join pg_proc p on d.classid = 'pg_proc'::regclass and p.oid = d.objid
  where (d.refclassid = 'pg_class'::regclass and d.refobjid = {table}::regclass)
     or (d.refclassid = 'pg_type'::regclass
         and d.refobjid = (select reltype from pg_class where oid = {table}::regclass))
  union all
  select 'function (by name in its body)', p.oid::regprocedure::text
  from pg_proc p join pg_namespace pn on pn.oid = p.pronamespace
  join pg_language l on l.oid = p.prolang
  where pn.nspname not in ('pg_catalog', 'information_schema', 'liveshift')
    and l.lanname not in ('c', 'internal')
    and p.proname not like '\\_ls\\_%' and p.prosrc ~* ('\\m' || {name} || '\\M')
) found
order by kind, name
"""

# -- relations, schemas, state --

_RELATION_KIND = (
    "select case c.relkind when 'r' then 'table' when 'p' then 'table' "
    "when 'v' then 'view' when 'm' then 'materialized view' when 'i' then 'index' "
    "when 'I' then 'index' when 'S' then 'sequence' when 'f' then 'foreign table' "
    "else 'relation' end from pg_class c join pg_namespace n on n.oid = c.relnamespace "
    "where n.nspname = {schema} and c.relname = {name}"
)

_APPLIED_BEFORE = f"""
select exists (
  select from {STATE_SCHEMA}.steps s join {STATE_SCHEMA}.migrations m on m.id = s.migration_id
  where m.schema_name = {{schema}} and m.name = {{name}} and m.phase = 'rolled_back'
    and s.phase = 'start' and s.operation = 'raw_sql' and s.status = 'done' and s.sql = {{sql}}
)
"""

# -- replica identity --

# pg_class.relreplident -> the identity it stands for
_IDENTITIES = {"d": "default", "f": "full", "n": "nothing", "i": "index"}

_CURRENT_IDENTITY = """
select c.relreplident::text, (select ic.relname from pg_index i join pg_class ic
                              on ic.oid = i.indexrelid where i.indrelid = c.oid and i.indisreplident)
from pg_class c where c.oid = to_regclass({table})
"""

# What the schema model does not hold of an index: an expression key, a deferrable constraint.
_INDEX_SHAPE = """
select 0 = any(i.indkey::int2[]), not i.indimmediate from pg_index i
where i.indexrelid = to_regclass({index})
"""


class ObjectQuestions:
    """PostgreSQL's catalog answers (liveshift.engines.probe_objects.ObjectQuestions), asked
    through the probe's rolled-back `ask`."""

    if TYPE_CHECKING:

        def ask(
            self, statements: list[str], what: str, internal: dict[str, str] | None = None
        ) -> list[tuple[Any, ...]]: ...

    def _version_schemas(self) -> str:
        """SQL: the schemas of liveshift's version views, to leave out of dependents."""
        exists = self.ask(
            ["select to_regclass('liveshift.migrations') is not null"], "the liveshift state"
        )
        if exists and exists[0][0]:
            return "select version_schema from liveshift.migrations"
        return "''"

    def column_dependents(self, table: Table, physical: str) -> list[Dependent]:
        table_literal = quote_literal(table.qualified)
        column_literal = quote_literal(physical)
        version_schemas = self._version_schemas()
        # With only pg_catalog on the search_path, regclass::text always names the schema.
        rows = self.ask(
            [
                "set local search_path = pg_catalog",
                _DEPENDENTS.format(
                    table=table_literal, column=column_literal, version_schemas=version_schemas
                ),
            ],
            f"what depends on {table.name}.{physical}",
        )
        rows += self.ask(
            [
                "set local search_path = pg_catalog",
                _REFERENCING.format(table=table_literal, column=column_literal),
            ],
            f"the foreign keys pointing at {table.name}.{physical}",
        )
        seen: dict[tuple[str, str], Dependent] = {}
        for kind, name, others in rows:
            seen.setdefault((str(kind), str(name)), Dependent(str(kind), str(name), bool(others)))
        return list(seen.values())

    def has_rows_where(self, table: Table, condition: str) -> bool:
        rows = self.ask(
            [f"select exists (select from only {table.qualified} where {condition})"], "the table"
        )
        return bool(rows[0][0])

    def column_facts(self, table: Table, physical: str) -> ColumnFacts:
        column = _column(quote_literal(table.qualified), quote_literal(physical))

        def ask(query: str, what: str) -> list[tuple[Any, ...]]:
            return self.ask(["set local search_path = pg_catalog", column + query], what)

        where = f"{table.name}.{physical}"
        return ColumnFacts(
            indexes=_rows_as(IndexFact, ask(_INDEXES, f"the indexes on {where}")),
            constraints=_rows_as(ConstraintFact, ask(_CONSTRAINTS, f"the constraints on {where}")),
            referencing=_rows_as(
                ReferencingKeyFact, ask(_REFERENCING_KEYS, f"the foreign keys referencing {where}")
            ),
            sequence=next(
                iter(_rows_as(SequenceFact, ask(_SEQUENCE, f"the sequence of {where}"))), None
            ),
            catalog_names={
                (str(kind), str(name)) for kind, name in ask(_NAMES, f"the indexes of {table.name}")
            },
        )

    def relation_kind(self, schema: str, name: str) -> str | None:
        rows = self.ask(
            [_RELATION_KIND.format(schema=quote_literal(schema), name=quote_literal(name))],
            f"the name {schema}.{name}",
        )
        return str(rows[0][0]) if rows else None

    def schema_exists(self, name: str) -> bool:
        rows = self.ask(
            [f"select exists (select from pg_namespace where nspname = {quote_literal(name)})"],
            "the version schema's name",
        )
        return bool(rows[0][0])

    def table_dependents(self, table: Table) -> list[TableDependent]:
        version_schemas = self._version_schemas()
        rows = self.ask(
            [
                _TABLE_DEPENDENTS.format(
                    table=quote_literal(table.qualified),
                    version_schemas=version_schemas,
                    name=quote_literal(re.escape(table.physical)),
                )
            ],
            f"what depends on table {table.name}",
        )
        return [TableDependent(str(kind), str(name)) for kind, name in rows]

    def views_in_schema(self, schema: str) -> set[str]:
        rows = self.ask(
            [
                "select c.relname from pg_class c where c.relkind = 'v' "
                f"and c.relnamespace = to_regnamespace({quote_literal(schema)})"
            ],
            f"the views of {schema}",
        )
        return {str(r[0]) for r in rows}

    def raw_sql_ran_before(self, schema: str, migration: str, sql: str) -> bool:
        exists = self.ask([f"select to_regclass('{STATE_SCHEMA}.steps') is not null"], "the state")
        if not exists[0][0]:
            return False
        rows = self.ask(
            [
                _APPLIED_BEFORE.format(
                    schema=quote_literal(schema),
                    name=quote_literal(migration),
                    sql=quote_literal(sql),
                )
            ],
            "whether an earlier start of this migration ran its raw SQL",
        )
        return bool(rows[0][0])

    def replica_identity(self, table: Table) -> ReplicaIdentityFacts | None:
        rows = self.ask(
            [_CURRENT_IDENTITY.format(table=quote_literal(table.qualified))],
            "the replica identity",
        )
        if not rows:
            return None
        kind = _IDENTITIES[rows[0][0]]
        if kind == "index":
            return ReplicaIdentityFacts(kind, None if rows[0][1] is None else str(rows[0][1]))
        return ReplicaIdentityFacts(kind)

    def index_shape(self, schema: str, name: str) -> IndexShape | None:
        qualified = f"{quote_ident(schema)}.{quote_ident(name)}"
        rows = self.ask([_INDEX_SHAPE.format(index=quote_literal(qualified))], f"index {name}")
        if not rows:
            return None
        return IndexShape(expression_key=bool(rows[0][0]), deferrable=bool(rows[0][1]))

    def check_trigger_skipping(self) -> None:
        self.ask([f"set local {REPLICA_ROLE[0]} = {REPLICA_ROLE[1]}"], "skipping triggers")

    def accepts(
        self, actions: Sequence[Action], what: str, internal: dict[str, str] | None = None
    ) -> None:
        from liveshift.engines.postgres.render import render

        self.ask([render(action) for action in actions], what, internal)


def _rows_as(kind: Callable[..., T], rows: list[tuple[Any, ...]]) -> list[T]:
    """Catalog rows as facts whose fields follow the query's columns (arrays become tuples)."""
    return [kind(*(tuple(v) if isinstance(v, list) else v for v in row)) for row in rows]
