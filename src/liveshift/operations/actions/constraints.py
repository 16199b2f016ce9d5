"""Actions on constraints and indexes."""

from __future__ import annotations

from dataclasses import dataclass, field

from liveshift.operations.actions import Action


@dataclass(frozen=True, kw_only=True)
class ValidateConstraint(Action):
    """Check every existing row against a constraint added unvalidated, without blocking writes."""

    table: str  # qualified
    name: str


@dataclass(frozen=True, kw_only=True)
class AddCheck(Action):
    """A check constraint enforced for new writes at once, with no scan of the rows there are
    (they are checked later by ValidateConstraint)."""

    table: str  # qualified
    name: str
    condition: str  # over the table's physical column names


@dataclass(frozen=True, kw_only=True)
class AddNotNullCheck(Action):
    """A check that `column` is not null, enforced for new writes at once, with no scan (validated
    later, it spares SET NOT NULL its own scan)."""

    table: str  # qualified
    name: str
    column: str  # physical


@dataclass(frozen=True, kw_only=True)
class AddForeignKey(Action):
    """A foreign key enforced for new writes at once, with no scan of the rows there are."""

    table: str  # qualified
    name: str
    columns: tuple[str, ...]  # physical
    target: str  # the referenced table, qualified
    target_columns: tuple[str, ...]  # physical, in key order
    on_delete: str
    on_update: str


@dataclass(frozen=True, kw_only=True)
class ExclusionElement:
    """One element of an exclusion constraint: a column or an expression, compared by `operator`."""

    column: str | None = None  # physical
    expression: str | None = None  # over physical column names
    opclass: str | None = None  # possibly schema-qualified: "schema.opclass"
    operator: str


@dataclass(frozen=True, kw_only=True)
class AddExclusion(Action):
    """An exclusion constraint, built (and checked against every row) as it is added."""

    table: str  # qualified
    name: str
    using: str  # the index access method
    elements: tuple[ExclusionElement, ...]
    where: str | None = None  # over physical column names


@dataclass(frozen=True, kw_only=True)
class AddConstraintUsingIndex(Action):
    """A unique or primary key constraint made of an existing valid unique index, which takes the
    constraint's name: catalog only."""

    table: str  # qualified
    name: str
    index: str
    primary: bool = False
    deferrable: bool = False
    deferred: bool = False  # initially deferred (with deferrable)


@dataclass(frozen=True, kw_only=True)
class DropConstraint(Action):
    """Drop a constraint of a table; `if_exists`: no error when the constraint is not there,
    `table_if_exists`: nor when the table is not (a replayed rollback)."""

    table: str  # qualified
    name: str
    if_exists: bool = False
    table_if_exists: bool = False


@dataclass(frozen=True, kw_only=True)
class RenameConstraint(Action):
    """Rename a constraint (and the index of a unique, primary key or exclusion constraint);
    `if_exists`: no error when the table is not there."""

    table: str  # qualified
    old: str
    new: str
    if_exists: bool = False


@dataclass(frozen=True, kw_only=True)
class RenameConstraintIfPresent(Action):
    """Rename a constraint only if the table has one by the name `old` (a rollback that runs from
    any point of start, before or after the rename)."""

    table: str  # qualified
    old: str
    new: str


@dataclass(frozen=True, kw_only=True)
class AddConstraintDefinition(Action):
    """A constraint of another column, as the engine's catalog defined it, rewritten onto a new
    column (carry-over): `definition` is the engine's own ADD CONSTRAINT clause, unvalidated."""

    table: str  # qualified
    definition: str


@dataclass(frozen=True, kw_only=True)
class RepointForeignKey(Action):
    """A foreign key of another table made again, unvalidated, to reference a new column
    (carry-over): `statement` is the engine's own ALTER TABLE, from its catalog's definition."""

    table: str  # qualified: the referencing table
    statement: str


# -- indexes -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class IndexKey:
    """One key of an index: a column or an expression, with its sort options."""

    column: str | None = None  # physical
    expression: str | None = None  # over physical column names
    collate: str | None = None
    opclass: str | None = None  # possibly schema-qualified: "schema.opclass"
    order: str | None = None  # asc / desc
    nulls: str | None = None  # first / last


@dataclass(frozen=True, kw_only=True)
class StorageParameter:
    """An index storage parameter (WITH (name = value))."""

    name: str
    value: bool | int | float | str


@dataclass(frozen=True, kw_only=True)
class CreateIndex(Action):
    """Build an index; `concurrently`: without blocking writes (outside a transaction). `name`
    None: the engine names it (a probe's scratch build)."""

    table: str  # qualified
    name: str | None
    keys: tuple[IndexKey, ...]
    unique: bool = False
    method: str | None = None  # None: the engine's default, unnamed
    include: tuple[str, ...] = ()  # physical
    storage: tuple[StorageParameter, ...] = field(default=())
    where: str | None = None  # over physical column names
    concurrently: bool = True


@dataclass(frozen=True, kw_only=True)
class CreateIndexDefinition(Action):
    """An index of another column, as the engine's catalog defined it, rewritten onto a new
    column (carry-over): `definition` is the engine's own CREATE INDEX statement."""

    definition: str


@dataclass(frozen=True, kw_only=True)
class DropIndex(Action):
    """Drop an index of `schema` if it is there; `concurrently`: without blocking writes."""

    schema: str
    name: str
    concurrently: bool = True


@dataclass(frozen=True, kw_only=True)
class RenameIndex(Action):
    """Rename an index of `schema`."""

    schema: str
    old: str
    new: str


# -- a replaced column's sequence, identity and table marks (carry-over) ---------------------------
# These belong to the columns / sequences area; defined here for carry_over until that area has
# its own (the integrator dedupes).


@dataclass(frozen=True, kw_only=True)
class ReplicaIdentityUsingIndex(Action):
    """The table's replica identity becomes the unique index `index`."""

    table: str  # qualified
    index: str


@dataclass(frozen=True, kw_only=True)
class ClusterOn(Action):
    """Mark `index` as the one CLUSTER uses for the table (no rewrite now)."""

    table: str  # qualified
    index: str


@dataclass(frozen=True, kw_only=True)
class SetSequenceOwner(Action):
    """A sequence becomes owned by a column (dropped with it)."""

    sequence: str  # qualified
    table: str  # qualified
    column: str  # physical


@dataclass(frozen=True, kw_only=True)
class SetSequenceType(Action):
    """A sequence's data type (its bounds follow when they were the old type's own)."""

    sequence: str  # qualified
    type: str


@dataclass(frozen=True, kw_only=True)
class RecreateIdentity(Action):
    """A column becomes an identity column, its new sequence `sequence_schema`.`sequence_name`
    with these options; a bound None is the column type's own."""

    table: str  # qualified
    column: str  # physical
    always: bool  # GENERATED ALWAYS, else BY DEFAULT
    sequence_schema: str
    sequence_name: str
    increment: int
    minimum: int | None
    maximum: int | None
    start: int
    cache: int
    cycle: bool


@dataclass(frozen=True, kw_only=True)
class CopySequencePosition(Action):
    """Sequence `target_schema`.`target_name` goes on from where `source` is."""

    source: str  # qualified
    target_schema: str
    target_name: str


@dataclass(frozen=True, kw_only=True)
class RenameSequence(Action):
    """Rename a sequence of `schema`."""

    schema: str
    old: str
    new: str
