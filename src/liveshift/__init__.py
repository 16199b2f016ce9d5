"""liveshift: zero-downtime schema changes for live databases."""

from __future__ import annotations

from liveshift.errors import LiveshiftError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

    from liveshift.linter import Finding
    from liveshift.migration import Migration
    from liveshift.migrator import Migrator

__version__ = "0.1.0"
__all__ = ["LiveshiftError", "Migration", "Migrator", "lint"]


def lint(sql: str, **options: Any) -> list[Finding]:
    """Lint SQL migration text; returns the findings (see liveshift.linter.lint_sql)."""
    from liveshift.linter import lint_sql

    return lint_sql(sql, **options)


def __getattr__(name: str) -> Any:
    # Imported lazily so that `liveshift lint` does not pay for the database drivers, pydantic and rich.
    if name == "Migrator":
        from liveshift.migrator import Migrator

        return Migrator
    if name == "Migration":
        from liveshift.migration import Migration

        return Migration
    raise AttributeError(name)
