"""The backfill on every key shape: composite, text, uuid, unique-index-only and no key at all."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest

from tests.backfill.helpers import backfill_row, migration, migrator, wrong_rows

Conn = psycopg.Connection[Any]

UP = "case when v % 11 = 0 then null else v * 2 + 1 end"

SHAPES: dict[str, tuple[str, list[str]]] = {
    "composite_pk": (
        """
        create table t (region int, code text, v int not null, primary key (region, code));
        insert into t select i % 7, 'c' || i, i from generate_series(1, 4000) i;
        delete from t where v % 13 = 0;
        """,
        ["region", "code"],
    ),
    "text_pk": (
        """
        create table t (code text primary key, v int not null);
        insert into t select case i % 4 when 0 then 'Ä' || i when 1 then 'a b,' || i
            when 2 then '"q' || i else lpad(i::text, 6, '0') end, i
        from generate_series(1, 4000) i;
        """,
        ["code"],
    ),
    "uuid_pk": (
        """
        create table t (id uuid primary key default gen_random_uuid(), v int not null);
        insert into t (v) select i from generate_series(1, 4000) i;
        """,
        ["id"],
    ),
    "unique_index_only": (
        """
        create table t (at timestamptz not null, seq bigint not null, v int not null, note text);
        create unique index t_at_seq on t (at, seq);
        insert into t select timestamptz '2024-01-01 00:00:00.123456+02' + (i % 50) * interval
            '1 hour', i, i, null from generate_series(1, 4000) i;
        """,
        ["at", "seq"],
    ),
    "no_key": (
        """
        create table t (v int not null, note text);
        insert into t select i % 1000, repeat('x', i % 40) from generate_series(1, 4000) i;
        delete from t where ctid in (select ctid from t where v % 17 = 0);
        """,
        ["ctid"],
    ),
}


def setup_table(conn: Conn, shape: str) -> None:
    conn.execute(SHAPES[shape][0])
    conn.execute("analyze t")


@pytest.mark.parametrize("batch_size", [337, None], ids=["fixed", "auto"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_row_gets_up(pg_url: str, conn: Conn, shape: str, batch_size: int | None) -> None:
    setup_table(conn, shape)
    before = conn.execute("select count(*) from t").fetchone()
    m = migrator(pg_url, batch_size=batch_size, batch_start=200, verify=True)
    m.start(migration("t", "w", "bigint", UP))

    assert wrong_rows(conn, "t", "_ls_new_w", UP) == 0
    assert conn.execute("select count(*) from t").fetchone() == before
    row = backfill_row(conn)
    assert row is not None
    assert row["key_columns"] == SHAPES[shape][1]
    assert row["finished_at"] is not None
    if batch_size is not None:
        assert row["batches"] >= 4000 // batch_size // 2  # many batches, not one statement
    status = m.status()["active"]
    assert status["backfills"][0]["finished"] is True

    m.complete()
    assert wrong_rows(conn, "t", "w", UP) == 0
    leftovers = conn.execute(
        "select count(*) from pg_attribute where attrelid = 't'::regclass and attname like '_ls_%%'"
    ).fetchone()
    assert leftovers == (0,)


@pytest.mark.parametrize("shape", ["uuid_pk", "no_key", "composite_pk"])
def test_backfill_finishes_while_the_application_inserts(
    pg_url: str, conn: Conn, shape: str
) -> None:
    """Old-version clients insert and update as fast as they can for the whole backfill; the
    backfill's upper bound is fixed at its start, so it still ends, and every row is right."""
    setup_table(conn, shape)
    stop = threading.Event()
    written = {"inserts": 0, "updates": 0}
    errors: list[BaseException] = []

    def application() -> None:
        try:
            with psycopg.connect(pg_url, autocommit=True) as app:
                i = 100_000
                while not stop.is_set():
                    i += 1
                    if shape == "composite_pk":
                        app.execute("insert into t values (%s, %s, %s)", (i % 7, f"n{i}", i))
                    else:
                        app.execute("insert into t (v) values (%s)", (i,))
                    written["inserts"] += 1
                    app.execute("update t set v = v + 11 where v = %s", (i % 4000,))
                    written["updates"] += 1
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=application)
    thread.start()
    try:
        m = migrator(pg_url, batch_size=50, throttle_poll_s=0.05)
        m.start(migration("t", "w", "bigint", UP))
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert written["inserts"] > 0
    assert wrong_rows(conn, "t", "_ls_new_w", UP) == 0
    m.complete()
    assert wrong_rows(conn, "t", "w", UP) == 0
