"""Actions on columns (and the statements a column's change needs around it: its sequence, its
unique constraint, the lock of its final transaction)."""

from __future__ import annotations

from dataclasses import dataclass

from liveshift.operations.actions import Action

# -- clauses of one ALTER TABLE ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Clause:
    """One clause of an ALTER TABLE that makes several changes to a table at once."""


@dataclass(frozen=True, kw_only=True)
class AddColumnClause(Clause):
    """Add `column`; a `default` here fills existing rows at once (one the catalog can hold)."""

    column: str
    type: str
    default: str | None = None


@dataclass(frozen=True, kw_only=True)
class AlterTypeClause(Clause):
    column: str
    type: str


@dataclass(frozen=True, kw_only=True)
class SetDefaultClause(Clause):
    column: str
    default: str


@dataclass(frozen=True, kw_only=True)
class DropNotNullClause(Clause):
    column: str


@dataclass(frozen=True, kw_only=True)
class NotNullCheckClause(Clause):
    """A NOT VALID check that `column` is not null: enforced for new writes, no scan."""

    name: str
    column: str


@dataclass(frozen=True, kw_only=True)
class CheckClause(Clause):
    """A NOT VALID check of `condition` (over physical column names)."""

    name: str
    condition: str


@dataclass(frozen=True, kw_only=True)
class DefinitionClause(Clause):
    """A constraint clause as the server's catalog defines it (pg_get_constraintdef, adapted to
    the new column by carry_over): already the engine's own text, carried as such."""

    text: str


@dataclass(frozen=True, kw_only=True)
class AlterTable(Action):
    """One ALTER TABLE ONLY making every change of `clauses` (in one catalog update)."""

    table: str  # qualified
    clauses: tuple[Clause, ...]


# -- statements on one column ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SetNotNull(Action):
    table: str  # qualified
    column: str


@dataclass(frozen=True, kw_only=True)
class SetDefault(Action):
    table: str  # qualified
    column: str
    default: str


@dataclass(frozen=True, kw_only=True)
class DropDefault(Action):
    table: str  # qualified
    column: str


@dataclass(frozen=True, kw_only=True)
class AlterColumnType(Action):
    """Change `column`'s type (the server converts, and may rewrite, every row)."""

    table: str  # qualified
    column: str
    type: str


@dataclass(frozen=True, kw_only=True)
class RenameColumn(Action):
    table: str  # qualified
    old: str
    new: str


@dataclass(frozen=True, kw_only=True)
class RenameIndexColumns(Action):
    """Rename the columns called `old` in every index of `table` to `new`: an index keeps the
    names its columns had when it was built."""

    table: str  # qualified
    old: str
    new: str


@dataclass(frozen=True, kw_only=True)
class DropColumn(Action):
    table: str  # qualified
    column: str
    if_exists: bool = True


@dataclass(frozen=True, kw_only=True)
class CommentOnColumn(Action):
    """Set (or, with None, remove) the comment of `column`."""

    table: str  # qualified
    column: str
    comment: str | None


@dataclass(frozen=True, kw_only=True)
class AddIdentity(Action):
    """Make `column` an identity column; `generation` is "always" or "by default"."""

    table: str  # qualified
    column: str
    generation: str


@dataclass(frozen=True, kw_only=True)
class ResumeIdentity(Action):
    """Set the sequence of identity `column` to where the stand-in sequence stopped."""

    table: str  # qualified
    column: str
    schema: str
    sequence: str


# -- the column's sequence ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CreateSequence(Action):
    schema: str
    name: str
    type: str


@dataclass(frozen=True, kw_only=True)
class OwnSequence(Action):
    """The sequence belongs to `column` (dropped with it), as a serial's does."""

    schema: str
    sequence: str
    table: str  # qualified
    column: str


@dataclass(frozen=True, kw_only=True)
class DropSequence(Action):
    schema: str
    name: str
    if_exists: bool = True


@dataclass(frozen=True, kw_only=True)
class CreateNextValueFunction(Action):
    """A SECURITY DEFINER function returning the next value of a sequence as `type`: a default
    that draws from a sequence the application's role has no privilege on."""

    schema: str
    name: str
    sequence: str  # in `schema`
    type: str


# -- constraints and locks around a column's final transaction ---------------------------------
# (DropConstraint and AddUniqueUsingIndex belong to the constraints area: defined here because its
# module had neither when this one was written.)


@dataclass(frozen=True, kw_only=True)
class AddUniqueUsingIndex(Action):
    """A unique constraint `name` over a unique index built beforehand (no scan)."""

    table: str  # qualified
    name: str
    index: str


@dataclass(frozen=True, kw_only=True)
class LockTables(Action):
    """Lock every table of `tables` (qualified), in that order, in ACCESS EXCLUSIVE mode."""

    tables: tuple[str, ...]
