"""Pydantic models of the migration file format (the source of the generated JSON Schema)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from liveshift.errors import ValidationError
from liveshift.sqlexpr import unwrap_select


def _scalar_to_sql(value: Any) -> Any:
    # `default: 0` or `default: false` in YAML arrive as numbers and booleans: both are SQL too.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _value_expression(what: str) -> AfterValidator:
    # `up: SELECT CASE WHEN x IS NULL THEN 0 ELSE x END` is the expression after SELECT.
    def unwrap(value: str) -> str:
        try:
            return unwrap_select(value, what)
        except ValidationError as exc:
            raise ValueError(f"{exc.message}. {exc.hint}") from None

    return AfterValidator(unwrap)


Identifier = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[^\x00]+$")]
SqlExpression = Annotated[str, BeforeValidator(_scalar_to_sql), Field(min_length=1)]
# `up`/`down` of a column: one value computed from the row (a leading `SELECT` is accepted).
UpExpression = Annotated[SqlExpression, _value_expression("up")]
DownExpression = Annotated[SqlExpression, _value_expression("down")]
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


class KeyName(Strict):
    """`unique: {name: ...}` or `primary_key: {name: ...}`: the key, under the name given (as
    `check: {name}` and `references: {name}` name theirs); `true` keeps PostgreSQL's naming."""

    name: Identifier


def key_name(key: bool | KeyName | None) -> str | None:
    """The name a `unique:` / `primary_key:` value gives its constraint, if it gives one."""
    return key.name if isinstance(key, KeyName) else None


class Column(Strict):
    """A column definition as the new application version sees it."""

    name: Identifier
    type: Annotated[str, Field(min_length=1)]
    nullable: bool = True
    default: SqlExpression | None = None
    unique: bool | KeyName = False
    primary_key: bool | KeyName = False
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
    up: UpExpression | None = None
    backfill_triggers: TriggerChoice = None
    schema_: Identifier | None = Field(default=None, alias="schema")


