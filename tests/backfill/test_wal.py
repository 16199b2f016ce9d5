"""The plan's WAL notes for a backfill, on both PostgreSQL servers: how much WAL it writes (the
estimate checked against what a real backfill wrote), inactive replication slots that would keep
it, and WAL segments the server would have to create."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import psycopg
import pytest

from liveshift.engines.postgres import wal
from liveshift.engines.postgres.connection import PgConnection
from liveshift.engines.postgres.introspect import introspect
from tests.backfill.helpers import migration, migrator

ROWS = 300_000
SETUP = f"""
create table events (id bigint primary key, v int not null, payload text not null);
create index events_v on events (v);
insert into events select i, i % 1000, md5(i::text) from generate_series(1, {ROWS}) i;
"""
ADD_W = migration("events", "w", "bigint", "v * 2 + length(payload)")
MB = 1 << 20


@pytest.fixture
def db(pg_url: str) -> Iterator[tuple[str, psycopg.Connection[Any]]]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(SETUP)
        conn.execute("vacuum analyze events")
        yield pg_url, conn


def backfill_notes(url: str) -> list[str]:
    (step,) = [s for s in migrator(url).plan(ADD_W).start if s.kind == "backfill"]
    return list(step.notes)


def lsn(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("select pg_current_wal_insert_lsn() - '0/0'::pg_lsn").fetchone()
    assert row is not None
    return int(row[0])


def test_the_plan_says_how_much_wal_the_backfill_writes_and_the_figure_holds(
    db: tuple[str, psycopg.Connection[Any]],
) -> None:
    url, conn = db
    estimate = wal.backfill_wal_bytes(introspect(conn, "public").tables["events"])
    notes = backfill_notes(url)
    assert any(f"writes up to about {wal.size(estimate)} of WAL" in n for n in notes), notes
    # What the backfill really writes, full-page images included (a checkpoint just before it,
    # as one has always happened shortly before on a server in service). The WAL position is the
    # server's: this holds while no other session writes much meanwhile, as in the test suite.
    conn.execute("checkpoint")
    before = lsn(conn)
    migrator(url, max_replication_lag_s=0).start(ADD_W)
    written = lsn(conn) - before
    assert 0.5 * estimate <= written <= 1.25 * estimate, (written // MB, estimate // MB)


def test_an_inactive_replication_slot_that_would_keep_it_is_named(
    db: tuple[str, psycopg.Connection[Any]],
) -> None:
    url, conn = db
    slot = f"ls_test_idle_{uuid.uuid4().hex[:8]}"
    conn.execute("select pg_create_physical_replication_slot(%s, true)", (slot,))
    try:
        notes = backfill_notes(url)
        (named,) = [n for n in notes if slot in n]
        assert "keep all of this WAL" in named and "max_slot_wal_keep_size = -1" in named
    finally:
        conn.execute("select pg_drop_replication_slot(%s)", (slot,))
    assert not any(slot in n for n in backfill_notes(url))


def test_a_small_backfill_gets_no_wal_notes(db: tuple[str, psycopg.Connection[Any]]) -> None:
    url, conn = db
    conn.execute("delete from events where id > 1000")
    conn.execute("vacuum full events")
    conn.execute("analyze events")
    assert not any("WAL" in n for n in backfill_notes(url))


def test_planning_reads_the_sizes_without_waiting_for_a_lock_on_another_table(
    db: tuple[str, psycopg.Connection[Any]],
) -> None:
    url, conn = db
    conn.execute("create table other (id int)")
    planned: list[list[str]] = []
    with psycopg.connect(url) as holder:
        holder.execute("lock table other in access exclusive mode")  # held until the end
        thread = threading.Thread(target=lambda: planned.append(backfill_notes(url)), daemon=True)
        thread.start()
        thread.join(timeout=30)
        finished = not thread.is_alive()
        holder.rollback()
    thread.join()
    assert finished, "planning waited for the lock on another table of the schema"
    assert any("of WAL" in n for n in planned[0])


def test_a_role_that_may_not_list_the_wal_directory_is_not_told_of_ready_segments(
    pg_url: str, login_role: str
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        superuser = wal.read_server(PgConnection(conn))
    with psycopg.connect(login_role, autocommit=True) as conn:
        plain = wal.read_server(PgConnection(conn))
        assert conn.execute("select 1").fetchone() == (1,)  # the session is still usable
    assert (
        superuser.ready_bytes is not None and superuser.ready_bytes % superuser.segment_bytes == 0
    )
    assert plain.ready_bytes is None
    assert plain.segment_bytes == superuser.segment_bytes == 16 * MB


# -- the notes for a given server state (values, not a server) ---------------------------------

SERVER = wal.WalServer(
    segment_bytes=16 * MB,
    max_wal_bytes=1024 * MB,
    recycle=True,
    slot_keep_bytes=-1,
    inactive_slots=(),
    ready_bytes=2048 * MB,
)


def test_notes_for_a_ready_server_give_the_volume_only() -> None:
    (note,) = wal.wal_notes(360 * MB, SERVER)
    assert note.startswith("writes up to about 360 MB of WAL")
    assert "checkpoints" not in note


def test_notes_beyond_max_wal_size_say_checkpoints_run_during_it() -> None:
    note = wal.wal_notes(3 * 1024 * MB, SERVER)[0]
    assert "3.0 GB" in note and "more than max_wal_size (1.0 GB)" in note


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        (replace(SERVER, ready_bytes=100 * MB), r"only 100 MB of WAL"),
        (replace(SERVER, ready_bytes=0), r"^no WAL segments are ready"),
        (replace(SERVER, recycle=False), r"wal_recycle is off"),
        (
            replace(SERVER, inactive_slots=("a", "b")),
            r"inactive replication slots a, b will keep all",
        ),
        (
            replace(SERVER, inactive_slots=("a",), slot_keep_bytes=200 * MB),
            r"slot a will be invalidated .* \(200 MB\)",
        ),
    ],
    ids=["segments-to-create", "none-ready", "no-recycling", "slots-keep-it", "slot-invalidated"],
)
def test_notes_name_what_the_server_is_not_ready_for(server: wal.WalServer, expected: str) -> None:
    notes = wal.wal_notes(360 * MB, server)
    assert len(notes) == 2 and re.search(expected, notes[1]), notes


def test_unknown_ready_segments_and_small_writes_give_no_segment_note() -> None:
    unknown = replace(SERVER, ready_bytes=None)
    assert len(wal.wal_notes(360 * MB, unknown)) == 1
    assert wal.wal_notes(8 * MB, SERVER) == ()
