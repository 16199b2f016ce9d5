"""PostgreSQL's table lock vocabulary: the eight modes, their names, order, conflicts and impact.

Plans (`LockMode`, re-exported by liveshift.plan) and the linter (which passes pg_locks names
around as plain strings) both read this one table, so they cannot disagree about what a lock
blocks. It lives at the package top rather than in engines/postgres/ because importing anything
under liveshift.engines runs the engine registry (both engines, the schema model, the driver's
wrapper): `liveshift lint` must not pay for that, and this module imports nothing of liveshift.
"""

from __future__ import annotations

import enum

# pg_locks.mode names, weakest first; position + 1 is LOCK TABLE's mode number (LockStmt.mode).
PG_NAMES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)
# The same modes as LOCK TABLE, the manual and plans write them.
SQL_NAMES = (
    "ACCESS SHARE",
    "ROW SHARE",
    "ROW EXCLUSIVE",
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
)
ACCESS_SHARE = "AccessShareLock"
ROW_EXCLUSIVE = "RowExclusiveLock"
SHARE_UPDATE_EXCLUSIVE = "ShareUpdateExclusiveLock"
SHARE = "ShareLock"
SHARE_ROW_EXCLUSIVE = "ShareRowExclusiveLock"
ACCESS_EXCLUSIVE = "AccessExclusiveLock"

STRENGTH = {name: rank for rank, name in enumerate(PG_NAMES, start=1)}
_SQL_NAME = dict(zip(PG_NAMES, SQL_NAMES, strict=True))

# The conflict table of the PostgreSQL manual ("Table-Level Lock Modes"), by pg_locks name.
CONFLICTS: dict[str, frozenset[str]] = {
    "AccessShareLock": frozenset({"AccessExclusiveLock"}),
    "RowShareLock": frozenset({"ExclusiveLock", "AccessExclusiveLock"}),
    "RowExclusiveLock": frozenset(
        {"ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"}
    ),
    "ShareUpdateExclusiveLock": frozenset(
        {
            "ShareUpdateExclusiveLock",
            "ShareLock",
            "ShareRowExclusiveLock",
            "ExclusiveLock",
            "AccessExclusiveLock",
        }
    ),
    "ShareLock": frozenset(
        {
            "RowExclusiveLock",
            "ShareUpdateExclusiveLock",
            "ShareRowExclusiveLock",
            "ExclusiveLock",
            "AccessExclusiveLock",
        }
    ),
    "ShareRowExclusiveLock": frozenset(
        {
            "RowExclusiveLock",
            "ShareUpdateExclusiveLock",
            "ShareLock",
            "ShareRowExclusiveLock",
            "ExclusiveLock",
            "AccessExclusiveLock",
        }
    ),
    "ExclusiveLock": frozenset(
        {
            "RowShareLock",
            "RowExclusiveLock",
            "ShareUpdateExclusiveLock",
            "ShareLock",
            "ShareRowExclusiveLock",
            "ExclusiveLock",
            "AccessExclusiveLock",
        }
    ),
    "AccessExclusiveLock": frozenset(PG_NAMES),
}
# Every INSERT/UPDATE/DELETE takes ROW EXCLUSIVE and every SELECT ACCESS SHARE: a mode that
# conflicts with them blocks writes or reads. Sets, because the linter asks for each statement.
_BLOCKS_WRITES = frozenset(name for name in PG_NAMES if ROW_EXCLUSIVE in CONFLICTS[name])
_BLOCKS_READS = frozenset(name for name in PG_NAMES if ACCESS_SHARE in CONFLICTS[name])


def sql_name(mode: str) -> str:
    """`AccessExclusiveLock` -> `ACCESS EXCLUSIVE`; other pg_locks modes (SIReadLock) by their words."""
    known = _SQL_NAME.get(mode)
    if known is not None:
        return known
    words = "".join(" " + c if c.isupper() else c for c in mode.removesuffix("Lock"))
    return words.strip().upper()


def conflicts(mode: str, other: str) -> bool:
    """Whether two pg_locks modes on one table cannot be held at once by different sessions."""
    return other in CONFLICTS.get(mode, ())


def blocks_writes(mode: str) -> bool:
    """Whether a lock mode conflicts with the ROW EXCLUSIVE lock every INSERT/UPDATE/DELETE takes."""
    return mode in _BLOCKS_WRITES


def blocks_reads(mode: str) -> bool:
    """Whether a lock mode conflicts with the ACCESS SHARE lock every SELECT takes."""
    return mode in _BLOCKS_READS


def impact(mode: str) -> str:
    """What the lock stops application traffic doing, as plans and reports say it."""
    if blocks_reads(mode):
        return "blocks reads and writes"
    if blocks_writes(mode):
        return "blocks writes"
    return "blocks no reads or writes"


def strongest(a: str, b: str) -> str:
    """The stronger of two pg_locks modes (the first when they are equal or both unknown)."""
    return a if STRENGTH.get(a, 0) >= STRENGTH.get(b, 0) else b


class LockMode(enum.Enum):
    """PostgreSQL table lock modes, weakest first; the value is the SQL name plans store."""

    ACCESS_SHARE = "ACCESS SHARE"
    ROW_SHARE = "ROW SHARE"
    ROW_EXCLUSIVE = "ROW EXCLUSIVE"
    SHARE_UPDATE_EXCLUSIVE = "SHARE UPDATE EXCLUSIVE"
    SHARE = "SHARE"
    SHARE_ROW_EXCLUSIVE = "SHARE ROW EXCLUSIVE"
    EXCLUSIVE = "EXCLUSIVE"
    ACCESS_EXCLUSIVE = "ACCESS EXCLUSIVE"

    @property
    def pg_name(self) -> str:
        """The mode as pg_locks.mode spells it (AccessExclusiveLock, ...)."""
        return PG_NAMES[SQL_NAMES.index(self.value)]

    def conflicts_with(self, other: LockMode) -> bool:
        return conflicts(self.pg_name, other.pg_name)

    @property
    def blocks_reads(self) -> bool:
        return blocks_reads(self.pg_name)

    @property
    def blocks_writes(self) -> bool:
        return blocks_writes(self.pg_name)

    @property
    def impact(self) -> str:
        return impact(self.pg_name)
