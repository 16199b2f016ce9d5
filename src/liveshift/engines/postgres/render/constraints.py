"""PostgreSQL's text for the actions on constraints."""

from __future__ import annotations

from liveshift.engines.postgres.render import render
from liveshift.operations.actions.constraints import ValidateConstraint
from liveshift.schema import quote_ident


@render.register
def _validate(action: ValidateConstraint) -> str:
    return f"alter table only {action.table} validate constraint {quote_ident(action.name)}"
