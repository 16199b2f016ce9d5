"""Static rules and trace mode must agree: the lock model and the rewrite verdicts, per statement.

Each case sets up tables in a real database, then traces one statement against a schema-only copy
of it (so the tables exist before the traced transaction, as in production) and compares what the
server did with what the static model predicts from the same file. When they disagree the server
is right by definition, and the test names the statement to fix in the model.
"""

from __future__ import annotations

import psycopg
import pytest

from liveshift.linter import lint_sql
from liveshift.linter.context import Context
from liveshift.linter.locks import effects
from liveshift.linter.source import Source
from liveshift.linter.trace import trace_sql

SETUP = """
create table p (id bigint primary key);
create table t (
    id bigint primary key, name varchar(20), price numeric(10, 2), ip cidr, n int,
    ts timestamp(3), email text, p_id bigint
);
create index t_name on t (name);
alter table t add constraint t_n_positive check (n > 0) not valid;
create function touch() returns trigger language plpgsql as 'begin return new; end';
"""

DECLARE = """
alter table t add column name varchar(20), add column price numeric(10, 2), add column ip cidr,
    add column n int, add column ts timestamp(3), add column email text;
"""
REWRITE_RULES = {
    "add-column-volatile-default", "add-column-serial", "add-column-stored-generated",
    "add-column-default-pre-pg11", "column-type-change", "truncate", "cluster", "vacuum-full",
}  # fmt: skip

# (statement, rule that must fire when the server rewrites the table, or None)
CASES: list[tuple[str, str | None]] = [
    ("alter table t add column a int", None),
    ("alter table t add column a int default 0", None),
    ("alter table t add column a timestamptz default now()", None),
    ("alter table t add column a float8 default random()", "add-column-volatile-default"),
    ("alter table t add column a uuid default gen_random_uuid()", "add-column-volatile-default"),
    ("alter table t add column a bigserial", "add-column-serial"),
    ("alter table t add column a bigint generated always as identity", "add-column-serial"),
    (
        "alter table t add column a int generated always as (n + 1) stored",
        "add-column-stored-generated",
    ),
    ("alter table t alter column name type varchar(40)", None),
    ("alter table t alter column name type text", None),
    ("alter table t alter column name type varchar(10)", "column-type-change"),
    ("alter table t alter column price type numeric(12, 2)", None),
    ("alter table t alter column price type numeric(12, 4)", "column-type-change"),
    ("alter table t alter column n type bigint", "column-type-change"),
    ("alter table t alter column ip type inet", None),
    ("alter table t alter column ts type timestamp(6)", None),
    ("alter table t alter column email set not null", None),
    ("alter table t add constraint c check (n < 100) not valid", None),
    ("alter table t validate constraint t_n_positive", None),
    ("alter table t add constraint t_p_fk foreign key (p_id) references p (id) not valid", None),
    ("alter table t set (fillfactor = 70)", None),
    ("create index t_email on t (email)", None),
    ("drop index t_name", None),
    ("truncate t", "truncate"),
    ("cluster t using t_pkey", "cluster"),
    ("vacuum full t", "vacuum-full"),
    ("lock table t in share mode", None),
    ("alter table t rename column email to mail", None),
    ("create trigger t_touch before update on t for each row execute function touch()", None),
    ("update t set n = 1 where id = 1", None),
]


@pytest.mark.parametrize(("statement", "rewrite_rule"), CASES, ids=[c[0] for c in CASES])
def test_static_model_agrees_with_the_server(
    pg_url: str, statement: str, rewrite_rule: str | None
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(SETUP.encode())
    traced = trace_sql(statement + ";", pg_url).statements[-1]
    assert traced.error is None, traced.error

    # The model, given the file as a reviewer would see it (setup declares the column types).
    source = Source(SETUP + statement + ";")
    parsed, problem = source.parse()
    assert problem is None
    ctx = Context()
    for earlier in parsed[:-1]:
        ctx.advance(earlier)
    predicted = effects(parsed[-1], ctx)
    assert predicted, "the model has no effect for this statement"

    for effect in predicted:
        if traced.locks_observed:
            assert traced.strongest_lock(effect.relation) == effect.mode, (effect, traced.locks)
        server_rewrote = effect.relation in traced.rewritten
        assert server_rewrote == effect.rewrite, (effect, traced.rewritten)

    # The rules, linting the statement against an existing table whose column types the file
    # shows (ADD COLUMN rather than CREATE TABLE, so the table does not count as new), say the
    # same: a rewrite rule fires exactly when the server rewrote the table.
    fired = {f.rule for f in lint_sql(DECLARE + statement + ";")}
    assert bool(fired & REWRITE_RULES) == bool(traced.rewritten), fired
    if rewrite_rule is not None:
        assert rewrite_rule in fired
