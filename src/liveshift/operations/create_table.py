"""create_table: a new table, created whole at start (nobody uses it yet), dropped by rollback."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from liveshift.errors import ValidationError
from liveshift.migration.models import Column as ColumnSpec
from liveshift.migration.models import CreateTable, key_name
from liveshift.operations.actions import Action
from liveshift.operations.actions.columns import CommentOnColumn
from liveshift.operations.actions.tables import (
    Check,
    ColumnDefinition,
    CommentOnTable,
    DropTable,
    ForeignKey,
    PrimaryKey,
    TableConstraint,
    Unique,
)
from liveshift.operations.actions.tables import CreateTable as CreateTableAction
from liveshift.operations.base import CheckedOperation, short_name
from liveshift.operations.objects import refuse_reserved, refuse_taken_relation_name
from liveshift.plan import LockMode, Step
from liveshift.schema import Column, Constraint, Index, Schema, Table, quote_literal
from liveshift.sqlexpr import check_expression

if TYPE_CHECKING:
    from liveshift.engines.probe import ColumnType, Probe


@dataclass(frozen=True)
class CreateTableChecked:
    """Resolved in validate: the server's types of the columns, and the (table, physical column)
    each foreign key references."""

    types: Mapping[str, ColumnType]
    targets: Mapping[str, tuple[str, str]]


class CreateTableOperation(CheckedOperation[CreateTable, CreateTableChecked]):
    """Expand: CREATE TABLE with every column, default and constraint inline: the table is new and
    empty, so nothing needs NOT VALID or CONCURRENTLY. The new version's schema shows it through a
    view; old clients never refer to it. Contract: nothing. Rollback: DROP TABLE."""

    name = "create_table"

    def _constraint_name(self, column: str, suffix: str) -> str:
        return short_name(self.spec.table, column, suffix)

    def _primary_key(self) -> list[str]:
        return [c.name for c in self.spec.columns if c.primary_key]

    def _primary_key_name(self) -> str:
        named = [n for c in self.spec.columns if (n := key_name(c.primary_key))]
        return named[0] if named else short_name(self.spec.table, "pkey")

    def _unique_name(self, column: ColumnSpec) -> str:
        return key_name(column.unique) or self._constraint_name(column.name, "key")

    def validate(self, schema: Schema, probe: Probe) -> CreateTableChecked:
        spec = self.spec
        refuse_reserved(spec.table, "table")
        refuse_taken_relation_name(schema, probe, spec.table, "create_table")
        types: dict[str, ColumnType] = {}
        targets: dict[str, tuple[str, str]] = {}
        seen: set[str] = set()
        for column in spec.columns:
            if column.name in seen:
                raise ValidationError(
                    f"create_table {spec.table}: column {column.name!r} is defined twice",
                    object=f"{schema.name}.{spec.table}.{column.name}",
                    hint="Give each column one definition.",
                )
            seen.add(column.name)
            refuse_reserved(column.name, "column")
            types[column.name] = probe.column_type(column.type)
            if types[column.name].serial and (
                column.default is not None or column.identity is not None
            ):
                raise ValidationError(
                    f"create_table {spec.table}: column {column.name!r} is {column.type}, which "
                    "gives it a sequence and its default: it takes no `default:` or `identity:`",
                    object=f"{schema.name}.{spec.table}.{column.name}",
                    hint=f"Drop `default:`/`identity:`, or make the type "
                    f"`{types[column.name].name}`.",
                )
            if column.default is not None:
                check_expression(column.default, "default")
            if column.check is not None:
                check_expression(column.check.constraint, "check")
            if column.references is not None:
                ref = column.references
                target = schema.table(ref.table) if ref.table != spec.table else None
                if target is None:
                    if ref.target_column not in seen and ref.target_column not in {
                        c.name for c in spec.columns
                    }:
                        raise ValidationError(
                            f"column {column.name!r} references {ref.table}.{ref.target_column}, "
                            "which is not a column of the new table",
                            object=f"{schema.name}.{spec.table}.{column.name}",
                        )
                    targets[column.name] = (self._qualified(schema), ref.target_column)
                else:
                    target_column = target.column(ref.target_column)
                    targets[column.name] = (target.qualified, target_column.physical)
        # The server checks types, defaults and checks together on a temporary twin of the table
        # (without foreign keys: their targets may be tables this migration creates).
        checked = CreateTableChecked(types, targets)
        twin = self._definition(checked, "_ls_probe", temporary=True)
        probe.accepts([twin], f"the definition of table {spec.table}")
        table = Table(schema=schema.name, name=spec.table)
        for column in spec.columns:
            resolved = types[column.name]
            default = column.default
            if resolved.serial:
                sequence = quote_literal(short_name(spec.table, column.name, "seq"))
                default = f"nextval({sequence}::regclass)"
            table.columns[column.name] = Column(
                name=column.name,
                type=resolved.name,
                # PostgreSQL makes serial and identity columns NOT NULL, as a primary key.
                nullable=column.nullable
                and not column.primary_key
                and not resolved.serial
                and column.identity is None,
                default=default,
                identity=column.identity is not None,
            )
        constraints: list[Constraint] = []
        primary = self._primary_key()
        if primary:
            named = sorted({n for c in spec.columns if (n := key_name(c.primary_key))})
            if len(named) > 1:
                raise ValidationError(
                    f"create_table {spec.table}: the primary key over ({', '.join(primary)}) is "
                    f"given {len(named)} names ({', '.join(named)})",
                    object=f"{schema.name}.{spec.table}",
                    hint="A table has one primary key: give its name on one column (or the same "
                    "on each).",
                )
            constraints.append(Constraint(self._primary_key_name(), "p", primary))
        for column in spec.columns:
            if column.unique:
                constraints.append(Constraint(self._unique_name(column), "u", [column.name]))
            if column.check is not None:
                check = column.check.name or self._constraint_name(column.name, "check")
                constraints.append(
                    Constraint(check, "c", [column.name], definition=column.check.constraint)
                )
            if column.references is not None:
                fkey = column.references.name or self._constraint_name(column.name, "fkey")
                constraints.append(
                    Constraint(fkey, "f", [column.name], referenced_table=column.references.table)
                )
        for constraint in constraints:
            if constraint.name in table.constraints:
                raise ValidationError(
                    f"create_table {spec.table}: two constraints would be named "
                    f"{constraint.name!r}",
                    object=f"{schema.name}.{spec.table}",
                    hint="Give the checks and references distinct `name:`s.",
                )
            table.constraints[constraint.name] = constraint
            if constraint.kind in ("p", "u"):
                # Their indexes are relations of the schema: the name must be free there too.
                refuse_taken_relation_name(schema, probe, constraint.name, "the index")
                table.indexes[constraint.name] = Index(
                    constraint.name,
                    list(constraint.columns),
                    unique=True,
                    primary=constraint.kind == "p",
                )
        schema.tables[spec.table] = table
        return checked

    def _definition(
        self, checked: CreateTableChecked, table: str, *, temporary: bool
    ) -> CreateTableAction:
        """CREATE TABLE with every column and constraint; a temporary probe twin leaves out the
        foreign keys and the names of constraints (temporary tables share no namespace)."""
        columns: list[ColumnDefinition] = []
        for column in self.spec.columns:
            resolved = checked.types[column.name]
            columns.append(
                ColumnDefinition(
                    name=column.name,
                    # A serial column is declared as such: PostgreSQL makes its sequence, owned
                    # by the column, its default and NOT NULL, exactly as for the user's own
                    # CREATE TABLE.
                    type=resolved.serial_keyword if resolved.serial else resolved.name,
                    identity=column.identity,
                    default=column.default,
                    not_null=not column.nullable and not column.primary_key,
                )
            )
        constraints: list[TableConstraint] = []
        primary = self._primary_key()
        if primary:
            name = None if temporary else self._primary_key_name()
            constraints.append(PrimaryKey(name=name, columns=tuple(primary)))
        for column in self.spec.columns:
            if column.unique:
                key = None if temporary else self._unique_name(column)
                constraints.append(Unique(name=key, columns=(column.name,)))
            if column.check is not None:
                check = column.check.name or self._constraint_name(column.name, "check")
                constraints.append(
                    Check(name=None if temporary else check, expression=column.check.constraint)
                )
            if column.references is not None and not temporary:
                ref = column.references
                target, target_column = checked.targets[column.name]
                constraints.append(
                    ForeignKey(
                        name=ref.name or self._constraint_name(column.name, "fkey"),
                        columns=(column.name,),
                        target=target,
                        target_columns=(target_column,),
                        on_delete=ref.on_delete,
                        on_update=ref.on_update,
                    )
                )
        return CreateTableAction(
            table=table,
            columns=tuple(columns),
            constraints=tuple(constraints),
            temporary=temporary,
        )

    def _qualified(self, schema: Schema) -> str:
        return Table(schema=schema.name, name=self.spec.table).qualified

    def _referenced(self, before: Schema) -> tuple[str, ...]:
        return tuple(
            sorted(
                {
                    before.table(c.references.table).qualified
                    for c in self.spec.columns
                    if c.references is not None and c.references.table != self.spec.table
                }
            )
        )

    def start(self, checked: CreateTableChecked, before: Schema, after: Schema) -> list[Step]:
        qualified = self._qualified(before)
        actions: list[Action] = [self._definition(checked, qualified, temporary=False)]
        if self.spec.comment is not None:
            actions.append(CommentOnTable(table=qualified, comment=self.spec.comment))
        for column in self.spec.columns:
            if column.comment is not None:
                actions.append(
                    CommentOnColumn(table=qualified, column=column.name, comment=column.comment)
                )
        referenced = self._referenced(before)
        return [
            Step(
                f"create table {self.spec.table}",
                actions=tuple(actions),
                # A foreign key takes SHARE ROW EXCLUSIVE on the table it points at, briefly:
                # the new table is empty, so nothing is checked.
                lock=LockMode.SHARE_ROW_EXCLUSIVE if referenced else None,
                tables=referenced,
                operation=self.name,
                notes=("new, empty table: no scan, no rewrite",),
            )
        ]

    def complete(self, checked: CreateTableChecked, before: Schema, after: Schema) -> list[Step]:
        return []

    def rollback(self, checked: CreateTableChecked, before: Schema, after: Schema) -> list[Step]:
        qualified = self._qualified(before)
        referenced = self._referenced(before)
        return [
            Step(
                f"drop the new table {self.spec.table}",
                actions=(DropTable(table=qualified),),
                lock=LockMode.ACCESS_EXCLUSIVE,
                tables=(qualified, *referenced),
                operation=self.name,
                notes=("drops the rows new clients wrote into it",),
            )
        ]
