"""Migration operations, one module each, registered by the name used in migration files."""

from __future__ import annotations

from typing import Any

from liveshift.errors import ValidationError
from liveshift.operations.add_column import AddColumnOperation
from liveshift.operations.add_constraint import AddConstraintOperation
from liveshift.operations.alter_column import AlterColumnOperation
from liveshift.operations.base import Names, Operation
from liveshift.operations.create_index import CreateIndexOperation
from liveshift.operations.create_table import CreateTableOperation
from liveshift.operations.drop_column import DropColumnOperation
from liveshift.operations.drop_constraint import DropConstraintOperation
from liveshift.operations.drop_index import DropIndexOperation
from liveshift.operations.drop_table import DropTableOperation
from liveshift.operations.raw_sql import RawSqlOperation
from liveshift.operations.rename_column import RenameColumnOperation
from liveshift.operations.rename_constraint import RenameConstraintOperation
from liveshift.operations.rename_table import RenameTableOperation
from liveshift.operations.set_replica_identity import SetReplicaIdentityOperation

OPERATIONS: dict[str, type[Operation[Any]]] = {
    AddColumnOperation.name: AddColumnOperation,
    AlterColumnOperation.name: AlterColumnOperation,
    DropColumnOperation.name: DropColumnOperation,
    RenameColumnOperation.name: RenameColumnOperation,
    AddConstraintOperation.name: AddConstraintOperation,
    CreateIndexOperation.name: CreateIndexOperation,
    CreateTableOperation.name: CreateTableOperation,
    DropConstraintOperation.name: DropConstraintOperation,
    DropIndexOperation.name: DropIndexOperation,
    DropTableOperation.name: DropTableOperation,
    RawSqlOperation.name: RawSqlOperation,
    RenameConstraintOperation.name: RenameConstraintOperation,
    RenameTableOperation.name: RenameTableOperation,
    SetReplicaIdentityOperation.name: SetReplicaIdentityOperation,
}


def build(name: str, spec: Any, names: Names) -> Operation[Any]:
    operation = OPERATIONS.get(name)
    if operation is None:
        raise ValidationError(
            f"operation {name!r} is not supported on PostgreSQL yet",
            hint="Supported: " + ", ".join(sorted(OPERATIONS)) + ". Use raw_sql meanwhile.",
        )
    return operation(spec, names)


__all__ = ["OPERATIONS", "Names", "Operation", "build"]
