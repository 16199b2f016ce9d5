"""Rule syntax-error: the parser could not read the SQL (reported by the engine)."""

from __future__ import annotations

from liveshift.linter.finding import Severity
from liveshift.linter.rule import Rule

RULE = Rule(
    id="syntax-error",
    severity=Severity.ERROR,
    summary="The file is not valid PostgreSQL SQL, so statements after the error were not checked.",
    help="Fix the SQL at the reported position; psql meta-commands (\\set, \\i) and templating "
    "must be expanded before linting.",
    flagged=(
        "alter tabel users add column n int;",
        "select from where;",
    ),
    accepted=("select 1;",),
)
