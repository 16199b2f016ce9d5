"""What an engine can do, stated as flags that code asks instead of testing a dialect name."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Capabilities:
    """Capabilities of one database engine (documented in docs/engines.md)."""

    name: str
    transactional_ddl: bool  # DDL commits or rolls back with its transaction
    concurrent_index: bool  # indexes can be built without blocking writes
    instant_add_column: bool  # ADD COLUMN with a constant default needs no rewrite
    not_valid_constraints: bool  # CHECK / FOREIGN KEY can be added NOT VALID and validated later
    updatable_views: bool  # simple views accept INSERT/UPDATE/DELETE (for version schemas)
    lock_timeout: bool  # a per-statement bound on how long DDL waits for its lock
    needs_table_rebuild: bool  # most ALTERs rebuild the table (SQLite)
