"""drop_column: the column leaves the new version's view at start and the table at complete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from liveshift.errors import ValidationError
from liveshift.migration.models import DropColumn
from liveshift.operations.actions import Action
from liveshift.operations.actions.columns import DropColumn as DropColumnAction
from liveshift.operations.actions.triggers import (
    CreateDownFillFunction,
    DropFunction,
    DropTrigger,
    VersionSyncTrigger,
)
from liveshift.operations.base import CheckedOperation
from liveshift.plan import LockMode, Step
from liveshift.schema import Schema, Table
from liveshift.sqlexpr import check_expression, rewrite_columns

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe


@dataclass(frozen=True)
class DropColumnChecked:
    """What validate found: the column's physical name, and what goes away with it."""

    physical: str
    dependents: tuple[str, ...]


class DropColumnOperation(CheckedOperation[DropColumn, DropColumnChecked]):
    """Expand: the version schema's view no longer shows the column; when `down` is given, a
    trigger fills it for rows new clients insert (which they cannot do themselves), so a NOT NULL
    column keeps working for both versions. Contract: ALTER TABLE ... DROP COLUMN (catalog only)."""

    name = "drop_column"

    def validate(self, schema: Schema, probe: Probe) -> DropColumnChecked:
        spec = self.spec
        table = schema.table(spec.table)
        column = table.column(spec.column)
        where = f"{table.schema}.{table.name}.{spec.column}"
        if column.physical != column.name:
            raise ValidationError(
                f"column {spec.table}.{spec.column} is being changed by an earlier operation of "
                "this migration and cannot be dropped in the same migration",
                object=where,
                hint="Drop it in a later migration, or remove the operation that changes it.",
            )
        if len(table.columns) == 1:
            raise ValidationError(
                f"column {spec.column!r} is the last column of {table.schema}.{table.name}",
                object=where,
                hint="Use drop_table to remove the whole table.",
            )
        dependents = probe.column_dependents(table, column.physical)
        blocking = [d for d in dependents if d.involves_others]
        if blocking:
            raise ValidationError(
                f"cannot drop {table.name}.{spec.column}: other objects depend on it",
                object=where,
                details=[d.describe() for d in blocking],
                hint="Drop or change them first (drop_index / drop_constraint / raw_sql) in this "
                "migration or an earlier one. The column's own single-column indexes and "
                "constraints go away with it.",
            )
        del table.columns[spec.column]
        needs_value = (
            not column.nullable
            and column.default is None
            and not column.identity
            and not column.generated
        )
        if spec.down is None and needs_value:
            raise ValidationError(
                f"column {table.name}.{spec.column} is NOT NULL without a default: rows that new "
                "clients insert (they no longer see the column) would have no value for it",
                object=where,
                hint="Give `down:`, an SQL expression over the new version's columns computing "
                'the value old clients should see, e.g. `down: "0"` or '
                '`down: "lower(email)"`.',
            )
        if spec.down is not None:
            if column.generated:
                raise ValidationError(
                    f"column {table.name}.{spec.column} is generated: `down` cannot set it",
                    object=where,
                    hint="Remove `down:`.",
                )
            check_expression(spec.down, "down")
            probe.expression_fits(
                table,
                self._down(table),
                column.type,
                f"the `down` expression `{spec.down}`",
                column=f"{table.name}.{spec.column}",
            )
        return DropColumnChecked(column.physical, tuple(d.describe() for d in dependents))

    def _down(self, after: Table) -> str:
        """`down` over physical columns; it names columns as the new version sees them."""
        assert self.spec.down is not None
        renames = {c.name: c.physical for c in after.columns.values()}
        return rewrite_columns(self.spec.down, renames, what="down")

    def _trigger(self) -> str:
        return self.names.object("trg", self.spec.table, self.spec.column)

    def _function(self) -> str:
        return self.names.function(self.spec.table, self.spec.column)

    def start(self, checked: DropColumnChecked, before: Schema, after: Schema) -> list[Step]:
        if self.spec.down is None:
            return []
        table = before.table(self.spec.table)
        # Inserts get `down`; updates only fill a missing value, so that a new client's update
        # never overwrites what old clients wrote into the column they still use.
        actions = (
            CreateDownFillFunction(
                function=self._function(),
                version_schema=self.names.version_schema,
                target=checked.physical,
                expression=self._down(after.table(self.spec.table)),
            ),
            VersionSyncTrigger(
                table=table.qualified,
                name=self._trigger(),
                function=self._function(),
                update=True,
            ),
        )
        return [
            Step(
                f"install the trigger that fills {table.name}.{self.spec.column} for rows new "
                "clients write",
                actions=actions,
                lock=LockMode.SHARE_ROW_EXCLUSIVE,
                tables=(table.qualified,),
                operation=self.name,
            )
        ]

    def complete(self, checked: DropColumnChecked, before: Schema, after: Schema) -> list[Step]:
        table = before.table(self.spec.table)
        actions: list[Action] = []
        if self.spec.down is not None:
            actions.append(DropTrigger(table=table.qualified, name=self._trigger()))
        actions.append(DropColumnAction(table=table.qualified, column=checked.physical))
        if self.spec.down is not None:
            actions.append(DropFunction(function=self._function()))
        notes = ["catalog only: the space is reclaimed as rows are rewritten by later updates"]
        if checked.dependents:
            notes.append("also drops " + ", ".join(checked.dependents))
        return [
            Step(
                f"drop column {table.name}.{self.spec.column}",
                actions=tuple(actions),
                lock=LockMode.ACCESS_EXCLUSIVE,
                tables=(table.qualified,),
                operation=self.name,
                notes=tuple(notes),
            )
        ]

    def rollback(self, checked: DropColumnChecked, before: Schema, after: Schema) -> list[Step]:
        if self.spec.down is None:
            return []
        table = before.table(self.spec.table)
        return [
            Step(
                f"remove the trigger that fills {table.name}.{self.spec.column}",
                actions=(
                    DropTrigger(table=table.qualified, name=self._trigger()),
                    DropFunction(function=self._function()),
                ),
                lock=LockMode.ACCESS_EXCLUSIVE,
                tables=(table.qualified,),
                operation=self.name,
            )
        ]

    def describe(self) -> str:
        return f"{self.name} {self.spec.table}.{self.spec.column}"
