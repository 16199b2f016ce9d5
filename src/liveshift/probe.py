"""The planner's read-only questions to the live database (the import path operations use)."""

# PostgreSQL's Probe lives in engines/postgres/probe.py; operations and the planner keep importing
# it from here while they are rewritten against an engine-neutral interface.

from __future__ import annotations

from liveshift.engines.postgres.probe import (
    ColumnType,
    Probe,
    internal_names,
    model_row,
)

__all__ = ["ColumnType", "Probe", "internal_names", "model_row"]
