"""raw_sql: `up` at start, `down` at rollback, each its own step; no `down` means rollback warns."""

from __future__ import annotations

import pytest

from liveshift.errors import LiveshiftError
from liveshift.migrator import Migrator
from tests.operations.catalog import Conn, relations, rows, shape
from tests.operations.lifecycle import assert_refused, client, migration, run_lifecycle

SETUP = """
create table users (id int primary key, email text);
insert into users values (1, 'A@x'), (2, 'b@x');
"""


def test_lifecycle(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    up = (
        "create function public.normalize(t text) returns text language sql immutable "
        "as $$ select lower(t) $$; "
        "create table public.audit (id serial primary key, note text)"
    )
    down = "drop table public.audit; drop function public.normalize(text)"

    def started(old: Conn, new: Conn) -> None:
        assert old.execute("select public.normalize('ABC')").fetchone() == ("abc",)
        assert "audit" in relations(old, kinds="r")
        old.execute("insert into audit (note) values ('x')")
        old.execute("delete from audit")

    def completed(conn: Conn) -> None:
        assert "audit" in relations(conn, kinds="r")
        assert conn.execute("select public.normalize('X')").fetchone() == ("x",)

    run_lifecycle(
        pg_url,
        migration("m1", {"raw_sql": {"up": up, "down": down}}),
        started=started,
        completed=completed,
    )


def test_concurrent_statement_runs_outside_a_transaction(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    m = migration(
        "m1",
        {
            "raw_sql": {
                "up": "create index concurrently users_email_idx on public.users (email)",
                "down": "drop index concurrently if exists public.users_email_idx",
            }
        },
    )
    migrator = Migrator(pg_url)
    plan = migrator.plan(m)
    assert [s.transactional for s in plan.start if s.operation == "raw_sql"] == [False]
    migrator.start(m)
    with client(pg_url) as c:
        assert "users_email_idx" in relations(c, kinds="i")
    migrator.rollback()
    with client(pg_url) as c:
        assert "users_email_idx" not in relations(c, kinds="i")


def test_plan_marks_the_lock_as_unknown(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    plan = Migrator(pg_url).plan(
        migration("m1", {"raw_sql": {"up": "update users set email = lower(email)"}})
    )
    (step,) = [s for s in plan.start if s.operation == "raw_sql"]
    assert any("does not know which locks" in n for n in step.notes)
    assert any("no `down`" in n for n in step.notes)
    (undo,) = [s for s in plan.rollback if s.operation == "raw_sql"]
    assert undo.description.startswith("WARNING: raw_sql has no `down`")


def test_without_down_rollback_warns_and_keeps_up(pg_url: str, conn: Conn) -> None:
    """Chosen behaviour: rollback goes on (everything else is undone) and says that `up` stays."""
    conn.execute(SETUP)
    messages: list[str] = []
    from liveshift.progress import Reporter

    class Recorder(Reporter):
        def step_started(self, position: int, total: int, description: str) -> None:
            messages.append(description)

    migrator = Migrator(pg_url, reporter=Recorder())
    migrator.start(migration("m1", {"raw_sql": {"up": "update users set email = lower(email)"}}))
    migrator.rollback()
    assert any(m.startswith("WARNING: raw_sql has no `down`") for m in messages)
    with client(pg_url) as c:
        assert rows(c, "users") == [(1, "a@x"), (2, "b@x")]
        assert "public_m1" not in [s[0] for s in shape(c)["schemas"]]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"up": "creat table t (id int)"}, "does not parse"),
        ({"up": "select 1", "down": "drop tabel t"}, "`down` does not parse"),
        (
            {"up": "create index concurrently i on users (id); select 1"},
            "cannot run in a transaction",
        ),
        ({"up": "vacuum users; analyze users"}, "cannot run in a transaction"),
    ],
)
def test_bad_input(pg_url: str, conn: Conn, spec: dict[str, str], match: str) -> None:
    conn.execute(SETUP)
    assert_refused(pg_url, migration("m1", {"raw_sql": spec}), match)


def test_without_down_a_start_after_rollback_skips_the_applied_up(pg_url: str, conn: Conn) -> None:
    """Chosen behaviour: rollback leaves `up` applied, and starting the same migration again
    skips it (the journal says a rolled-back start ran it) instead of failing on "already
    exists"; changed `up` text runs again."""
    conn.execute(SETUP)
    up = "create table public.audit (id int primary key, note text)"
    m = migration(
        "m1", {"raw_sql": {"up": up}}, {"drop_column": {"table": "users", "column": "email"}}
    )
    migrator = Migrator(pg_url)
    (first,) = [s for s in migrator.plan(m).start if s.operation == "raw_sql"]
    assert first.sql == up
    assert any("skips this `up`" in n for n in first.notes)
    migrator.start(m)
    migrator.rollback()
    with client(pg_url) as c:
        assert "audit" in relations(c, kinds="r")
        after_rollback = shape(c)
    (again,) = [s for s in migrator.plan(m).start if s.operation == "raw_sql"]
    assert again.description.startswith("skip raw SQL (up), already applied")
    migrator.start(m)
    with client(pg_url) as c, client(pg_url, "public_m1") as new:
        assert new.execute("select * from users order by id").fetchall() == [(1,), (2,)]
        assert c.execute("select count(*) from audit").fetchone() == (0,)
    migrator.rollback()
    with client(pg_url) as c:
        assert shape(c) == after_rollback
    changed = migration("m1", {"raw_sql": {"up": up + " -- v2"}})
    (rerun,) = [s for s in migrator.plan(changed).start if s.operation == "raw_sql"]
    assert rerun.sql == up + " -- v2"
    with pytest.raises(LiveshiftError, match="already exists"):
        migrator.start(changed)


def test_on_complete_runs_up_at_complete(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    view = "create view public.emails as select id, lower(email) as email from public.users"
    m = migration("m1", {"raw_sql": {"up": view, "on_complete": True}})
    plan = Migrator(pg_url).plan(m)
    assert [s.sql for s in plan.complete if s.operation == "raw_sql"] == [view]
    assert [s for s in plan.start + plan.rollback if s.operation == "raw_sql"] == []

    def started(old: Conn, new: Conn) -> None:
        assert "emails" not in relations(old, kinds="v")

    def completed(c: Conn) -> None:
        c.execute(view.replace("public.emails", "public.emails_direct"))
        (ours, direct) = (
            c.execute(
                "select pg_get_viewdef('public.emails'::regclass), "
                "pg_get_viewdef('public.emails_direct'::regclass)"
            ).fetchone()
            or ()
        )
        assert ours == direct

    run_lifecycle(pg_url, m, started=started, completed=completed)


def test_on_complete_with_down_is_refused() -> None:
    with pytest.raises(LiveshiftError, match="`on_complete: true` runs at complete"):
        migration("m1", {"raw_sql": {"up": "select 1", "down": "select 2", "on_complete": True}})
