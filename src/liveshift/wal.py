"""The backfill's WAL notes moved to engines/postgres/wal.py (PostgreSQL-only); this name stays
for the migrator, the bench and the tests that import it."""

from __future__ import annotations

from liveshift.engines.postgres.wal import (
    INDEX_ENTRY_BYTES,
    ROW_OVERHEAD_BYTES,
    WalServer,
    annotate,
    backfill_wal_bytes,
    read_server,
    size,
    wal_notes,
)

__all__ = [
    "INDEX_ENTRY_BYTES",
    "ROW_OVERHEAD_BYTES",
    "WalServer",
    "annotate",
    "backfill_wal_bytes",
    "read_server",
    "size",
    "wal_notes",
]
