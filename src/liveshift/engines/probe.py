"""The planner's questions to the live database, engine-neutral: what operations may ask while
they validate. Each engine answers them with its own SQL (engines/postgres/probe.py and its
mixins); the server decides (a type, an expression, a default), never a guess of ours."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from liveshift.engines.probe_constraints import ConstraintQuestions
from liveshift.engines.probe_objects import ObjectQuestions
from liveshift.schema import Table


@dataclass(frozen=True)
class ColumnType:
    """A column type as the server resolved it."""

    name: str  # the server's own spelling of a column declared with the text
    serial: bool = False  # serial, bigserial, smallserial: `name` is then the integer type

    @property
    def serial_keyword(self) -> str:
        """The serial pseudo-type that gives this integer type (`bigint` -> `bigserial`)."""
        return {"smallint": "smallserial", "bigint": "bigserial"}.get(self.name, "serial")


class Probe(ConstraintQuestions, ObjectQuestions, Protocol):
    """Every question an operation may ask; each raises ValidationError in the user's terms when
    the server refuses, and takes no lock that waits."""

    def column_type(self, type_name: str) -> ColumnType:
        """What the server makes of a column declared with `type_name`."""

    def type_exists(self, type_name: str) -> str:
        """The type's name as the server knows it; refused with the closest match otherwise."""

    def expression_fits(
        self,
        table: Table,
        expression: str,
        type_name: str | None,
        what: str,
        column: str = "",
    ) -> None:
        """`expression` over the columns `table` has here type-checks (and, given a type, is
        assignable to it)."""

    def condition_fits(
        self,
        table: Table,
        condition: str,
        extra: dict[str, str],
        what: str,
        internal: dict[str, str] | None = None,
    ) -> None:
        """`condition` over `table`'s columns (plus `extra` name -> type) type-checks."""

    def default_is_instant(self, type_name: str, default: str) -> bool:
        """Whether the server stores `default` once for existing rows (no rewrite)."""

    def misfits(self, table: Table, expression: str, type_name: str, what: str) -> int:
        """How many rows' `expression` the type cannot hold."""

    def column_comment(self, table: Table, column: str) -> str | None: ...

    def has_rows(self, table: Table) -> bool: ...
