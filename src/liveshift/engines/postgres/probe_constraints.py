"""PostgreSQL's answers to the typed questions about constraints, indexes and columns."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pglast
from pglast import ast
from pglast.stream import RawStream

from liveshift.engines.probe_constraints import RelyingForeignKey
from liveshift.schema import Table, quote_ident, quote_literal

if TYPE_CHECKING:
    from liveshift.operations.actions.constraints import AddExclusion, CreateIndex

# The scratch table a question builds (an empty copy of columns), dropped with the transaction.
_SCRATCH = "_ls_probe"

# Foreign keys of any table that rely on the index of a unique or primary key constraint.
_RELYING = """
select f.conname::text, f.conrelid::regclass::text
from pg_constraint c join pg_constraint f on f.contype = 'f' and f.conindid = c.conindid
where c.conrelid = {table}::regclass and c.conname = {name} and c.contype in ('p', 'u')
order by f.conname || ' on ' || f.conrelid::regclass::text
"""

# Checks over the column (validated again: a scan) and indexes with an expression or a predicate
# over it (built again); plain indexes ALTER COLUMN TYPE keeps.
_RECHECKED = """
with col as (
  select attrelid, attnum from pg_attribute
  where attrelid = {table}::regclass and attname = {column}
)
select c.relname::text from col, pg_index i join pg_class c on c.oid = i.indexrelid
where i.indrelid = col.attrelid and (i.indexprs is not null or i.indpred is not null)
  and exists (select from pg_depend d where d.classid = 'pg_class'::regclass
              and d.objid = i.indexrelid and d.refobjid = col.attrelid
              and d.refobjsubid = col.attnum)
union all
select con.conname::text from col, pg_constraint con
where con.conrelid = col.attrelid and con.contype = 'c' and con.convalidated
  and col.attnum = any (con.conkey)
"""


class ConstraintQuestions:
    """Probe's questions about constraints, indexes and columns (mixed into Probe, whose `ask`
    runs them rolled back)."""

    if TYPE_CHECKING:

        def ask(
            self, statements: list[str], what: str, internal: dict[str, str] | None = None
        ) -> list[tuple[Any, ...]]: ...

    def table_in_catalog(self, table: Table) -> bool:
        rows = self.ask(
            [f"select to_regclass({quote_literal(table.qualified)}) is not null"], "the table"
        )
        return bool(rows and rows[0][0])

    def holds_nulls(self, table: Table, columns: Sequence[str], what: str) -> bool:
        condition = " or ".join(f"{quote_ident(c)} is null" for c in columns)
        rows = self.ask(
            [f"select exists (select from only {table.qualified} where {condition})"], what
        )
        return bool(rows[0][0])

    def constraint_exists(self, table: Table, name: str) -> bool:
        rows = self.ask(
            [
                f"select exists (select from pg_constraint where conname = {quote_literal(name)} "
                f"and conrelid = to_regclass({quote_literal(table.qualified)}))"
            ],
            f"constraint {name}",
        )
        return bool(rows[0][0])

    def foreign_keys_relying_on(self, table: Table, name: str) -> list[RelyingForeignKey]:
        rows = self.ask(
            [_RELYING.format(table=quote_literal(table.qualified), name=quote_literal(name))],
            f"the foreign keys relying on {name}",
        )
        return [RelyingForeignKey(name=str(r[0]), table=str(r[1])) for r in rows]

    def exclusion_fits(self, table: Table, exclusion: AddExclusion, what: str) -> None:
        from liveshift.engines.postgres.render.constraints import exclusion_clause

        self.ask(
            [_model_copy(table), f"alter table {_SCRATCH} add {exclusion_clause(exclusion)}"], what
        )

    def index_fits(self, table: Table, index: CreateIndex, what: str) -> None:
        from liveshift.engines.postgres.render import render

        scratch = dataclasses.replace(index, table=_SCRATCH, name=None, concurrently=False)
        self.ask([_model_copy(table), render(scratch)], what)

    def identity_fits(self, type_name: str, what: str) -> None:
        self.ask(
            [f"create temp table _ls_identity (value {type_name} generated always as identity)"],
            what,
        )

    def carried_index_fits(
        self, table: Table, column: str, type_name: str, definition: str, what: str
    ) -> None:
        statement: Any = pglast.parse_sql(definition)[0].stmt
        statement.concurrent = False
        statement.relation = ast.RangeVar(relname=_SCRATCH, inh=True, relpersistence="p")
        self.ask([*_live_copy(table, column, type_name), str(RawStream()(statement))], what)

    def carried_check_fits(
        self, table: Table, column: str, type_name: str, clause: str, what: str
    ) -> None:
        self.ask([*_live_copy(table, column, type_name), f"alter table {_SCRATCH} {clause}"], what)

    def foreign_key_types_fit(
        self, referencing: Sequence[str], referenced: Sequence[str], what: str
    ) -> None:
        keys = ", ".join(f"k{i}" for i in range(len(referenced)))
        self.ask(
            [
                "create temp table _ls_probe_pk ("
                + ", ".join(f"k{i} {t}" for i, t in enumerate(referenced))
                + f", unique ({keys})) on commit drop",
                "create temp table _ls_probe_fk ("
                + ", ".join(f"k{i} {t}" for i, t in enumerate(referencing))
                + f", foreign key ({keys}) references _ls_probe_pk ({keys})) on commit drop",
            ],
            what,
        )

    def value_fits(
        self,
        row: dict[str, str],
        expression: str,
        type_name: str,
        target: tuple[str, str],
        what: str,
    ) -> None:
        columns = ", ".join(f"null::{t} as {quote_ident(n)}" for n, t in row.items())
        table, column = target
        value = quote_ident(f"{table}.{column}")
        self.ask(
            [
                f"create temp table {_SCRATCH} ({value} {type_name}) on commit drop",
                f"explain insert into {_SCRATCH} ({value}) select {expression} from "
                f"(select {columns}) as {quote_ident(table)}",
            ],
            what,
        )

    def rechecked_by_type_change(self, table: Table, column: str) -> list[str]:
        rows = self.ask(
            [_RECHECKED.format(table=quote_literal(table.qualified), column=quote_literal(column))],
            f"what depends on {table.name}.{column}",
        )
        return [str(r[0]) for r in rows]

    def type_change_rewrites(self, old_type: str, new_type: str) -> bool:
        # The relfilenode of a one-row temporary table changes when the table is rewritten.
        rows = self.ask(
            [
                f"create temp table {_SCRATCH} (value {old_type}) on commit drop",
                f"insert into {_SCRATCH} values (null)",
                "create temp table _ls_probe_file on commit drop as "
                f"select relfilenode from pg_class where oid = '{_SCRATCH}'::regclass",
                f"alter table {_SCRATCH} alter column value type {new_type}",
                "select c.relfilenode <> f.relfilenode from pg_class c, _ls_probe_file f "
                f"where c.oid = '{_SCRATCH}'::regclass",
            ],
            f"the type change {old_type} -> {new_type}",
        )
        return bool(rows[0][0])


def _model_copy(table: Table) -> str:
    """An empty table of the model's columns of `table` (as earlier operations leave them)."""
    from liveshift.engines.postgres.probe import model_row

    return f"create temp table {_SCRATCH} on commit drop as select * from {model_row(table)} with no data"


def _live_copy(table: Table, column: str, type_name: str) -> list[str]:
    """An empty copy of the live table's columns, with a new column added."""
    return [
        f"create temp table {_SCRATCH} (like {table.qualified}) on commit drop",
        f"alter table {_SCRATCH} add column {quote_ident(column)} {type_name}",
    ]
