"""Pydantic models of the migration file format (the source of the generated JSON Schema)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)


def _scalar_to_sql(value: Any) -> Any:
    # `default: 0` or `default: false` in YAML arrive as numbers and booleans: both are SQL too.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


Identifier = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[^\x00]+$")]
SqlExpression = Annotated[str, BeforeValidator(_scalar_to_sql), Field(min_length=1)]
# Whether the table's own UPDATE triggers fire for the rows a backfill writes (docs/backfill.md).
TriggerChoice = Literal["fire", "skip"] | None


class Strict(BaseModel):
    """Base of every model: unknown keys are refused, values are not coerced across types."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class References(Strict):
    """The referenced side of a foreign key: `table` and either one `column` or, for a key over
    several columns (add_constraint only), `columns` in the order of the referencing columns."""

    table: Identifier
    column: Identifier | None = None
    columns: Annotated[list[Identifier], Field(min_length=1)] | None = None
    name: Identifier | None = None
    on_delete: Literal["no action", "restrict", "cascade", "set null", "set default"] = "no action"
    on_update: Literal["no action", "restrict", "cascade", "set null", "set default"] = "no action"

    @model_validator(mode="after")
    def _one_column_list(self) -> References:
        if (self.column is None) == (self.columns is None):
            raise ValueError(
                "`references:` names the referenced columns once: either `column: id` or "
                "`columns: [tenant_id, id]`" + (", not both" if self.column is not None else "")
            )
        return self

    @property
    def targets(self) -> list[str]:
        """The referenced columns, in key order."""
        return [self.column] if self.column is not None else list(self.columns or ())

    @property
    def target_column(self) -> str:
        """The one referenced column of a column's own foreign key (the models of add_column,
        alter_column and create_table refuse more than one)."""
        (only,) = self.targets
        return only


def _one_referenced_column(references: References | None, where: str) -> None:
    # A column's `references:` is a key of that one column; several belong to add_constraint.
    if references is not None and len(references.targets) != 1:
        raise ValueError(
            f"{where} `references:` of a single column names one referenced column, not "
            f"{len(references.targets)}: a foreign key over several columns is an add_constraint "
            "with `type: foreign_key`, `columns: [...]` and `references: {table, columns: [...]}`"
        )


class Check(Strict):
    """A CHECK constraint on the column; `constraint` is a boolean SQL expression."""

    constraint: SqlExpression
    name: Identifier | None = None


class Column(Strict):
    """A column definition as the new application version sees it."""

    name: Identifier
    type: Annotated[str, Field(min_length=1)]
    nullable: bool = True
    default: SqlExpression | None = None
    unique: bool = False
    primary_key: bool = False
    check: Check | None = None
    references: References | None = None
    comment: str | None = None
    # GENERATED ALWAYS / BY DEFAULT AS IDENTITY: values from the column's own sequence.
    identity: Literal["always", "by_default"] | None = None

    @model_validator(mode="after")
    def _references_one_column(self) -> Column:
        _one_referenced_column(self.references, "a column's")
        if self.identity is not None and self.default is not None:
            raise ValueError(
                f"column {self.name!r}: an identity column takes its values from its sequence, "
                "it has no `default:`"
            )
        return self


class AddColumn(Strict):
    """Add a column; `up` fills existing rows and rows that old clients write."""

    table: Identifier
    column: Column
    up: SqlExpression | None = None
    backfill_triggers: TriggerChoice = None
    schema_: Identifier | None = Field(default=None, alias="schema")


class DropColumn(Strict):
    """Drop a column; `down` fills it for rows that new clients write, until complete."""

    table: Identifier
    column: Identifier
    down: SqlExpression | None = None
    schema_: Identifier | None = Field(default=None, alias="schema")


class RenameColumn(Strict):
    table: Identifier
    # pydantic reserves `from`; the file key is `from`.
    from_: Identifier = Field(alias="from")
    to: Identifier
    schema_: Identifier | None = Field(default=None, alias="schema")


class AlterColumn(Strict):
    """Change one column: type, nullability, default, unique, check, references or name."""

    table: Identifier
    column: Identifier
    type: str | None = None
    nullable: bool | None = None
    default: SqlExpression | None = None
    drop_default: bool = False
    unique: bool | None = None
    check: Check | None = None
    references: References | None = None
    name: Identifier | None = None
    up: SqlExpression | None = None
    down: SqlExpression | None = None
    # The column's comment; `comment: null` or `comment: ""` removes it.
    comment: str | None = None
    backfill_triggers: TriggerChoice = None
    schema_: Identifier | None = Field(default=None, alias="schema")

    @property
    def sets_comment(self) -> bool:
        """Whether the file gives `comment:` at all (null included: that removes it)."""
        return "comment" in self.model_fields_set

    @model_validator(mode="after")
    def _changes_something(self) -> AlterColumn:
        changes = [
            self.type,
            self.nullable,
            self.default,
            self.drop_default or None,
            self.unique,
            self.check,
            self.references,
            self.name,
        ]
        if all(change is None for change in changes) and not self.sets_comment:
            raise ValueError(
                "alter_column changes nothing: give at least one of type, nullable, default, "
                "drop_default, unique, check, references, name, comment"
            )
        _one_referenced_column(self.references, "alter_column's")
        return self


class CreateTable(Strict):
    table: Identifier
    columns: Annotated[list[Column], Field(min_length=1)]
    comment: str | None = None
    schema_: Identifier | None = Field(default=None, alias="schema")


class DropTable(Strict):
    """Drop a table at complete; `cascade` also drops the views and foreign keys that use it."""

    table: Identifier
    cascade: bool = False
    schema_: Identifier | None = Field(default=None, alias="schema")


