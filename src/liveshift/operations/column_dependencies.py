"""What depends on a column (views, indexes, constraints, triggers, ...), asked of pg_depend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from liveshift.schema import Table, quote_literal

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