class DropColumn(Strict):
    """Drop a column; `down` fills it for rows that new clients write, until complete."""

    table: Identifier
    column: Identifier
    down: DownExpression | None = None
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
    unique: bool | KeyName | None = None
    check: Check | None = None
    references: References | None = None
    name: Identifier | None = None
    up: UpExpression | None = None
    down: DownExpression | None = None
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
            self.up,  # values fixed for the new version, with no other change
            self.down,
        ]
        if all(change is None for change in changes) and not self.sets_comment:
            raise ValueError(
                "alter_column changes nothing: give at least one of type, nullable, default, "
                "drop_default, unique, check, references, name, up, down, comment"
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


# An operator class, optionally schema-qualified (`text_pattern_ops`, `public.my_ops`).
OperatorClass = Annotated[
    str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$", max_length=127)
]
# A storage parameter's value (`fillfactor: 70`, `fastupdate: false`, `buffering: auto`).
StorageValue = bool | int | float | str


class IndexKey(Strict):
    """One key of an index with its options: a `column` or an `expression`, and optionally an
    operator class, a collation, a sort order and where NULLs sort."""

    column: Identifier | None = None
    expression: SqlExpression | None = None
    opclass: OperatorClass | None = None
    collate: Identifier | None = None
    order: Literal["asc", "desc"] | None = None
    nulls: Literal["first", "last"] | None = None

    @model_validator(mode="after")
    def _one_key(self) -> IndexKey:
        if (self.column is None) == (self.expression is None):
            raise ValueError(
                "an index key names either `column: email` or `expression: lower(email)`"
                + (", not both" if self.column is not None else "")
            )
        return self


class CreateIndex(Strict):
    name: Identifier
    table: Identifier
    # Column names, expressions such as "lower(email)", or keys with options (IndexKey).
    columns: Annotated[list[str | IndexKey], Field(min_length=1)]
    unique: bool = False
    method: Literal["btree", "hash", "gist", "gin", "spgist", "brin"] = "btree"
    where: SqlExpression | None = None
    include: list[Identifier] = Field(default_factory=list)
    # Storage parameters: CREATE INDEX ... WITH (fillfactor = 70, ...).
    with_: dict[Identifier, StorageValue] = Field(default_factory=dict, alias="with")
    schema_: Identifier | None = Field(default=None, alias="schema")


class DropIndex(Strict):
    name: Identifier
    schema_: Identifier | None = Field(default=None, alias="schema")


# An operator of an exclusion constraint: symbols (`&&`, `=`, `<>`, `-|-`), or OPERATOR(schema.op).
ExclusionOperator = Annotated[
    str,
    Field(
        pattern=r"^([~!@#%^&*+\-<>=|`?/]+|OPERATOR\([A-Za-z_][A-Za-z0-9_]*\.[~!@#%^&*+\-<>=|`?/]+\))$",
        max_length=127,
    ),
]


class ExclusionElement(Strict):
    """One element of an exclusion constraint: a `column` or an `expression`, the `operator` two
    rows must not both satisfy on it, and optionally an operator class."""

    column: Identifier | None = None
    expression: SqlExpression | None = None
    operator: ExclusionOperator
    opclass: OperatorClass | None = None

    @model_validator(mode="after")
    def _one_key(self) -> ExclusionElement:
        if (self.column is None) == (self.expression is None):
            raise ValueError(
                "an exclusion element names either `column: during` or `expression: "
                "tstzrange(starts, ends)`" + (", not both" if self.column is not None else "")
            )
        return self


class AddConstraint(Strict):
    table: Identifier
    name: Identifier
    type: Literal["check", "unique", "foreign_key", "primary_key", "exclude"]
    columns: list[Identifier] = Field(default_factory=list)
    check: SqlExpression | None = None
    references: References | None = None
    # unique / primary_key: covering columns stored in the index (INCLUDE).
    include: list[Identifier] = Field(default_factory=list)
    # exclude: the index method, the elements, an optional predicate (a partial constraint), and
    # the consent to build the index under a lock that blocks reads and writes on a table with
    # rows (PostgreSQL has no NOT VALID nor USING INDEX for an exclusion constraint).
    using: Literal["gist", "spgist", "btree", "hash"] = "gist"
    elements: list[ExclusionElement] = Field(default_factory=list)
    where: SqlExpression | None = None
    build_under_lock: bool = False
    # check / unique / foreign_key over one column: the column's values for the new version
    # (fixing the rows that would violate it) and, back, for old clients (as alter_column's).
    up: UpExpression | None = None
    down: DownExpression | None = None
    backfill_triggers: TriggerChoice = None  # with `up`/`down`, as alter_column's
    schema_: Identifier | None = Field(default=None, alias="schema")

    @model_validator(mode="after")
    def _fits_type(self) -> AddConstraint:
        if self.type == "check" and not self.check:
            raise ValueError("a check constraint needs `check: <boolean SQL expression>`")
        if self.type in ("unique", "foreign_key", "primary_key") and not self.columns:
            raise ValueError(f"a {self.type} constraint needs `columns: [...]`")
        if self.up is not None or self.down is not None:
            self._up_down_fits()
        elif self.backfill_triggers is not None:
            raise ValueError("`backfill_triggers:` belongs with `up`/`down` (a backfill)")
        if self.include and self.type not in ("unique", "primary_key"):
            raise ValueError("`include:` belongs to a unique or primary_key constraint")
        if self.type == "exclude":
            if not self.elements:
                raise ValueError(
                    "an exclude constraint needs `elements: [{column: ..., operator: ...}, ...]`"
                )
            if self.columns:
                raise ValueError(
                    "an exclude constraint lists `elements:` (each a column or expression with "
                    "its operator), not `columns:`"
                )
        else:
            for key in ("elements", "where", "build_under_lock"):
                if key in self.model_fields_set:
                    raise ValueError(f"`{key}:` belongs to an exclude constraint")
            if "using" in self.model_fields_set:
                raise ValueError("`using:` (the index method) belongs to an exclude constraint")
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

    def _up_down_fits(self) -> None:
        if self.type in ("primary_key", "exclude"):
            raise ValueError(
                f"`up`/`down` on a {self.type} constraint: fix the column's values first, with an "
                "alter_column `{table, column, up, down}` (and `nullable: false` for a key) in an "
                "earlier migration, then add the constraint"
            )
        if len(self.columns) != 1 or self.include:
            raise ValueError(
                "`up`/`down` give the new version the fixed values of one column: list that one "
                "column in `columns: [...]` (no `include:`); for a constraint over several "
                "columns, fix each column with alter_column `up`/`down` in an earlier migration"
            )


class DropConstraint(Strict):
    table: Identifier
    name: Identifier
    schema_: Identifier | None = Field(default=None, alias="schema")


class RenameConstraint(Strict):
    """Rename a constraint (a unique, primary key or exclusion constraint renames its index too)."""

    table: Identifier
    from_: Identifier = Field(alias="from")
    to: Identifier
    schema_: Identifier | None = Field(default=None, alias="schema")


class ReplicaIdentityIndex(Strict):
    """`identity: {index: name}`: REPLICA IDENTITY USING INDEX, a unique index of the table."""

    index: Identifier


class SetReplicaIdentity(Strict):
    """What logical replication sends of an updated or deleted row: `default` (the primary key),
    `full` (every column), `nothing`, or `{index: name}`."""

    table: Identifier
    identity: Literal["default", "full", "nothing"] | ReplicaIdentityIndex
    schema_: Identifier | None = Field(default=None, alias="schema")


class RawSql(Strict):
    """Hand-written SQL: `up` at start (at complete with `on_complete: true`), `down` at rollback."""

    up: SqlExpression
    down: SqlExpression | None = None
    on_complete: bool = False

    @model_validator(mode="after")
    def _down_undoes_a_start(self) -> RawSql:
        if self.on_complete and self.down is not None:
            raise ValueError(
                "a raw_sql with `on_complete: true` runs at complete, after which there is no "
                "rollback: its `down` would never run; drop `down` (or `on_complete` to run `up` "
                "at start, undone by `down` at rollback)"
            )
        return self


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


class RenameConstraintOp(Strict):
    rename_constraint: RenameConstraint


class SetReplicaIdentityOp(Strict):
    set_replica_identity: SetReplicaIdentity


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
    "rename_constraint": RenameConstraintOp,
    "set_replica_identity": SetReplicaIdentityOp,
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
    | RenameConstraint
    | SetReplicaIdentity
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
    | Annotated[RawSqlOp, Tag("raw_sql")]
    | Annotated[RenameConstraintOp, Tag("rename_constraint")]
    | Annotated[SetReplicaIdentityOp, Tag("set_replica_identity")],
    Discriminator(_operation_tag),
]


