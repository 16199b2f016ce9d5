"""PostgreSQL's answers to the typed constraint, index and column questions, on a schema built
for them (both servers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from liveshift.engines.postgres.connection import PgConnection, connect
from liveshift.engines.postgres.introspect import introspect
from liveshift.engines.postgres.probe import Probe
from liveshift.engines.probe_constraints import ConstraintQuestions, RelyingForeignKey
from liveshift.errors import ValidationError
from liveshift.operations.actions.constraints import (
    AddExclusion,
    CreateIndex,
    ExclusionElement,
    IndexKey,
    StorageParameter,
)
from liveshift.schema import Schema

SCHEMA = """
create table parent (id int primary key, code text constraint parent_code_key unique);
create table child (
  id int,
  parent_id int constraint child_parent_fk references parent (id),
  parent_code text constraint child_code_fk references parent (code)
);
create table items (id int, qty int constraint qty_positive check (qty > 0), note text);
create index items_lower on items (lower(note));
create index items_plain on items (qty);
insert into items values (1, 1, null), (2, 2, 'x');
create table slots (room int, during tstzrange);
"""


@pytest.fixture
def db(pg_url: str) -> Iterator[tuple[PgConnection, Schema]]:
    conn = connect(pg_url)
    try:
        with conn.transaction():
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
        yield conn, introspect(conn, "public")
    finally:
        conn.close()


def questions(conn: PgConnection) -> ConstraintQuestions:
    # Typed as the engine-neutral protocol: PostgreSQL's Probe answers every question of it.
    return Probe(conn)


def test_table_in_catalog(db: tuple[PgConnection, Schema]) -> None:
    conn, schema = db
    items = schema.table("items")
    assert questions(conn).table_in_catalog(items) is True
    conn.execute("drop table items")
    assert questions(conn).table_in_catalog(items) is False


def test_holds_nulls(db: tuple[PgConnection, Schema]) -> None:
    conn, schema = db
    items, probe = schema.table("items"), questions(conn)
    assert probe.holds_nulls(items, ["note"], "note") is True
    assert probe.holds_nulls(items, ["qty", "id"], "qty and id") is False
    assert probe.holds_nulls(items, ["qty", "note"], "qty and note") is True


def test_constraint_exists(db: tuple[PgConnection, Schema]) -> None:
    conn, schema = db
    items, probe = schema.table("items"), questions(conn)
    assert probe.constraint_exists(items, "qty_positive") is True
    assert probe.constraint_exists(items, "items_lower") is False  # an index, not a constraint
    assert probe.constraint_exists(schema.table("parent"), "qty_positive") is False


def test_foreign_keys_relying_on(db: tuple[PgConnection, Schema]) -> None:
    conn, schema = db
    parent, probe = schema.table("parent"), questions(conn)
    assert probe.foreign_keys_relying_on(parent, "parent_pkey") == [
        RelyingForeignKey(name="child_parent_fk", table="child")
    ]
    relying = probe.foreign_keys_relying_on(parent, "parent_code_key")
    assert [key.describe() for key in relying] == ["child_code_fk on child"]
    assert probe.foreign_keys_relying_on(schema.table("items"), "qty_positive") == []


def test_exclusion_fits(db: tuple[PgConnection, Schema]) -> None:
    conn, schema = db
    slots, probe = schema.table("slots"), questions(conn)
    overlap = ExclusionElement(column="during", operator="&&")
    exclusion = AddExclusion(table=slots.qualified, name="x", using="gist", elements=(overlap,))
    probe.exclusion_fits(slots, exclusion, "exclusion x")
    # Without btree_gist, gist has no operator class for plain integers.
    room = ExclusionElement(column="room", operator="=")
    refused = AddExclusion(table=slots.qualified, name="x", using="gist", elements=(room, overlap))
    with pytest.raises(ValidationError, match=r"^exclusion x is refused by the database: "):
        probe.exclusion_fits(slots, refused, "exclusion x")
    assert "x" not in introspect(conn, "public").table("slots").constraints


def test_index_fits(db: tuple[PgConnection, Schema]) -> None:
    conn, schema = db
    items, probe = schema.table("items"), questions(conn)
    good = CreateIndex(
        table=items.qualified,
        name="items_note",
        keys=(IndexKey(column="note", opclass="text_pattern_ops", order="desc"),),
        storage=(StorageParameter(name="fillfactor", value=70),),
    )
    probe.index_fits(items, good, "index items_note")
    bad = CreateIndex(
        table=items.qualified, name="items_note", keys=(IndexKey(column="note", opclass="nope"),)
    )
    with pytest.raises(ValidationError, match=r"^index items_note is refused by the database: "):
        probe.index_fits(items, bad, "index items_note")
    assert "items_note" not in introspect(conn, "public").table("items").indexes


def test_identity_fits(db: tuple[PgConnection, Schema]) -> None:
    conn, _ = db
    probe = questions(conn)
    probe.identity_fits("bigint", "identity column t.c")
    with pytest.raises(ValidationError, match=r"^identity column t.c is refused by the database"):
        probe.identity_fits("text", "identity column t.c")


def test_carried_index_fits(db: tuple[PgConnection, Schema]) -> None:
    conn, schema = db
    items, probe = schema.table("items"), questions(conn)
    definition = "CREATE INDEX CONCURRENTLY ix ON public.items USING btree (lower(note_new))"
    probe.carried_index_fits(items, "note_new", "varchar(20)", definition, "index ix")
    with pytest.raises(ValidationError, match=r"^index ix is refused by the database: .*lower"):
        probe.carried_index_fits(items, "note_new", "integer", definition, "index ix")


def test_carried_check_fits(db: tuple[PgConnection, Schema]) -> None:
    conn, schema = db
    items, probe = schema.table("items"), questions(conn)
    clause = "ADD CONSTRAINT ck CHECK (qty_new > 0) NOT VALID"
    probe.carried_check_fits(items, "qty_new", "bigint", clause, "check ck")
    with pytest.raises(ValidationError, match=r"^check ck is refused by the database: "):
        probe.carried_check_fits(items, "qty_new", "point", clause, "check ck")


def test_foreign_key_types_fit(db: tuple[PgConnection, Schema]) -> None:
    conn, _ = db
    probe = questions(conn)
    probe.foreign_key_types_fit(["bigint", "text"], ["integer", "text"], "fk")
    with pytest.raises(ValidationError, match=r"^fk is refused by the database: "):
        probe.foreign_key_types_fit(["text"], ["integer"], "fk")


def test_value_fits(db: tuple[PgConnection, Schema]) -> None:
    conn, _ = db
    probe = questions(conn)
    probe.value_fits({"a": "text", "b": "integer"}, "a::int + b", "bigint", ("t", "c"), "up")
    with pytest.raises(ValidationError, match=r'^up is refused by the database: .*"t.c"'):
        probe.value_fits({"a": "text"}, "a", "integer", ("t", "c"), "up")
    with pytest.raises(ValidationError, match=r"^up is refused by the database: .*missing"):
        probe.value_fits({"a": "text"}, "missing", "integer", ("t", "c"), "up")


def test_rechecked_by_type_change(db: tuple[PgConnection, Schema]) -> None:
    conn, schema = db
    items, probe = schema.table("items"), questions(conn)
    assert probe.rechecked_by_type_change(items, "qty") == ["qty_positive"]  # not items_plain
    assert probe.rechecked_by_type_change(items, "note") == ["items_lower"]
    assert probe.rechecked_by_type_change(items, "id") == []


def test_type_change_rewrites(db: tuple[PgConnection, Schema]) -> None:
    conn, _ = db
    probe = questions(conn)
    assert probe.type_change_rewrites("varchar(10)", "text") is False
    assert probe.type_change_rewrites("varchar(10)", "varchar(20)") is False
    assert probe.type_change_rewrites("integer", "bigint") is True
    with pytest.raises(ValidationError, match=r"^the type change integer -> point is refused"):
        probe.type_change_rewrites("integer", "point")
