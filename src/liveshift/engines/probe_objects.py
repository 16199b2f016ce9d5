"""The catalog questions operations ask about live objects, with typed answers, any engine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from liveshift.schema import quote_ident

if TYPE_CHECKING:
    from liveshift.operations.actions import Action
    from liveshift.schema import Table


@dataclass(frozen=True)
class Dependent:
    """An object that depends on a column; `involves_others` when it is more than the column's own
    index or constraint (a view, a trigger, a multi-column index, a foreign key pointing at it)."""

    kind: str
    name: str
    involves_others: bool

    def describe(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class TableDependent:
    """Something outside the table that breaks or blocks when the table goes away."""

    kind: str
    name: str

    def describe(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class IndexFact:
    """An index of the table that uses the column and backs no constraint."""

    name: str
    definition: str  # pg_get_indexdef, schema-qualified
    valid: bool
    uses: tuple[str, ...]  # every column of the table it uses
    replica_identity: bool  # REPLICA IDENTITY USING INDEX names it
    clustered: bool  # CLUSTER ON names it


@dataclass(frozen=True)
class ConstraintFact:
    """A constraint of the table that uses the column."""

    name: str
    kind: str  # 'p', 'u', 'c', 'f', 'x', ...
    definition: str  # pg_get_constraintdef, schema-qualified
    validated: bool
    deferrable: bool
    deferred: bool
    index_definition: str | None  # for 'p' and 'u': pg_get_indexdef of its index
    referenced_table: str | None  # for 'f': schema-qualified, quoted where needed
    referenced_types: tuple[str, ...]  # for 'f': types of the referenced columns, in key order
    key: tuple[str, ...]  # conkey, in order
    references_itself: bool  # a foreign key from the column to the column itself
    uses: tuple[str, ...]
    replica_identity: bool  # for 'p' and 'u': REPLICA IDENTITY USING INDEX names its index
    clustered: bool  # for 'p' and 'u': CLUSTER ON names its index


@dataclass(frozen=True)
class ReferencingKeyFact:
    """A foreign key, of this table or another, that references the column."""

    name: str
    schema: str
    table: str
    definition: str
    validated: bool
    estimated_rows: int
    index: str  # the unique index of the referenced table it relies on
    key_types: tuple[str, ...]  # types of its own (referencing) columns, in key order
    key: tuple[str, ...]  # its own columns, in key order
    referenced: tuple[str, ...]  # the referenced columns, in key order

    @property
    def qualified(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.table)}"


@dataclass(frozen=True)
class SequenceFact:
    """The sequence a serial or identity column owns, with its options."""

    qualified: str
    schema: str
    name: str
    type: str
    start: int
    increment: int
    minimum: int
    maximum: int
    cache: int
    cycle: bool
    identity: str  # 'a' (always), 'd' (by default) or '' (a serial's sequence)


@dataclass(frozen=True)
class ColumnFacts:
    """What depends on a column that a replacement column has to carry over."""

    indexes: list[IndexFact]
    constraints: list[ConstraintFact]
    referencing: list[ReferencingKeyFact]
    sequence: SequenceFact | None
    catalog_names: set[tuple[str, str]]  # ('index' | 'constraint' | 'referencing', name)


@dataclass(frozen=True)
class ReplicaIdentityFacts:
    """A live table's replica identity: 'default', 'full', 'nothing' or 'index' (then `index`
    names the index, None if the catalog has none marked)."""

    kind: str
    index: str | None = None


@dataclass(frozen=True)
class IndexShape:
    """What the schema model does not hold of a live index."""

    expression_key: bool  # an expression among its keys
    deferrable: bool  # it backs a deferrable constraint


class ObjectQuestions(Protocol):
    """What operations ask an engine's probe about the live catalog. Every question runs
    read-only (rolled back, under a short lock timeout); a refusal by the server is a
    ValidationError about the question, a held lock a DatabaseError."""

    def column_dependents(self, table: Table, physical: str) -> list[Dependent]:
        """Every object that depends on `table`.`physical` (views, indexes, constraints, triggers,
        policies, generated columns, statistics, foreign keys pointing at it), except
        liveshift's own version views and sync triggers."""
        ...

    def has_rows_where(self, table: Table, condition: str) -> bool:
        """Whether any row of `table` matches `condition` (over physical column names)."""
        ...

    def column_facts(self, table: Table, physical: str) -> ColumnFacts:
        """The indexes, constraints, foreign keys pointing at it and owned sequence of a column,
        their definitions schema-qualified as the catalog prints them."""
        ...

    def relation_kind(self, schema: str, name: str) -> str | None:
        """What the catalog holds under `schema.name` ('table', 'view', 'materialized view',
        'index', 'sequence', 'foreign table', 'relation'), None: nothing."""
        ...

    def schema_exists(self, name: str) -> bool:
        """Whether a schema of that name exists."""
        ...

    def table_dependents(self, table: Table) -> list[TableDependent]:
        """Views, foreign keys of other tables and functions that use `table` (liveshift's own
        version views excepted)."""
        ...

    def views_in_schema(self, schema: str) -> set[str]:
        """The names of the (plain) views of a schema; empty when there is no such schema."""
        ...

    def raw_sql_ran_before(self, schema: str, migration: str, sql: str) -> bool:
        """Whether a rolled-back earlier start of this migration ran this raw SQL to the end."""
        ...

    def replica_identity(self, table: Table) -> ReplicaIdentityFacts | None:
        """The live table's replica identity; None: the table is not there yet."""
        ...

    def index_shape(self, schema: str, name: str) -> IndexShape | None:
        """What the model does not hold of the index `schema.name`; None: no such index."""
        ...

    def check_trigger_skipping(self) -> None:
        """Refuse (ValidationError with the server's reason) when this role may not make the
        backfill skip the table's triggers."""
        ...

    def accepts(
        self, actions: Sequence[Action], what: str, internal: dict[str, str] | None = None
    ) -> None:
        """Whether the server accepts the actions, run and rolled back: a refusal is a
        ValidationError about `what` in its own words (`internal`: temporary names -> users')."""
        ...
