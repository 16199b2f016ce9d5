"""create_index: CREATE [UNIQUE] INDEX CONCURRENTLY at start; rollback drops it concurrently."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveshift.errors import ValidationError
from liveshift.migration.models import CreateIndex
from liveshift.operations.base import Operation
from liveshift.operations.objects import (
    physical_expression,
    refuse_reserved,
    refuse_taken_relation_name,
)
from liveshift.operations.steps import concurrent_index_step, drop_index_concurrently_step
from liveshift.plan import Step
from liveshift.schema import Index, Schema, quote_ident
from liveshift.sqlexpr import check_expression

if TYPE_CHECKING:
    from liveshift.probe import Probe

# Access methods that can enforce uniqueness, and those that can carry INCLUDE columns.
UNIQUE_METHODS = frozenset({"btree"})
INCLUDE_METHODS = frozenset({"btree", "gist", "spgist"})


class CreateIndexOperation(Operation[CreateIndex]):
    """Expand: the index is built concurrently (SHARE UPDATE EXCLUSIVE: reads and writes go on);
    both versions use it at once. Contract: nothing. Rollback: DROP INDEX CONCURRENTLY."""

    name = "create_index"

    # Resolved in validate(): the key list, INCLUDE list and predicate over physical names.
    keys: list[str]
    include: list[str]
    where: str | None

    def validate(self, schema: Schema, probe: Probe) -> None:
        spec = self.spec
        table = schema.table(spec.table)
        refuse_reserved(spec.name, "index")
        refuse_taken_relation_name(schema, probe, spec.name, "create_index")
        if spec.unique and spec.method not in UNIQUE_METHODS:
            raise ValidationError(
                f"a {spec.method} index cannot be unique (only btree indexes are)",
                object=f"{schema.name}.{spec.name}",
                hint="Use method: btree, or drop `unique`.",
            )
        if spec.include and spec.method not in INCLUDE_METHODS:
            raise ValidationError(
                f"a {spec.method} index cannot have INCLUDE columns",
                object=f"{schema.name}.{spec.name}",
                hint="INCLUDE works with btree, gist and spgist indexes.",
            )
        self.keys = []
        physical_columns: list[str] = []
        for key in spec.columns:
            if key in table.columns:
                physical = table.columns[key].physical
                self.keys.append(quote_ident(physical))
                physical_columns.append(physical)
                continue
            # Not a column name: an expression over the columns (e.g. lower(email)).
            try:
                check_expression(key, "index key")
            except ValidationError:
                table.column(key)  # the likelier mistake: a misspelt column, with a suggestion
                raise
            expression = physical_expression(table, key, "index key")
            probe.expression_fits(table, expression, None, f"the index key `{key}`")
            self.keys.append(f"({expression})")
        self.include = []
        for column in spec.include:
            self.include.append(quote_ident(table.column(column).physical))
        self.where = None
        if spec.where is not None:
            check_expression(spec.where, "where")
            self.where = physical_expression(table, spec.where, "where")
            probe.condition_fits(table, self.where, {}, f"the index predicate `{spec.where}`")
        table.indexes[spec.name] = Index(
            spec.name,
            physical_columns,
            unique=spec.unique,
            partial=spec.where is not None,
            definition=self._create_sql(table.qualified),
        )

    def _create_sql(self, qualified: str) -> str:
        spec = self.spec
        unique = "unique " if spec.unique else ""
        sql = (
            f"create {unique}index concurrently {quote_ident(spec.name)} on {qualified} "
            f"using {spec.method} ({', '.join(self.keys)})"
        )
        if self.include:
            sql += f" include ({', '.join(self.include)})"
        if self.where is not None:
            sql += f" where {self.where}"
        return sql

    def start(self, before: Schema, after: Schema) -> list[Step]:
        table = before.table(self.spec.table)
        return [
            concurrent_index_step(
                table,
                self.spec.name,
                self._create_sql(table.qualified),
                description=f"build index {self.spec.name} on {table.name} concurrently",
                operation=self.name,
                notes=("reads and writes continue; waits for transactions older than the build",),
            )
        ]

    def complete(self, before: Schema, after: Schema) -> list[Step]:
        return []

    def rollback(self, before: Schema, after: Schema) -> list[Step]:
        table = before.table(self.spec.table)
        return [
            drop_index_concurrently_step(
                table,
                self.spec.name,
                description=f"drop index {self.spec.name} concurrently",
                operation=self.name,
            )
        ]
