"""add_constraint: unique with INCLUDE, primary key on an existing table, exclusion constraints;
each compared with what PostgreSQL builds from the same definition written directly."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from liveshift.errors import LiveshiftError
from liveshift.migrator import Migrator
from tests.operations.catalog import Conn
from tests.operations.lifecycle import assert_refused, migration, run_lifecycle
from tests.operations.twin import definitions, direct

SETUP = """
create table bookings (
    id int,
    tenant int,
    room int not null,
    during tstzrange not null,
    cancelled boolean not null default false,
    note text
);
insert into bookings select g, g % 3, g, tstzrange(now() + g * interval '1 day',
    now() + (g + 1) * interval '1 day'), false, 'n' || g from generate_series(1, 30) g;
"""


def add(**spec: Any) -> dict[str, Any]:
    return {"add_constraint": {"table": "bookings", **spec}}


def lifecycle(
    url: str,
    conn: Conn,
    spec: dict[str, Any],
    statement: str,
    write: str,
    violation: type[Exception],
) -> None:
    """The constraint holds for both versions from start, and is exactly what `statement` run
    directly makes after complete."""
    expected = direct(conn, SETUP, statement, "bookings")

    def started(old: Conn, new: Conn) -> None:
        for client in (old, new):
            with pytest.raises(violation):
                client.execute(write)
        new.execute(
            "insert into bookings (id, tenant, room, during) values "
            "(1000, 1, 1000, tstzrange('2001-01-01', '2001-01-02'))"
        )
        old.execute("delete from bookings where id = 1000")

    def completed(c: Conn) -> None:
        assert definitions(c, "bookings") == expected

    run_lifecycle(url, migration("m1", spec), started=started, completed=completed)


def test_unique_with_include(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    lifecycle(
        pg_url,
        conn,
        add(name="bookings_room_key", type="unique", columns=["room"], include=["note"]),
        "alter table bookings add constraint bookings_room_key unique (room) include (note)",
        "insert into bookings (id, room, during) values (99, 1, tstzrange(null, null))",
        psycopg.errors.UniqueViolation,
    )


def test_primary_key_on_an_existing_table(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    spec = add(name="bookings_pk", type="primary_key", columns=["id", "tenant"], include=["room"])
    plan = Migrator(pg_url).plan(migration("m1", spec))
    start = [s for s in plan.start if s.operation == "add_constraint"]
    # NOT NULL without a scan under a lock that blocks writes: checks NOT VALID, then the index
    # built concurrently; complete validates them and attaches the index.
    assert [s.kind for s in start] == ["ddl", "ddl", "concurrent index"]
    assert all("not valid" in s.sql for s in start[:2])
    complete = [s for s in plan.complete if s.operation == "add_constraint"]
    assert [s.scans for s in complete] == [True, True, False]
    assert "primary key using index bookings_pk" in complete[-1].sql
    lifecycle(
        pg_url,
        conn,
        spec,
        "alter table bookings add constraint bookings_pk primary key (id, tenant) include (room)",
        "insert into bookings (id, tenant, room, during) values (null, 1, 99, 'empty')",
        psycopg.errors.CheckViolation,
    )


def test_primary_key_refusals(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP + "; update bookings set tenant = null where id = 3")
    refused = assert_refused(
        pg_url,
        migration("m1", add(name="pk", type="primary_key", columns=["id", "tenant"])),
        r"some rows of bookings hold NULL in id, tenant",
    )
    assert "Fill them first" in (refused.hint or "")
    conn.execute("alter table bookings add constraint bookings_pkey primary key (room)")
    assert_refused(
        pg_url,
        migration("m1", add(name="pk", type="primary_key", columns=["id"])),
        "already has a primary key, bookings_pkey",
    )


EXCLUDE = add(
    name="bookings_no_overlap",
    type="exclude",
    using="gist",
    elements=[{"column": "during", "operator": "&&"}],
    where="not cancelled",
)
EXCLUDE_SQL = (
    "alter table bookings add constraint bookings_no_overlap "
    "exclude using gist (during with &&) where (not cancelled)"
)
OVERLAP = (
    "insert into bookings (id, room, during) values "
    "(99, 99, tstzrange(now() + interval '36 hours', now() + interval '37 hours'))"
)


def test_exclusion_on_a_table_with_rows_is_refused_unless_told(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    refused = assert_refused(pg_url, migration("m1", EXCLUDE), "under ACCESS EXCLUSIVE")
    assert "build_under_lock: true" in (refused.hint or "")


def test_exclusion_built_under_lock(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    spec = {"add_constraint": {**EXCLUDE["add_constraint"], "build_under_lock": True}}
    (step,) = [
        s
        for s in Migrator(pg_url).plan(migration("m1", spec)).start
        if s.operation == "add_constraint"
    ]
    assert step.lock is not None and step.lock.blocks_reads and step.scans
    assert any("cannot add an exclusion constraint NOT VALID" in n for n in step.notes)
    lifecycle(pg_url, conn, spec, EXCLUDE_SQL, OVERLAP, psycopg.errors.ExclusionViolation)


def test_exclusion_with_an_expression_on_an_empty_table(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP + "; delete from bookings")
    spec = add(
        name="bookings_room_slot",
        type="exclude",
        elements=[
            {"expression": "int4range(room, room + 1)", "operator": "&&"},
            {"column": "during", "operator": "&&", "opclass": "range_ops"},
        ],
    )
    expected = direct(
        conn,
        SETUP + "; delete from bookings",
        "alter table bookings add constraint bookings_room_slot exclude using gist "
        "((int4range(room, room + 1)) with &&, during range_ops with &&)",
        "bookings",
    )

    def started(old: Conn, new: Conn) -> None:
        old.execute(
            "insert into bookings (id, room, during) values (1, 1, '[2001-01-01,2001-01-03)')"
        )
        with pytest.raises(psycopg.errors.ExclusionViolation):
            new.execute(
                "insert into bookings (id, room, during) values (2, 1, '[2001-01-02,2001-01-04)')"
            )
        old.execute("delete from bookings")

    def completed(c: Conn) -> None:
        assert definitions(c, "bookings") == expected

    run_lifecycle(pg_url, migration("m1", spec), started=started, completed=completed)


@pytest.mark.parametrize(
    ("element", "match"),
    [
        # the server's own refusals, asked on an empty copy of the columns
        (
            {"column": "room", "operator": "="},
            'data type integer has no default operator class for access method "gist"',
        ),
        ({"column": "during", "operator": "@@"}, "operator"),
        ({"column": "durin", "operator": "&&"}, "Did you mean 'during'"),
    ],
)
def test_exclusion_refusals(pg_url: str, conn: Conn, element: dict[str, str], match: str) -> None:
    conn.execute(SETUP + "; delete from bookings")
    spec = add(name="x", type="exclude", elements=[element])
    assert_refused(pg_url, migration("m1", spec), match)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (
            {
                "type": "exclude",
                "columns": ["room"],
                "elements": [{"column": "room", "operator": "="}],
            },
            "not `columns:`",
        ),
        ({"type": "exclude"}, "needs `elements:"),
        ({"type": "check", "check": "room > 0", "include": ["note"]}, "`include:` belongs"),
        ({"type": "unique", "columns": ["room"], "using": "gist"}, "`using:`"),
        ({"type": "exclude", "elements": [{"column": "room", "operator": "= ; drop"}]}, "pattern"),
    ],
)
def test_bad_file(spec: dict[str, Any], match: str) -> None:
    with pytest.raises(LiveshiftError, match=match):
        migration("m1", add(name="x", **spec))
