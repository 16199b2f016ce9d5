"""rename_constraint: ALTER TABLE ... RENAME CONSTRAINT at start, renamed back by rollback."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from liveshift.errors import ValidationError, did_you_mean
from liveshift.migration.models import RenameConstraint
from liveshift.operations.actions import constraints as actions
from liveshift.operations.base import CheckedOperation
from liveshift.operations.objects import refuse_reserved, refuse_taken_relation_name
from liveshift.plan import LockMode, Step
from liveshift.schema import Schema, Table

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe

# Constraints whose index carries their name: RENAME CONSTRAINT renames the index too.
_WITH_INDEX = ("p", "u", "x")


@dataclass(frozen=True)
class RenameConstraintChecked:
    """What validate found: the constraint's kind (whether an index takes the new name too)."""

    kind: str


class RenameConstraintOperation(CheckedOperation[RenameConstraint, RenameConstraintChecked]):
    """Expand: RENAME CONSTRAINT, a catalog change under a brief ACCESS EXCLUSIVE (a unique,
    primary key or exclusion constraint's index takes the new name with it). A constraint has
    one name for both versions: the new name holds from start, as the new version and later
    operations of the migration expect it. Contract: nothing. Rollback: the old name back."""

    name = "rename_constraint"

    def validate(self, schema: Schema, probe: Probe) -> RenameConstraintChecked:
        spec = self.spec
        table = schema.table(spec.table)
        where = f"{schema.name}.{table.name}.{spec.from_}"
        constraint = table.constraints.get(spec.from_)
        if constraint is None:
            raise ValidationError(
                f"table {schema.name}.{table.name} has no constraint {spec.from_!r}",
                object=where,
                hint=did_you_mean(spec.from_, table.constraints)
                or f"Its constraints: {', '.join(table.constraints) or '(none)'}.",
            )
        if spec.to == spec.from_:
            raise ValidationError(
                f"rename_constraint renames {spec.from_} to the same name",
                object=where,
                hint="Give `to:` a different name, or drop the operation.",
            )
        refuse_reserved(spec.to, "constraint")
        if spec.to in table.constraints:
            raise ValidationError(
                f"table {table.name} already has a constraint {spec.to!r}",
                object=f"{schema.name}.{table.name}.{spec.to}",
                hint="Choose another name, or drop_constraint that one first.",
            )
        if constraint.kind in _WITH_INDEX:
            refuse_taken_relation_name(schema, probe, spec.to, "rename_constraint to")
        if not _exists(probe, table, spec.from_):
            raise ValidationError(
                f"constraint {spec.from_!r} of table {table.name} is made by this migration, "
                "and exists under that name only from complete",
                object=where,
                hint=f"Give it the name {spec.to!r} in the operation that makes it instead.",
            )
        del table.constraints[spec.from_]
        constraint.name = spec.to
        table.constraints[spec.to] = constraint
        index = table.indexes.pop(spec.from_, None)
        if index is not None and constraint.kind in _WITH_INDEX:
            index.name = spec.to
            table.indexes[spec.to] = index
        return RenameConstraintChecked(constraint.kind)

    def _rename(
        self, checked: RenameConstraintChecked, table: Table, old: str, new: str, description: str
    ) -> Step:
        return Step(
            description,
            # IF EXISTS: a replayed rollback finds the table dropped by an earlier undo.
            actions=(
                actions.RenameConstraint(table=table.qualified, old=old, new=new, if_exists=True),
            ),
            lock=LockMode.ACCESS_EXCLUSIVE,
            tables=(table.qualified,),
            operation=self.name,
            notes=(
                "metadata only: no scan"
                + ("; its index takes the new name too" if checked.kind in _WITH_INDEX else ""),
                "clients that name the constraint (ON CONFLICT ON CONSTRAINT, error handling) "
                "see the new name from start, whichever version they are",
            ),
        )

    def start(self, checked: RenameConstraintChecked, before: Schema, after: Schema) -> list[Step]:
        spec = self.spec
        table = before.table(spec.table)
        return [
            self._rename(
                checked,
                table,
                spec.from_,
                spec.to,
                f"rename constraint {spec.from_} of {table.name} to {spec.to}",
            )
        ]

    def complete(
        self, checked: RenameConstraintChecked, before: Schema, after: Schema
    ) -> list[Step]:
        return []

    def rollback(
        self, checked: RenameConstraintChecked, before: Schema, after: Schema
    ) -> list[Step]:
        spec = self.spec
        table = before.table(spec.table)
        # Only when start got that far: rollback runs from any point of start.
        step = self._rename(
            checked, table, spec.to, spec.from_, f"rename constraint {spec.to} of {table.name} back"
        )
        guarded = actions.RenameConstraintIfPresent(
            table=table.qualified, old=spec.to, new=spec.from_
        )
        return [dataclasses.replace(step, actions=(guarded,))]


def _exists(probe: Probe, table: Table, name: str) -> bool:
    return probe.constraint_exists(table, name)
