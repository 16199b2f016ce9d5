"""The probe's typed catalog questions (engines/probe_objects.py) against real servers."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from liveshift.engines.postgres.connection import connect
from liveshift.engines.postgres.probe import Probe
from liveshift.engines.probe_objects import (
    Dependent,
    IndexShape,
    ReplicaIdentityFacts,
    TableDependent,
)
from liveshift.errors import ValidationError
from liveshift.operations.actions import Sql
from liveshift.schema import Table

SCHEMA = """
create schema app;
create table app.parent (id int primary key, code text unique not null);
create table app.child (
  id bigserial primary key,
  parent_id int references app.parent (id),
  code text,
  note text check (length(note) < 100),
  amount int
);
create index child_code_idx on app.child (code);
create index child_expr_idx on app.child (lower(code));
alter table app.child add constraint child_amount_key unique (amount) deferrable;
create view app.child_view as select id, code from app.child;
create function app.child_count() returns bigint language plpgsql
  as $$ begin return (select count(*) from app.child); end $$;
insert into app.parent values (1, 'a');
insert into app.child (parent_id, code, amount) values (1, 'x', 10), (1, null, 20);
"""

PARENT = Table(schema="app", name="parent")
CHILD = Table(schema="app", name="child")


@pytest.fixture
def probe(pg_url: str) -> Iterator[Probe]:
    with psycopg.connect(pg_url, autocommit=True) as setup:
        setup.execute(SCHEMA)
    conn = connect(pg_url)
    try:
        yield Probe(conn)
    finally:
        conn.close()


def test_column_dependents(probe: Probe) -> None:
    code = probe.column_dependents(CHILD, "code")
    assert Dependent("view", "app.child_view", True) in code
    assert Dependent("index", "app.child_code_idx", False) in code
    assert Dependent("index", "app.child_expr_idx", True) in code
    parent_id = probe.column_dependents(PARENT, "id")
    assert Dependent("primary key", "parent_pkey on app.parent", True) in parent_id
    assert Dependent("foreign key", "child_parent_id_fkey on app.child", True) in parent_id
    assert probe.column_dependents(CHILD, "note") == [
        Dependent("check constraint", "child_note_check on app.child", False)
    ]


def test_has_rows_where(probe: Probe) -> None:
    assert probe.has_rows_where(CHILD, "code is null")
    assert not probe.has_rows_where(CHILD, "amount > 100")


def test_column_facts(probe: Probe) -> None:
    facts = probe.column_facts(CHILD, "id")
    assert [c.name for c in facts.constraints] == ["child_pkey"]
    pkey = facts.constraints[0]
    assert (pkey.kind, pkey.key, pkey.validated) == ("p", ("id",), True)
    assert pkey.index_definition is not None and "app.child" in pkey.index_definition
    assert facts.sequence is not None
    assert (facts.sequence.schema, facts.sequence.name) == ("app", "child_id_seq")
    assert (facts.sequence.type, facts.sequence.identity) == ("bigint", "")
    assert ("index", "child_code_idx") in facts.catalog_names
    assert ("constraint", "child_parent_id_fkey") in facts.catalog_names

    code = probe.column_facts(CHILD, "code")
    assert [(i.name, i.uses, i.valid) for i in code.indexes] == [
        ("child_code_idx", ("code",), True),
        ("child_expr_idx", ("code",), True),
    ]
    assert code.sequence is None

    amount = probe.column_facts(CHILD, "amount")
    assert [(c.name, c.kind, c.deferrable) for c in amount.constraints] == [
        ("child_amount_key", "u", True)
    ]

    referencing = probe.column_facts(PARENT, "id").referencing
    assert len(referencing) == 1
    fkey = referencing[0]
    assert (fkey.name, fkey.qualified, fkey.key, fkey.referenced, fkey.key_types) == (
        "child_parent_id_fkey",
        "app.child",
        ("parent_id",),
        ("id",),
        ("integer",),
    )
    assert fkey.index == "parent_pkey"


def test_relation_kind_and_schema_exists(probe: Probe) -> None:
    assert probe.relation_kind("app", "child") == "table"
    assert probe.relation_kind("app", "child_view") == "view"
    assert probe.relation_kind("app", "child_code_idx") == "index"
    assert probe.relation_kind("app", "child_id_seq") == "sequence"
    assert probe.relation_kind("app", "nothing_here") is None
    assert probe.schema_exists("app")
    assert not probe.schema_exists("app_v2")


def test_table_dependents(probe: Probe) -> None:
    assert probe.table_dependents(CHILD) == [
        TableDependent("function (by name in its body)", "app.child_count()"),
        TableDependent("view", "app.child_view"),
    ]
    assert probe.table_dependents(PARENT) == [
        TableDependent("foreign key", "child_parent_id_fkey on app.child")
    ]


def test_views_in_schema(probe: Probe) -> None:
    assert probe.views_in_schema("app") == {"child_view"}
    assert probe.views_in_schema("no_such_schema") == set()


def test_raw_sql_ran_before_without_state(probe: Probe) -> None:
    assert not probe.raw_sql_ran_before("app", "m1", "select 1")


def test_replica_identity(probe: Probe, pg_url: str) -> None:
    assert probe.replica_identity(CHILD) == ReplicaIdentityFacts("default")
    assert probe.replica_identity(Table(schema="app", name="not_yet")) is None
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("alter table app.child replica identity using index child_pkey")
        c.execute("alter table app.parent replica identity full")
    assert probe.replica_identity(CHILD) == ReplicaIdentityFacts("index", "child_pkey")
    assert probe.replica_identity(PARENT) == ReplicaIdentityFacts("full")


def test_index_shape(probe: Probe) -> None:
    assert probe.index_shape("app", "child_code_idx") == IndexShape(False, False)
    assert probe.index_shape("app", "child_expr_idx") == IndexShape(True, False)
    assert probe.index_shape("app", "child_amount_key") == IndexShape(False, True)
    assert probe.index_shape("app", "no_such_index") is None


def test_check_trigger_skipping(probe: Probe, login_role: str) -> None:
    probe.check_trigger_skipping()  # the test servers' user is a superuser
    conn = connect(login_role)
    try:
        with pytest.raises(ValidationError, match="skipping triggers is refused by the database"):
            Probe(conn).check_trigger_skipping()
    finally:
        conn.close()


def test_accepts(probe: Probe) -> None:
    probe.accepts([Sql(text="create table app.made (a int)")], "a table")
    assert probe.relation_kind("app", "made") is None  # rolled back
    with pytest.raises(ValidationError, match="the query is refused by the database") as refused:
        probe.accepts(
            [Sql(text="select _ls_new_code from app.child")], "the query", {"_ls_new_code": "code"}
        )
    assert "_ls_new_code" not in refused.value.message
