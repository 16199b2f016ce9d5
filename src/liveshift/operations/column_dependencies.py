"""What depends on a column (views, indexes, constraints, triggers, ...), asked of pg_depend."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from liveshift.schema import Table, quote_ident, quote_literal

if TYPE_CHECKING:
    from liveshift.probe import Probe

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


@dataclass(frozen=True)
class Dependent:
    """An object that depends on a column; `involves_others` when it is more than the column's own
    index or constraint (a view, a trigger, a multi-column index, a foreign key pointing at it)."""

    kind: str
    name: str
    involves_others: bool

    def describe(self) -> str:
        return f"{self.kind} {self.name}"


def column_dependents(probe: Probe, table: Table, physical: str) -> list[Dependent]:
    """Every object that depends on `table`.`physical`, except liveshift's own version views and
    sync triggers."""
    table_literal = quote_literal(table.qualified)
    column_literal = quote_literal(physical)
    # The probe runs each question in a rolled-back transaction under a short lock_timeout.
    exists = probe.ask(
        ["select to_regclass('liveshift.migrations') is not null"], "the liveshift state"
    )
    version_schemas = "''"
    if exists and exists[0][0]:
        version_schemas = "select version_schema from liveshift.migrations"
    # With only pg_catalog on the search_path, regclass::text always names the schema.
    rows = probe.ask(
        [
            "set local search_path = pg_catalog",
            _DEPENDENTS.format(
                table=table_literal, column=column_literal, version_schemas=version_schemas
            ),
        ],
        f"what depends on {table.name}.{physical}",
    )
    rows += probe.ask(
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


def has_rows_where(probe: Probe, table: Table, condition: str) -> bool:
    """Whether any row of `table` matches `condition` (over physical column names)."""
    rows = probe.ask(
        [f"select exists (select from only {table.qualified} where {condition})"], "the table"
    )
    return bool(rows[0][0])


T = TypeVar("T")

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


@dataclass(frozen=True)
class IndexFact:
    """An index of the table that uses the column and backs no constraint."""

    name: str
    definition: str  # pg_get_indexdef, schema-qualified
    valid: bool
    uses: tuple[str, ...]  # every column of the table it uses
    replica_identity: bool  # REPLICA IDENTITY USING INDEX names it
    clustered: bool  # CLUSTER ON names it


@dataclass(frozen=True)
class ConstraintFact:
    """A constraint of the table that uses the column."""

    name: str
    kind: str  # 'p', 'u', 'c', 'f', 'x', ...
    definition: str  # pg_get_constraintdef, schema-qualified
    validated: bool
    deferrable: bool
    deferred: bool
    index_definition: str | None  # for 'p' and 'u': pg_get_indexdef of its index
    referenced_table: str | None  # for 'f': schema-qualified, quoted where needed
    referenced_types: tuple[str, ...]  # for 'f': types of the referenced columns, in key order
    key: tuple[str, ...]  # conkey, in order
    references_itself: bool  # a foreign key from the column to the column itself
    uses: tuple[str, ...]
    replica_identity: bool  # for 'p' and 'u': REPLICA IDENTITY USING INDEX names its index
    clustered: bool  # for 'p' and 'u': CLUSTER ON names its index


@dataclass(frozen=True)
class ReferencingKeyFact:
    """A foreign key, of this table or another, that references the column."""

    name: str
    schema: str
    table: str
    definition: str
    validated: bool
    estimated_rows: int
    index: str  # the unique index of the referenced table it relies on
    key_types: tuple[str, ...]  # types of its own (referencing) columns, in key order
    key: tuple[str, ...]  # its own columns, in key order
    referenced: tuple[str, ...]  # the referenced columns, in key order

    @property
    def qualified(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.table)}"


@dataclass(frozen=True)
class SequenceFact:
    """The sequence a serial or identity column owns, with its options."""

    qualified: str
    schema: str
    name: str
    type: str
    start: int
    increment: int
    minimum: int
    maximum: int
    cache: int
    cycle: bool
    identity: str  # 'a' (always), 'd' (by default) or '' (a serial's sequence)


@dataclass(frozen=True)
class ColumnFacts:
    """What depends on a column that a replacement column has to carry over."""

    indexes: list[IndexFact]
    constraints: list[ConstraintFact]
    referencing: list[ReferencingKeyFact]
    sequence: SequenceFact | None
    catalog_names: set[tuple[str, str]]  # ('index' | 'constraint' | 'referencing', name)


def column_facts(probe: Probe, table: Table, physical: str) -> ColumnFacts:
    """The indexes, constraints, foreign keys pointing at it and owned sequence of a column, with
    their definitions as the catalog prints them (schema-qualified: read with only pg_catalog on
    the search_path)."""
    column = _column(quote_literal(table.qualified), quote_literal(physical))

    def ask(query: str, what: str) -> list[tuple[Any, ...]]:
        return probe.ask(["set local search_path = pg_catalog", column + query], what)

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


def _rows_as(kind: Callable[..., T], rows: list[tuple[Any, ...]]) -> list[T]:
    """Catalog rows as facts whose fields follow the query's columns (arrays become tuples)."""
    return [kind(*(tuple(v) if isinstance(v, list) else v for v in row)) for row in rows]
