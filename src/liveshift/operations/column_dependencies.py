"""What depends on a column (views, indexes, constraints, triggers, ...): the engine's probe
answers; the facts' types live in engines/probe_objects.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveshift.engines.probe_objects import (
    ColumnFacts,
    ConstraintFact,
    Dependent,
    IndexFact,
    ReferencingKeyFact,
    SequenceFact,
)
from liveshift.schema import Table

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe

__all__ = [
    "ColumnFacts",
    "ConstraintFact",
    "Dependent",
    "IndexFact",
    "ReferencingKeyFact",
    "SequenceFact",
    "column_dependents",
    "column_facts",
    "has_rows_where",
]


def column_dependents(probe: Probe, table: Table, physical: str) -> list[Dependent]:
    """Every object that depends on `table`.`physical`, except liveshift's own version views and
    sync triggers."""
    return probe.column_dependents(table, physical)


def has_rows_where(probe: Probe, table: Table, condition: str) -> bool:
    """Whether any row of `table` matches `condition` (over physical column names)."""
    return probe.has_rows_where(table, condition)


def column_facts(probe: Probe, table: Table, physical: str) -> ColumnFacts:
    """The indexes, constraints, foreign keys pointing at it and owned sequence of a column, with
    their definitions as the catalog prints them (schema-qualified)."""
    return probe.column_facts(table, physical)