class MigrationFile(Strict):
    """A whole migration file: a name (defaults to the file stem) and its operations in order."""

    name: Identifier | None = None
    schema_: Identifier | None = Field(default=None, alias="schema")
    # The schema of the new version's views (new clients' search_path); default <schema>_<name>.
    version_schema: Identifier | None = None
    operations: Annotated[list[Operation], Field(min_length=1)]

    @model_validator(mode="after")
    def _version_schema_is_a_name(self) -> MigrationFile:
        chosen = self.version_schema
        if chosen is None:
            return self
        if len(chosen.encode()) > 63:
            raise ValueError(
                f"`version_schema: {chosen}` is {len(chosen.encode())} bytes long, over "
                "PostgreSQL's 63-byte limit for a name"
            )
        if chosen.lower().startswith("pg_") or chosen in ("liveshift", "information_schema"):
            raise ValueError(
                f"`version_schema: {chosen}` is reserved (pg_*, information_schema and "
                "liveshift's own state schema): choose another name"
            )
        return self


def unwrap(wrapper: Strict) -> tuple[str, OperationSpec]:
    """(operation name, its spec) from one `{name: spec}` entry."""
    (name,) = type(wrapper).model_fields
    spec: OperationSpec = getattr(wrapper, name)
    return name, spec
