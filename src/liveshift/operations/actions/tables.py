"""Actions on tables as a whole (create, drop, rename, replica identity), comments, and the
step that does nothing."""

from __future__ import annotations

from dataclasses import dataclass

from liveshift.operations.actions import Action


@dataclass(frozen=True, kw_only=True)
class ColumnDefinition:
    """One column of a new table: `type` as the engine names it (an auto-numbered column by its
    keyword, e.g. bigserial); `identity` is `always` or `by_default`."""

    name: str
    type: str
    identity: str | None = None
    default: str | None = None  # an expression as the user wrote it
    not_null: bool = False


@dataclass(frozen=True, kw_only=True)
class PrimaryKey:
    name: str | None  # None: the engine names it (a temporary twin has no named constraints)
    columns: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Unique:
    name: str | None
    columns: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str | None
    expression: str  # as the user wrote it


@dataclass(frozen=True, kw_only=True)
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    target: str  # qualified
    target_columns: tuple[str, ...]
    on_delete: str  # the referential action as the migration file spells it (cascade, ...)
    on_update: str


TableConstraint = PrimaryKey | Unique | Check | ForeignKey


@dataclass(frozen=True, kw_only=True)
class CreateTable(Action):
    """A new table with its columns and constraints, in the order given. A `temporary` table is
    a session's throwaway twin (a validation probe): `table` is then its bare name."""

    table: str  # qualified, or a bare name when temporary
    columns: tuple[ColumnDefinition, ...]
    constraints: tuple[TableConstraint, ...] = ()
    temporary: bool = False


@dataclass(frozen=True, kw_only=True)
class DropTable(Action):
    """Drop a table if it is there; `cascade` drops what depends on it with it."""

    table: str  # qualified
    cascade: bool = False


@dataclass(frozen=True, kw_only=True)
class RenameTable(Action):
    """Rename a table if it is there (a replayed step finds it renamed)."""

    table: str  # qualified
    to: str


@dataclass(frozen=True, kw_only=True)
class SetReplicaIdentity(Action):
    """What logical replication sends to identify a changed row: `default` (the primary key),
    `full` (every column), `nothing`, or `index` (the unique index named `index`)."""

    table: str  # qualified
    identity: str
    index: str | None = None


@dataclass(frozen=True, kw_only=True)
class CommentOnTable(Action):
    table: str  # qualified
    comment: str


@dataclass(frozen=True, kw_only=True)
class Nothing(Action):
    """A step that runs and changes nothing: it keeps a place in the plan (a skipped or a
    warning step) so the journal records it like any other."""
