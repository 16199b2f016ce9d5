"""PostgreSQL's text for each action (operations/actions/): one function per action type,
registered by area module, dispatched on the action's type."""

from __future__ import annotations

from functools import singledispatch

from liveshift.errors import ValidationError
from liveshift.operations.actions import Action, Sql


@singledispatch
def render(action: Action) -> str:
    """The statement text of `action` on PostgreSQL."""
    raise ValidationError(
        f"PostgreSQL has no statement for the action {type(action).__name__} yet",
        hint="This is a bug in liveshift: please report it with the migration file.",
    )


@render.register
def _sql(action: Sql) -> str:
    return action.text


# The area modules register their renderers on import.
from liveshift.engines.postgres.render import (  # noqa: E402, F401
    columns,
    constraints,
    tables,
    triggers,
)

__all__ = ["render"]
