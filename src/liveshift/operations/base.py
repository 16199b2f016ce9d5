"""The lifecycle every operation answers: validate, start (expand), complete (contract), rollback."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from liveshift.migration.models import Strict
from liveshift.schema import Schema, quote_ident
from liveshift.triggers import ChangeLog

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe
    from liveshift.plan import Step

SpecT = TypeVar("SpecT", bound=Strict)
CheckedT = TypeVar("CheckedT")

MAX_IDENTIFIER = 63


def short_name(*parts: str) -> str:
    """A PostgreSQL identifier from parts, kept under 63 bytes with a stable hash when too long."""
    name = "_".join(parts)
    if len(name.encode()) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return name.encode()[: MAX_IDENTIFIER - 9].decode(errors="ignore") + "_" + digest


@dataclass(frozen=True)
class Names:
    """Names of the objects a migration creates, derived from the migration's name."""

    migration: str
    schema: str
    chosen_version_schema: str | None = None  # the migration file's `version_schema:`

    @property
    def version_schema(self) -> str:
        return self.chosen_version_schema or short_name(self.schema, self.migration)

    def temp_column(self, column: str) -> str:
        return short_name("_ls_new", column)

    def object(self, kind: str, *parts: str) -> str:
        return short_name("_ls", kind, *parts)

    def function(self, *parts: str) -> str:
        """Schema-qualified, quoted name of a trigger function."""
        return f"{quote_ident(self.schema)}.{quote_ident(self.object('fn', *parts))}"

    def change_log(self, table: str, column: str) -> ChangeLog:
        """The change log of the backfill of `column` of `table`."""
        schema = quote_ident(self.schema)
        return ChangeLog(
            log=f"{schema}.{quote_ident(self.object('log', table, column))}",
            function=f"{schema}.{quote_ident(self.object('logfn', table, column))}",
            trigger=self.object("trgl", table, column),
        )


class CheckedOperation(ABC, Generic[SpecT, CheckedT]):
    """One declared change. validate() checks it against the schema model (and the live database
    through `probe`), updates the model to the new version's shape and returns what it found (a
    frozen value, `CheckedT`); start/complete/rollback take that value and return the steps of
    each phase, as data, with no I/O. The operation itself keeps nothing from validate: a phase
    cannot be planned from facts that were never checked."""

    name: ClassVar[str]
    # The complete steps of this operation run after every other complete step of the migration.
    complete_last: ClassVar[bool] = False

    def __init__(self, spec: SpecT, names: Names) -> None:
        self.spec = spec
        self.names = names

    @abstractmethod
    def validate(self, schema: Schema, probe: Probe) -> CheckedT:
        """Raise ValidationError when the operation cannot apply; else update `schema` and return
        what the phases need to know."""

    @abstractmethod
    def start(self, checked: CheckedT, before: Schema, after: Schema) -> list[Step]:
        """Steps of the expand phase: afterwards old and new versions both work."""

    def start_after_backfills(self, checked: CheckedT, before: Schema, after: Schema) -> list[Step]:
        """Steps of the expand phase that may wait until the backfills of the operations right
        after this one on the same table are done (the planner moves them there)."""
        return []

    @abstractmethod
    def complete(self, checked: CheckedT, before: Schema, after: Schema) -> list[Step]:
        """Steps of the contract phase: only the new version's shape remains."""

    @abstractmethod
    def rollback(self, checked: CheckedT, before: Schema, after: Schema) -> list[Step]:
        """Steps that undo start from any point of it (every step idempotent)."""

    def describe(self) -> str:
        return self.name


# An operation whatever it checks: what the registry builds and the planner holds.
Operation = CheckedOperation[SpecT, Any]


@dataclass(frozen=True)
class ColumnConstraintNames:
    """Names of the constraints add_column and alter_column give one column, after PostgreSQL's
    own convention (<table>_<column>_<suffix>) unless the migration chose one."""

    table: str
    column: str  # the column's name in the new version

    def _default(self, suffix: str) -> str:
        return short_name(self.table, self.column, suffix)

    def not_null_check(self) -> str:
        """The NOT VALID check that stands for NOT NULL until complete: its name is what a client
        writing a NULL meanwhile reads, so it speaks of the table and column."""
        return self._default("not_null_check")

    def check(self, chosen: str | None) -> str:
        return chosen or self._default("check")

    def foreign_key(self, chosen: str | None) -> str:
        return chosen or self._default("fkey")

    def unique(self, chosen: str | None) -> str:
        return chosen or self._default("key")