class RenameTable(Strict):
    from_: Identifier = Field(alias="from")
    to: Identifier
    schema_: Identifier | None = Field(default=None, alias="schema")


class CreateIndex(Strict):
    name: Identifier
    table: Identifier
    columns: Annotated[list[str], Field(min_length=1)]
    unique: bool = False
    method: Literal["btree", "hash", "gist", "gin", "spgist", "brin"] = "btree"
    where: SqlExpression | None = None
    include: list[Identifier] = Field(default_factory=list)
    schema_: Identifier | None = Field(default=None, alias="schema")


class DropIndex(Strict):
    name: Identifier
    schema_: Identifier | None = Field(default=None, alias="schema")


class AddConstraint(Strict):
    table: Identifier
    name: Identifier
    type: Literal["check", "unique", "foreign_key"]
    columns: list[Identifier] = Field(default_factory=list)
    check: SqlExpression | None = None
    references: References | None = None
    schema_: Identifier | None = Field(default=None, alias="schema")

    @model_validator(mode="after")
    def _fits_type(self) -> AddConstraint:
        if self.type == "check" and not self.check:
            raise ValueError("a check constraint needs `check: <boolean SQL expression>`")
        if self.type in ("unique", "foreign_key") and not self.columns:
            raise ValueError(f"a {self.type} constraint needs `columns: [...]`")
        if self.type == "foreign_key":
            if self.references is None:
                raise ValueError(
                    "a foreign_key constraint needs `references: {table, column}` (or, over "
                    "several columns, `references: {table, columns: [...]}`)"
                )
            referenced = self.references.targets
            if len(referenced) != len(self.columns):
                raise ValueError(
                    f"the foreign key lists {len(self.columns)} column"
                    f"{'s' if len(self.columns) != 1 else ''} in `columns:` but references "
                    f"{len(referenced)} ({', '.join(referenced)}): each referencing column pairs "
                    "with the referenced column at the same position, so both lists have the "
                    "same length"
                )
        return self


class DropConstraint(Strict):
    table: Identifier
    name: Identifier
    schema_: Identifier | None = Field(default=None, alias="schema")


class RawSql(Strict):
    up: SqlExpression
    down: SqlExpression | None = None


# One entry of `operations:` is a mapping with exactly one key naming the operation.
class AddColumnOp(Strict):
    add_column: AddColumn


class DropColumnOp(Strict):
    drop_column: DropColumn


class RenameColumnOp(Strict):
    rename_column: RenameColumn


class AlterColumnOp(Strict):
    alter_column: AlterColumn


class CreateTableOp(Strict):
    create_table: CreateTable


class DropTableOp(Strict):
    drop_table: DropTable


class RenameTableOp(Strict):
    rename_table: RenameTable


class CreateIndexOp(Strict):
    create_index: CreateIndex


class DropIndexOp(Strict):
    drop_index: DropIndex


class AddConstraintOp(Strict):
    add_constraint: AddConstraint


class DropConstraintOp(Strict):
    drop_constraint: DropConstraint


class RawSqlOp(Strict):
    raw_sql: RawSql


OPERATION_WRAPPERS: dict[str, type[Strict]] = {
    "add_column": AddColumnOp,
    "drop_column": DropColumnOp,
    "rename_column": RenameColumnOp,
    "alter_column": AlterColumnOp,
    "create_table": CreateTableOp,
    "drop_table": DropTableOp,
    "rename_table": RenameTableOp,
    "create_index": CreateIndexOp,
    "drop_index": DropIndexOp,
    "add_constraint": AddConstraintOp,
    "drop_constraint": DropConstraintOp,
    "raw_sql": RawSqlOp,
}

OperationSpec = (
    AddColumn
    | DropColumn
    | RenameColumn
    | AlterColumn
    | CreateTable
    | DropTable
    | RenameTable
    | CreateIndex
    | DropIndex
    | AddConstraint
    | DropConstraint
    | RawSql
)


def _operation_tag(raw: Any) -> str | None:
    if isinstance(raw, dict) and len(raw) == 1:
        (name,) = raw
        return str(name)
    if isinstance(raw, BaseModel):
        (name,) = type(raw).model_fields
        return name
    return None


Operation = Annotated[
    Annotated[AddColumnOp, Tag("add_column")]
    | Annotated[DropColumnOp, Tag("drop_column")]
    | Annotated[RenameColumnOp, Tag("rename_column")]
    | Annotated[AlterColumnOp, Tag("alter_column")]
    | Annotated[CreateTableOp, Tag("create_table")]
    | Annotated[DropTableOp, Tag("drop_table")]
    | Annotated[RenameTableOp, Tag("rename_table")]
    | Annotated[CreateIndexOp, Tag("create_index")]
    | Annotated[DropIndexOp, Tag("drop_index")]
    | Annotated[AddConstraintOp, Tag("add_constraint")]
    | Annotated[DropConstraintOp, Tag("drop_constraint")]
    | Annotated[RawSqlOp, Tag("raw_sql")],
    Discriminator(_operation_tag),
]


class MigrationFile(Strict):
    """A whole migration file: a name (defaults to the file stem) and its operations in order."""

    name: Identifier | None = None
    schema_: Identifier | None = Field(default=None, alias="schema")
    operations: Annotated[list[Operation], Field(min_length=1)]


def unwrap(wrapper: Strict) -> tuple[str, OperationSpec]:
    """(operation name, its spec) from one `{name: spec}` entry."""
    (name,) = type(wrapper).model_fields
    spec: OperationSpec = getattr(wrapper, name)
    return name, spec
