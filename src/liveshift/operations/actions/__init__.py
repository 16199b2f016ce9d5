"""What operations ask of the database, as typed data with no SQL: each engine renders an action
into its own statement text (engines/<engine>/render/), when the plan is compiled.

A step of a plan lists its actions (`Step.actions`); the planner asks the engine to render them
(`compile_steps`), so an operation says *what* (validate this constraint, add that column) and
the engine says *how*. Actions are grouped by area, one module each (constraints, columns,
indexes, tables, triggers, ...); an engine that cannot render an action refuses it, naming it.
`Sql` carries statement text an operation still writes itself: it is PostgreSQL's until its
operation is converted (docs/design.md, "Actions").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Action:
    """One statement's worth of intent. Subclasses are frozen dataclasses of plain values:
    identifiers as the user and the schema model name them (unquoted), tables schema-qualified
    as `Table.qualified` gives them."""


@dataclass(frozen=True, kw_only=True)
class Sql(Action):
    """Statement text written by an operation not converted to actions yet (PostgreSQL's)."""

    text: str


__all__ = ["Action", "Sql"]
