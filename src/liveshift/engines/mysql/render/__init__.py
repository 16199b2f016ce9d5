"""MySQL/MariaDB's text for each action (operations/actions/): one function per action type,
registered by area module, dispatched on the action's type; what InnoDB cannot do online is
refused, naming the action and why."""

from __future__ import annotations

from functools import singledispatch

from liveshift.engines.mysql.render.sql import refuse, split_statements
from liveshift.operations.actions import Action, Sql


@singledispatch
def render(action: Action) -> str:
    """The statement text of `action` on MySQL/MariaDB: one statement, or several joined with
    ";\\n" (the server takes one per call: the runner splits them with `split_statements`)."""
    raise refuse(
        action,
        "the MySQL/MariaDB engine has no statement for it yet",
        "This is a bug in liveshift: please report it with the migration file.",
    )


@render.register
def _sql(action: Sql) -> str:
    raise refuse(
        action,
        "it carries PostgreSQL statement text written by an operation not converted to actions",
        "This operation is not available on MySQL/MariaDB until it is converted to actions.",
    )


# The area modules register their renderers on import.
from liveshift.engines.mysql.render import (  # noqa: E402, F401
    columns,
    constraints,
    tables,
    triggers,
)

__all__ = ["render", "split_statements"]
