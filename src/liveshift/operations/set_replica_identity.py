"""set_replica_identity: ALTER TABLE ... REPLICA IDENTITY at start; rollback restores the old one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from liveshift.errors import ValidationError, did_you_mean
from liveshift.migration.models import ReplicaIdentityIndex, SetReplicaIdentity
from liveshift.operations.actions.tables import SetReplicaIdentity as SetReplicaIdentityAction
from liveshift.operations.base import CheckedOperation
from liveshift.plan import LockMode, Step
from liveshift.schema import Schema, Table

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe


@dataclass(frozen=True)
class Identity:
    """A replica identity: default, full, nothing, or index (with the index's name)."""

    kind: str
    index: str | None = None

    def describe(self) -> str:
        return f"using index {self.index}" if self.index is not None else self.kind


@dataclass(frozen=True)
class SetReplicaIdentityChecked:
    """The identity to set, and the one the table had before (rollback's)."""

    identity: Identity
    previous: Identity


class SetReplicaIdentityOperation(CheckedOperation[SetReplicaIdentity, SetReplicaIdentityChecked]):
    """Expand: ALTER TABLE ... REPLICA IDENTITY, a catalog change under a brief ACCESS EXCLUSIVE
    (no scan: USING INDEX needs a unique, non-partial, valid index on NOT NULL columns, which
    validate checks). It concerns what logical replication sends of changed rows, not either
    application version, so it holds for both from start. Contract: nothing. Rollback: the
    identity the table had before (read from the catalog when the plan is made)."""

    name = "set_replica_identity"

    def validate(self, schema: Schema, probe: Probe) -> SetReplicaIdentityChecked:
        spec = self.spec
        table = schema.table(spec.table)
        identity = spec.identity
        if isinstance(identity, ReplicaIdentityIndex):
            self._refuse_unfit_index(schema, table, identity.index, probe)
            wanted = Identity("index", identity.index)
        else:
            wanted = Identity(identity)
        current = probe.replica_identity(table)
        if current is None:  # a table this migration creates: rollback drops it
            previous = Identity("default")
        elif current.kind == "index":
            previous = Identity("index", str(current.index))
        else:
            previous = Identity(current.kind)
        return SetReplicaIdentityChecked(wanted, previous)

    def _refuse_unfit_index(self, schema: Schema, table: Table, name: str, probe: Probe) -> None:
        where = f"{schema.name}.{table.name}.{name}"
        index = table.indexes.get(name)
        if index is None:
            raise ValidationError(
                f"table {table.name} has no index {name!r} for its replica identity",
                object=where,
                hint=did_you_mean(name, table.indexes)
                or f"Its indexes: {', '.join(table.indexes) or '(none)'}.",
            )
        columns = table.columns_by_physical()
        nullable = [columns[c].name for c in index.columns if c in columns and columns[c].nullable]
        shape = probe.index_shape(schema.name, name)
        expression, deferrable = (
            (shape.expression_key, shape.deferrable) if shape else (False, False)
        )
        problem = (
            "is not unique"
            if not index.unique
            else "is partial"
            if index.partial
            else "is not valid"
            if not index.valid
            else f"covers a nullable column ({', '.join(nullable)})"
            if nullable
            else "has an expression among its keys"
            if expression
            else "belongs to a deferrable constraint"
            if deferrable
            else None
        )
        if problem is not None:
            raise ValidationError(
                f"index {name} of table {table.name} {problem}: PostgreSQL takes as replica "
                "identity only a unique, non-partial, valid, immediate index on NOT NULL columns",
                object=where,
                hint="Choose such an index, or `identity: full` (every column identifies the row).",
            )

    def _set(self, table: Table, identity: Identity, description: str) -> Step:
        return Step(
            description,
            # The action says IF EXISTS: a replayed rollback finds the table dropped by an
            # earlier undo.
            actions=(
                SetReplicaIdentityAction(
                    table=table.qualified, identity=identity.kind, index=identity.index
                ),
            ),
            lock=LockMode.ACCESS_EXCLUSIVE,
            tables=(table.qualified,),
            operation=self.name,
            notes=("metadata only: no scan",),
        )

    def start(
        self, checked: SetReplicaIdentityChecked, before: Schema, after: Schema
    ) -> list[Step]:
        table = before.table(self.spec.table)
        return [
            self._set(
                table,
                checked.identity,
                f"set the replica identity of {table.name} to {checked.identity.describe()}",
            )
        ]

    def complete(
        self, checked: SetReplicaIdentityChecked, before: Schema, after: Schema
    ) -> list[Step]:
        return []

    def rollback(
        self, checked: SetReplicaIdentityChecked, before: Schema, after: Schema
    ) -> list[Step]:
        table = before.table(self.spec.table)
        return [
            self._set(
                table,
                checked.previous,
                f"restore the replica identity of {table.name} ({checked.previous.describe()})",
            )
        ]
