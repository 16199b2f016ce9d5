"""Actions on constraints."""

from __future__ import annotations

from dataclasses import dataclass

from liveshift.operations.actions import Action


@dataclass(frozen=True, kw_only=True)
class ValidateConstraint(Action):
    """Check every existing row against a constraint added unvalidated, without blocking writes."""

    table: str  # qualified
    name: str
