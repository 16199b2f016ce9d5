"""create_index: CREATE [UNIQUE] INDEX CONCURRENTLY at start; rollback drops it concurrently."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from liveshift.errors import ValidationError
from liveshift.migration.models import CreateIndex, IndexKey
from liveshift.operations.actions.constraints import CreateIndex as CreateIndexAction
from liveshift.operations.actions.constraints import IndexKey as IndexKeyAction
from liveshift.operations.actions.constraints import StorageParameter
from liveshift.operations.base import CheckedOperation
from liveshift.operations.objects import (
    physical_expression,
    refuse_reserved,
    refuse_taken_relation_name,
)
from liveshift.operations.steps import concurrent_index_step, drop_index_concurrently_step
from liveshift.plan import Step
from liveshift.schema import Index, Schema, Table
from liveshift.sqlexpr import check_expression

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe

# Access methods that can enforce uniqueness, and those that can carry INCLUDE columns.
UNIQUE_METHODS = frozenset({"btree"})
INCLUDE_METHODS = frozenset({"btree", "gist", "spgist"})


@dataclass(frozen=True)
class CreateIndexChecked:
    """The index as validate resolved it, over physical column names."""

    keys: tuple[IndexKeyAction, ...]
    include: tuple[str, ...]
    where: str | None
    storage: tuple[StorageParameter, ...]  # WITH (...) storage parameters


class CreateIndexOperation(CheckedOperation[CreateIndex, CreateIndexChecked]):
    """Expand: the index is built concurrently (SHARE UPDATE EXCLUSIVE: reads and writes go on);
    both versions use it at once. Contract: nothing. Rollback: DROP INDEX CONCURRENTLY."""

    name = "create_index"

    # Resolved in validate(): the key list, INCLUDE list and predicate over physical names.
    def validate(self, schema: Schema, probe: Probe) -> CreateIndexChecked:
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
        physical_columns: list[str] = []
        keys = tuple(self._key(table, key, probe, physical_columns) for key in spec.columns)
        include = tuple(table.column(column).physical for column in spec.include)
        where = None
        if spec.where is not None:
            check_expression(spec.where, "where")
            where = physical_expression(table, spec.where, "where")
            probe.condition_fits(table, where, {}, f"the index predicate `{spec.where}`")
        storage = tuple(
            StorageParameter(name=name, value=value) for name, value in spec.with_.items()
        )
        checked = CreateIndexChecked(keys, include, where, storage)
        self._probe_definition(checked, table, probe)
        table.indexes[spec.name] = Index(
            spec.name,
            physical_columns,
            unique=spec.unique,
            partial=spec.where is not None,
            # The model holds what the catalog would: PostgreSQL's definition.
            definition=postgres_render(self._create(checked, table.qualified)),
        )
        return checked

    def _key(
        self, table: Table, key: str | IndexKey, probe: Probe, physical: list[str]
    ) -> IndexKeyAction:
        """One key of the index over physical names; plain columns are added to `physical`."""
        if isinstance(key, str):
            if key in table.columns:
                physical.append(table.columns[key].physical)
                return IndexKeyAction(column=table.columns[key].physical)
            # Not a column name: an expression over the columns (e.g. lower(email)).
            return IndexKeyAction(expression=self._expression(table, key, probe))
        if key.column is not None:
            physical.append(table.column(key.column).physical)
            column: str | None = table.column(key.column).physical
            expression = None
        else:
            assert key.expression is not None  # the file format requires one of them
            column, expression = None, self._expression(table, key.expression, probe)
        return IndexKeyAction(
            column=column,
            expression=expression,
            collate=key.collate,
            opclass=key.opclass,
            order=key.order,
            nulls=key.nulls,
        )

    @staticmethod
    def _expression(table: Table, key: str, probe: Probe) -> str:
        try:
            check_expression(key, "index key")
        except ValidationError:
            table.column(key)  # the likelier mistake: a misspelt column, with a suggestion
            raise
        expression = physical_expression(table, key, "index key")
        probe.expression_fits(table, expression, None, f"the index key `{key}`")
        return expression

    def _probe_definition(self, checked: CreateIndexChecked, table: Table, probe: Probe) -> None:
        """The server builds the same index on an empty temporary copy of the table's columns (in
        a transaction rolled back): operator classes, collations, sort options and storage
        parameters are judged by PostgreSQL itself, before anything changes."""
        if not any(isinstance(k, IndexKey) for k in self.spec.columns) and not checked.storage:
            return
        probe.index_fits(table, self._create(checked, table.qualified), f"index {self.spec.name}")

    def _create(self, checked: CreateIndexChecked, qualified: str) -> CreateIndexAction:
        spec = self.spec
        return CreateIndexAction(
            table=qualified,
            name=spec.name,
            keys=checked.keys,
            unique=spec.unique,
            method=spec.method,
            include=checked.include,
            storage=checked.storage,
            where=checked.where,
        )

    def start(self, checked: CreateIndexChecked, before: Schema, after: Schema) -> list[Step]:
        table = before.table(self.spec.table)
        return [
            concurrent_index_step(
                table,
                self.spec.name,
                self._create(checked, table.qualified),
                description=f"build index {self.spec.name} on {table.name} concurrently",
                operation=self.name,
                notes=("reads and writes continue; waits for transactions older than the build",),
            )
        ]

    def complete(self, checked: CreateIndexChecked, before: Schema, after: Schema) -> list[Step]:
        return []

    def rollback(self, checked: CreateIndexChecked, before: Schema, after: Schema) -> list[Step]:
        table = before.table(self.spec.table)
        return [
            drop_index_concurrently_step(
                table,
                self.spec.name,
                description=f"drop index {self.spec.name} concurrently",
                operation=self.name,
            )
        ]


def postgres_render(action: CreateIndexAction) -> str:
    """PostgreSQL's text of the build: what the model keeps as the index's definition (the
    catalog's, after introspection)."""
    from liveshift.engines.postgres.render import render

    return render(action)
