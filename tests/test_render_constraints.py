"""PostgreSQL's text for the actions on constraints and indexes: what each renders to, that the
server accepts it, and that it does what the action says (read back from the catalog)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from liveshift.engines.postgres.render import render
from liveshift.operations.actions import Action
from liveshift.operations.actions.columns import DropColumn, SetNotNull
from liveshift.operations.actions.constraints import (
    AddCheck,
    AddConstraintDefinition,
    AddConstraintUsingIndex,
    AddExclusion,
    AddForeignKey,
    AddNotNullCheck,
    ClusterOn,
    CopySequencePosition,
    CreateIndex,
    CreateIndexDefinition,
    DropConstraint,
    DropIndex,
    ExclusionElement,
    IndexKey,
    RecreateIdentity,
    RenameConstraint,
    RenameConstraintIfPresent,
    RenameIndex,
    RenameSequence,
    ReplicaIdentityUsingIndex,
    RepointForeignKey,
    SetSequenceOwner,
    SetSequenceType,
    StorageParameter,
    ValidateConstraint,
)
from liveshift.plan import ConcurrentIndex, Step
from liveshift.planner import compile_steps

Conn = psycopg.Connection[tuple[Any, ...]]

# A table whose names need quoting ("Order", "Total"), and another that references it.
SETUP = [
    'create table public."Order" (id int primary key, "Total" int, code text, during int4range)',
    "create table public.line (id int not null, order_id int)",
    "create sequence public.src start 5",
    'create sequence public."Target"',
    'create unique index order_code on public."Order" (code)',
    'alter table public."Order" add constraint total_positive check ("Total" > 0) not valid',
]
ORDER = 'public."Order"'

# Each action, its text, and a catalog query whose answer is True once it ran.
CASES: list[tuple[Action, str, str]] = [
    (
        ValidateConstraint(table=ORDER, name="total_positive"),
        'alter table only public."Order" validate constraint total_positive',
        "select convalidated from pg_constraint where conname = 'total_positive'",
    ),
    (
        AddCheck(table=ORDER, name="Big", condition='"Total" < 1000'),
        'alter table only public."Order" add constraint "Big" check ("Total" < 1000) not valid',
        "select not convalidated from pg_constraint where conname = 'Big'",
    ),
    (
        AddNotNullCheck(table=ORDER, name="total_nn", column="Total"),
        'alter table only public."Order" add constraint total_nn check ("Total" is not null) '
        "not valid",
        "select pg_get_constraintdef(oid) = 'CHECK ((\"Total\" IS NOT NULL)) NOT VALID' "
        "from pg_constraint where conname = 'total_nn'",
    ),
    (
        AddForeignKey(
            table="public.line",
            name="line_order",
            columns=("order_id",),
            target=ORDER,
            target_columns=("id",),
            on_delete="cascade",
            on_update="no action",
        ),
        "alter table only public.line add constraint line_order foreign key (order_id) references "
        'public."Order" (id) on delete cascade on update no action not valid',
        "select confdeltype = 'c' and not convalidated from pg_constraint "
        "where conname = 'line_order'",
    ),
    (
        AddExclusion(
            table=ORDER,
            name="no_overlap",
            using="gist",
            elements=(
                ExclusionElement(column="during", operator="&&"),
                ExclusionElement(
                    expression="int4range(id, id + 1)",
                    operator="&&",
                    opclass="pg_catalog.range_ops",
                ),
            ),
            where='"Total" > 0',
        ),
        'alter table only public."Order" add constraint no_overlap exclude using gist '
        '(during with &&, (int4range(id, id + 1)) pg_catalog.range_ops with &&) where ("Total" > 0)',
        "select contype = 'x' from pg_constraint where conname = 'no_overlap'",
    ),
    (
        AddConstraintUsingIndex(table=ORDER, name="order_code", index="order_code"),
        'alter table only public."Order" add constraint order_code unique using index order_code',
        "select contype = 'u' from pg_constraint where conname = 'order_code'",
    ),
    (
        AddConstraintUsingIndex(
            table=ORDER, name="code_key", index="order_code", deferrable=True, deferred=True
        ),
        'alter table only public."Order" add constraint code_key unique using index order_code '
        "deferrable initially deferred",
        "select condeferred from pg_constraint where conname = 'code_key'",
    ),
    (
        DropConstraint(table=ORDER, name="total_positive"),
        'alter table only public."Order" drop constraint total_positive',
        "select not exists (select from pg_constraint where conname = 'total_positive')",
    ),
    (
        DropConstraint(table=ORDER, name="nothing_here", if_exists=True, table_if_exists=True),
        'alter table if exists only public."Order" drop constraint if exists nothing_here',
        "select true",
    ),
    (
        RenameConstraint(table=ORDER, old="total_positive", new="Positive", if_exists=True),
        'alter table if exists only public."Order" rename constraint total_positive to "Positive"',
        "select exists (select from pg_constraint where conname = 'Positive')",
    ),
    (
        RenameConstraintIfPresent(table=ORDER, old="total_positive", new="positive"),
        "do $liveshift$ begin\n"
        "  if exists (select from pg_constraint where conname = 'total_positive'\n"
        "      and conrelid = to_regclass('public.\"Order\"')) then\n"
        '    alter table if exists only public."Order" rename constraint total_positive to '
        "positive;\n"
        "  end if;\n"
        "end $liveshift$",
        "select exists (select from pg_constraint where conname = 'positive')",
    ),
    (
        RenameConstraintIfPresent(table=ORDER, old="not_there", new="positive"),
        "do $liveshift$ begin\n"
        "  if exists (select from pg_constraint where conname = 'not_there'\n"
        "      and conrelid = to_regclass('public.\"Order\"')) then\n"
        '    alter table if exists only public."Order" rename constraint not_there to positive;\n'
        "  end if;\n"
        "end $liveshift$",
        "select not exists (select from pg_constraint where conname = 'positive')",
    ),
    (
        SetNotNull(table=ORDER, column="Total"),
        'alter table only public."Order" alter column "Total" set not null',
        "select attnotnull from pg_attribute where attname = 'Total'",
    ),
    (
        AddConstraintDefinition(
            table=ORDER, definition='ADD CONSTRAINT small CHECK ("Total" < 10) NOT VALID'
        ),
        'alter table only public."Order" ADD CONSTRAINT small CHECK ("Total" < 10) NOT VALID',
        "select exists (select from pg_constraint where conname = 'small')",
    ),
    (
        RepointForeignKey(
            table="public.line",
            statement="ALTER TABLE ONLY public.line ADD CONSTRAINT fk FOREIGN KEY (order_id) "
            'REFERENCES public."Order" (id) NOT VALID',
        ),
        "ALTER TABLE ONLY public.line ADD CONSTRAINT fk FOREIGN KEY (order_id) "
        'REFERENCES public."Order" (id) NOT VALID',
        "select exists (select from pg_constraint where conname = 'fk')",
    ),
    (
        CreateIndex(
            table=ORDER,
            name="By Total",
            keys=(
                IndexKey(column="Total", order="desc", nulls="last"),
                IndexKey(expression="lower(code)", collate="C", opclass="pg_catalog.text_ops"),
            ),
            unique=True,
            method="btree",
            include=("id",),
            storage=(
                StorageParameter(name="fillfactor", value=70),
                StorageParameter(name="deduplicate_items", value=False),
            ),
            where='"Total" > 0',
            concurrently=False,
        ),
        'create unique index "By Total" on public."Order" using btree ("Total" desc nulls last, '
        '(lower(code)) collate "C" pg_catalog.text_ops) include (id) '
        'with (fillfactor = 70, deduplicate_items = false) where "Total" > 0',
        "select indisunique from pg_index where indexrelid = 'public.\"By Total\"'::regclass",
    ),
    (
        CreateIndex(table=ORDER, name=None, keys=(IndexKey(column="code"),), concurrently=False),
        'create index on public."Order" (code)',
        "select count(*) = 3 from pg_index where indrelid = 'public.\"Order\"'::regclass",
    ),
    (
        CreateIndexDefinition(definition='CREATE INDEX by_code ON public."Order" (code)'),
        'CREATE INDEX by_code ON public."Order" (code)',
        "select to_regclass('public.by_code') is not null",
    ),
    (
        DropIndex(schema="public", name="order_code", concurrently=False),
        "drop index if exists public.order_code",
        "select to_regclass('public.order_code') is null",
    ),
    (
        RenameIndex(schema="public", old="order_code", new="Code"),
        'alter index public.order_code rename to "Code"',
        "select to_regclass('public.\"Code\"') is not null",
    ),
    (
        ReplicaIdentityUsingIndex(table=ORDER, index="Order_pkey"),
        'alter table only public."Order" replica identity using index "Order_pkey"',
        "select relreplident = 'i' from pg_class where oid = 'public.\"Order\"'::regclass",
    ),
    (
        ClusterOn(table=ORDER, index="order_code"),
        'alter table only public."Order" cluster on order_code',
        "select indisclustered from pg_index where indexrelid = 'public.order_code'::regclass",
    ),
    (
        DropColumn(table=ORDER, column="during", if_exists=False),
        'alter table only public."Order" drop column during',
        "select not exists (select from pg_attribute where attname = 'during' and not attisdropped)",
    ),
    (
        SetSequenceOwner(sequence="public.src", table=ORDER, column="id"),
        'alter sequence public.src owned by public."Order".id',
        "select pg_get_serial_sequence('public.\"Order\"', 'id') = 'public.src'",
    ),
    (
        SetSequenceType(sequence="public.src", type="smallint"),
        "alter sequence public.src as smallint",
        "select seqtypid = 'int2'::regtype from pg_sequence where seqrelid = 'public.src'::regclass",
    ),
    (
        RecreateIdentity(
            table="public.line",
            column="id",
            always=True,
            sequence_schema="public",
            sequence_name="Line Seq",
            increment=1,
            minimum=None,
            maximum=10,
            start=1,
            cache=1,
            cycle=False,
        ),
        "alter table only public.line alter column id add generated always as identity "
        '(sequence name public."Line Seq" increment by 1 no minvalue maxvalue 10 start with 1 '
        "cache 1 no cycle)",
        "select attidentity = 'a' from pg_attribute "
        "where attrelid = 'public.line'::regclass and attname = 'id'",
    ),
    (
        CopySequencePosition(source="public.src", target_schema="public", target_name="Target"),
        "select setval('public.\"Target\"', last_value, is_called) from public.src",
        'select last_value = 5 from public."Target"',
    ),
    (
        RenameSequence(schema="public", old="Target", new="renamed"),
        'alter sequence public."Target" rename to renamed',
        "select to_regclass('public.renamed') is not null",
    ),
]


@pytest.mark.parametrize(
    ("action", "text", "check"),
    CASES,
    ids=[f"{type(c[0]).__name__}-{i}" for i, c in enumerate(CASES)],
)
def test_rendered_text(action: Action, text: str, check: str) -> None:
    assert render(action) == text


@pytest.mark.parametrize(
    ("action", "text", "check"),
    CASES,
    ids=[f"{type(c[0]).__name__}-{i}" for i, c in enumerate(CASES)],
)
def test_server_accepts_and_does_it(conn: Conn, action: Action, text: str, check: str) -> None:
    """Each statement runs standalone in a transaction rolled back; the catalog shows its effect."""
    with conn.transaction(force_rollback=True):
        for statement in SETUP:
            conn.execute(statement)
        conn.execute(render(action))
        row = conn.execute(check).fetchone()
        assert row is not None and row[0] is True


def test_concurrent_actions_run_outside_a_transaction(conn: Conn) -> None:
    """CREATE / DROP INDEX CONCURRENTLY cannot run in a transaction: on the fresh database."""
    for statement in SETUP:
        conn.execute(statement)
    build = CreateIndex(table=ORDER, name="by_total", keys=(IndexKey(column="Total"),))
    assert render(build) == 'create index concurrently by_total on public."Order" ("Total")'
    conn.execute(render(build))
    assert conn.execute("select to_regclass('public.by_total') is not null").fetchone() == (True,)
    drop = DropIndex(schema="public", name="by_total")
    assert render(drop) == "drop index concurrently if exists public.by_total"
    conn.execute(render(drop))
    conn.execute(render(drop))  # idempotent
    assert conn.execute("select to_regclass('public.by_total') is null").fetchone() == (True,)


def test_every_action_type_is_covered() -> None:
    """One round trip per action type of the module at least."""
    from liveshift.operations.actions import constraints

    types = {
        t
        for t in vars(constraints).values()
        if isinstance(t, type) and issubclass(t, Action) and t is not Action
    }
    assert types <= {type(case[0]) for case in CASES}


def test_a_concurrent_build_is_rendered_into_its_create_sql() -> None:
    """The guard runs a concurrent build from ConcurrentIndex.create_sql: the planner renders the
    step's action there, and the step's own sql stays empty (as stored plans have it)."""
    build = CreateIndex(table=ORDER, name="by_code", keys=(IndexKey(column="code"),))
    step = Step(
        "build",
        actions=(build,),
        concurrent_index=ConcurrentIndex(schema="public", name="by_code", create_sql=""),
    )
    (compiled,) = compile_steps([step], render)
    assert compiled.sql == ""
    assert compiled.concurrent_index is not None
    assert compiled.concurrent_index.create_sql == (
        'create index concurrently by_code on public."Order" (code)'
    )
