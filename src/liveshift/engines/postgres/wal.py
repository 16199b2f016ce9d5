"""What a backfill writes to the WAL, and whether the server is ready for it: notes for the plan.

A backfill writes every row it fills again, so it writes about as much WAL as the table and its
indexes hold, and more. That WAL goes to every replica and archive; an inactive replication slot
keeps all of it on the primary's disk; and a server that has no WAL segments ready for reuse
creates a new 16 MB file for every 16 MB written, while every commit on the server waits (the
writer holds the WAL write lock). The planner cannot change any of that, but it can say so before
anything runs, with the figures of this table and this server.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from liveshift.engines.base import Connection, InsufficientPrivilege, NotAvailableHere
from liveshift.plan import Step
from liveshift.schema import Table

if TYPE_CHECKING:
    from liveshift.planner import MigrationPlan

# WAL per rewritten row besides the row itself: the update record's header and, when the new
# version lands on another page (a full page: no HOT update), the old version's lock record.
ROW_OVERHEAD_BYTES = 100
# WAL per rewritten row and index: the new index entry of a non-HOT update, with its share of
# page splits.
INDEX_ENTRY_BYTES = 90

# wal_recycle is PostgreSQL 12+, max_slot_wal_keep_size 13+ (before it, slots kept WAL unbounded).
_SERVER = """
select pg_size_bytes(current_setting('wal_segment_size')),
       pg_size_bytes(current_setting('max_wal_size')),
       coalesce(current_setting('wal_recycle', true), 'on') = 'on',
       coalesce(pg_size_bytes(current_setting('max_slot_wal_keep_size', true)), -1),
       array(select slot_name::text from pg_replication_slots
             where not active and restart_lsn is not null order by slot_name)
"""

# WAL segments a checkpoint recycled, ahead of the insert position. pg_ls_waldir() is for
# superusers and members of pg_monitor; other roles are not told.
_READY = """
select count(*)
from pg_ls_waldir()
where name ~ '^[0-9A-F]{24}$' and name > pg_walfile_name(pg_current_wal_insert_lsn())
"""


@dataclass(frozen=True)
class WalServer:
    """The server's WAL settings and state that decide what a large write costs."""

    segment_bytes: int
    max_wal_bytes: int
    recycle: bool  # wal_recycle: checkpoints rename old segments for reuse
    slot_keep_bytes: int  # max_slot_wal_keep_size; -1: a slot keeps WAL without limit
    inactive_slots: tuple[str, ...]
    ready_bytes: int | None  # segments ready for reuse; None: this role may not look


def read_server(conn: Connection) -> WalServer:
    """The WAL settings and state of the server `conn` is on (read only, rolled back)."""
    with conn.transaction(force_rollback=True):
        row = conn.execute(_SERVER).fetchone()
        assert row is not None
        segment, max_wal, recycle, keep, slots = row
        ready: int | None
        try:
            with conn.transaction():
                ready = int(conn.execute(_READY).fetchone()[0]) * int(segment)
        except (InsufficientPrivilege, NotAvailableHere):
            ready = None  # not pg_monitor, or a standby (no insert position)
    return WalServer(int(segment), int(max_wal), bool(recycle), int(keep), tuple(slots), ready)


def backfill_wal_bytes(table: Table) -> int:
    """About how much WAL filling a column of every row of `table` writes, at most: each row's
    new version and index entries, and one full-page image of every page of the table and its
    indexes (the first write to a page after a checkpoint logs the whole page). Less when the new
    versions fit on their pages (HOT updates: no index entries, no lock records)."""
    rows = table.estimated_rows
    if rows <= 0:
        return 0
    per_row = table.heap_bytes / rows + ROW_OVERHEAD_BYTES + INDEX_ENTRY_BYTES * len(table.indexes)
    return int(rows * per_row) + table.heap_bytes + table.index_bytes


def size(n: int) -> str:
    """Bytes in kB, MB or GB (binary units, as PostgreSQL prints them)."""
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GB"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.0f} MB"
    return f"{n / (1 << 10):.0f} kB"


def wal_notes(wal: int, server: WalServer) -> tuple[str, ...]:
    """What a write of `wal` bytes means on `server`, as plan notes (none for a small write)."""
    if wal < server.segment_bytes:
        return ()
    volume = f"writes up to about {size(wal)} of WAL, which every replica and WAL archive receives"
    if wal > server.max_wal_bytes:
        volume += (
            f"; more than max_wal_size ({size(server.max_wal_bytes)}), so the server checkpoints "
            "during the backfill"
        )
    notes = [volume]
    if server.inactive_slots:
        names = ", ".join(server.inactive_slots)
        slots = "slot" if len(server.inactive_slots) == 1 else "slots"
        if server.slot_keep_bytes < 0:
            notes.append(
                f"inactive replication {slots} {names} will keep all of this WAL on the server's "
                "disk until consumed or dropped (max_slot_wal_keep_size = -1): check the disk has "
                "room, or drop the slots no one uses"
            )
        elif wal > server.slot_keep_bytes:
            notes.append(
                f"inactive replication {slots} {names} will be invalidated once they hold more "
                f"than max_slot_wal_keep_size ({size(server.slot_keep_bytes)}) of this WAL"
            )
    segment = size(server.segment_bytes)
    if not server.recycle:
        notes.append(
            f"wal_recycle is off: the server creates a new WAL segment for every {segment} the "
            "backfill writes, and every commit on the server waits while it writes one"
        )
    elif server.ready_bytes is not None and server.ready_bytes < wal:
        ready = (
            f"only {size(server.ready_bytes)} of WAL segments are"
            if server.ready_bytes
            else "no WAL segments are"
        )
        notes.append(
            f"{ready} ready for reuse: the server creates a new {segment} segment for each "
            f"{segment} the backfill writes beyond them, and every commit on the server waits "
            "while it writes one (see docs/backfill.md, 'WAL')"
        )
    return tuple(notes)


def annotate(plan: MigrationPlan, conn: Connection) -> None:
    """Add the WAL notes of every backfill among the plan's `start` steps; the server is asked
    only when one of them writes anything."""
    estimates = {
        i: backfill_wal_bytes(table)
        for i, step in enumerate(plan.start)
        if step.backfill is not None and (table := _table(plan, step)) is not None
    }
    if not any(estimates.values()):
        return
    server = read_server(conn)
    for i, written in estimates.items():
        notes = wal_notes(written, server)
        if notes:
            plan.start[i] = dataclasses.replace(plan.start[i], notes=(*plan.start[i].notes, *notes))


def _table(plan: MigrationPlan, step: Step) -> Table | None:
    """The table a backfill fills, as it was before the migration (None: the migration made it)."""
    assert step.backfill is not None
    return next(
        (
            t
            for t in plan.before.tables.values()
            if t.physical == step.backfill.table and t.schema == step.backfill.schema
        ),
        None,
    )
