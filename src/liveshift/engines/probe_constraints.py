"""The planner's typed questions about constraints, indexes and columns, as every engine answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from liveshift.operations.actions.constraints import AddExclusion, CreateIndex
    from liveshift.schema import Table


@dataclass(frozen=True)
class RelyingForeignKey:
    """A foreign key (of any table) that relies on the index of a unique or primary key."""

    name: str
    table: str  # as the server names it (qualified when outside the search path)

    def describe(self) -> str:
        return f"{self.name} on {self.table}"


class ConstraintQuestions(Protocol):
    """Read-only questions operations ask about constraints, indexes and columns. Each runs in a
    transaction rolled back; a refusal by the server is a ValidationError about `what`."""

    def table_in_catalog(self, table: Table) -> bool:
        """Whether the table exists yet (not one an earlier operation of the migration makes)."""
        ...

    def holds_nulls(self, table: Table, columns: Sequence[str], what: str) -> bool:
        """Whether some row of the live table holds NULL in one of these physical columns."""
        ...

    def constraint_exists(self, table: Table, name: str) -> bool:
        """Whether the live table has a constraint of this name (False: no such table)."""
        ...

    def foreign_keys_relying_on(self, table: Table, name: str) -> list[RelyingForeignKey]:
        """The foreign keys that rely on the index of the table's unique or primary key `name`."""
        ...

    def exclusion_fits(self, table: Table, exclusion: AddExclusion, what: str) -> None:
        """The exclusion constraint (operators, operator classes, method) builds on an empty copy
        of the model's columns of `table`."""
        ...

    def index_fits(self, table: Table, index: CreateIndex, what: str) -> None:
        """The index (operator classes, collations, sort options, storage parameters) builds on
        an empty copy of the model's columns of `table`."""
        ...

    def identity_fits(self, type_name: str, what: str) -> None:
        """A column of this type can be an identity column."""
        ...

    def carried_index_fits(
        self, table: Table, column: str, type_name: str, definition: str, what: str
    ) -> None:
        """An index definition (the engine's own statement, over the live table) builds on an
        empty copy of the live table with a new column `column` of `type_name` added."""
        ...

    def carried_check_fits(
        self, table: Table, column: str, type_name: str, clause: str, what: str
    ) -> None:
        """An ADD CONSTRAINT clause (the engine's own text) applies to an empty copy of the live
        table with a new column `column` of `type_name` added."""
        ...

    def foreign_key_types_fit(
        self, referencing: Sequence[str], referenced: Sequence[str], what: str
    ) -> None:
        """A foreign key from columns of the `referencing` types to a unique key of the
        `referenced` types is allowed."""
        ...

    def value_fits(
        self,
        row: dict[str, str],
        expression: str,
        type_name: str,
        target: tuple[str, str],
        what: str,
    ) -> None:
        """`expression`, over one row of the given columns (name -> type), type-checks and
        assigns to `type_name`, the type of the `target` (table, column) a refusal names."""
        ...

    def rechecked_by_type_change(self, table: Table, column: str) -> list[str]:
        """What ALTER COLUMN TYPE of the physical column builds or scans again even when the
        change is binary coercible (names of checks and of indexes, in the server's order)."""
        ...

    def type_change_rewrites(self, old_type: str, new_type: str) -> bool:
        """Whether changing a column's type from `old_type` to `new_type` rewrites the table; a
        ValidationError when there is no conversion at all."""
        ...
