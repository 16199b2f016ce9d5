"""The shared lock vocabulary (liveshift.locks) is consistent, and plans and the linter read it alike."""

from __future__ import annotations

from liveshift import locks
from liveshift.plan import LockMode


def test_the_conflict_table_is_symmetric_and_covers_every_mode() -> None:
    assert set(locks.CONFLICTS) == set(locks.PG_NAMES)
    for mode in locks.PG_NAMES:
        for other in locks.PG_NAMES:
            assert locks.conflicts(mode, other) == locks.conflicts(other, mode), (mode, other)


def test_plan_lock_modes_are_the_linters_modes_in_the_same_order() -> None:
    assert [m.pg_name for m in LockMode] == list(locks.PG_NAMES)
    assert [m.value for m in LockMode] == [locks.sql_name(n) for n in locks.PG_NAMES]
    for mode in LockMode:
        assert mode.blocks_writes == locks.blocks_writes(mode.pg_name)
        assert mode.blocks_reads == locks.blocks_reads(mode.pg_name)


def test_what_each_mode_blocks() -> None:
    writers = [n for n in locks.PG_NAMES if locks.blocks_writes(n)]
    assert writers == ["ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"]
    assert [n for n in locks.PG_NAMES if locks.blocks_reads(n)] == ["AccessExclusiveLock"]
    assert LockMode.SHARE_UPDATE_EXCLUSIVE.impact == "blocks no reads or writes"
    assert LockMode.SHARE.impact == "blocks writes"
    assert LockMode.ACCESS_EXCLUSIVE.impact == "blocks reads and writes"
    # pg_locks modes outside the eight (predicate locks) block no reads or writes.
    assert not locks.blocks_writes("SIReadLock") and not locks.blocks_reads("SIReadLock")
