"""Rule raw-sql-without-down: a migration file's raw_sql step with no way back (reported on reading)."""

from __future__ import annotations

from liveshift.linter.finding import Severity
from liveshift.linter.rule import Rule

RULE = Rule(
    id="raw-sql-without-down",
    severity=Severity.WARNING,
    summary="A raw_sql operation in a liveshift migration file has `up` SQL but no `down` SQL.",
    help="Give every raw_sql operation a `down` that undoes its `up`, so `liveshift rollback` "
    "can return the database to where it was.",
)
