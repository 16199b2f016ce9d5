"""Per rule: SQL it must flag and SQL it must leave alone, including the file-context cases."""

from __future__ import annotations

from typing import Any

import pytest

from liveshift.linter import Severity, lint_sql
from liveshift.linter.registry import all_rules

# rule id -> (SQL that must be flagged, SQL that must not be); a tuple (sql, options) passes options.
Case = str | tuple[str, dict[str, Any]]
CASES: dict[str, tuple[list[Case], list[Case]]] = {
    "add-column-volatile-default": (
        [
            "alter table users add column token uuid default gen_random_uuid();",
            "alter table users add column r float8 default random();",
            "alter table users add column at timestamptz default clock_timestamp();",
            "alter table users add column x int default my_func();",  # unknown: cannot prove
        ],
        [
            "alter table users add column at timestamptz default now();",
            "alter table users add column n int default 0;",
            "alter table users add column d date default current_date;",
            "alter table users add column j jsonb default '{}'::jsonb;",
            "create function f() returns int language sql immutable as 'select 1';\n"
            "alter table users add column x int default f();",
            "create table users (id bigint, token uuid default gen_random_uuid());",
            "create table t (id bigint);\nalter table t add column r float8 default random();",
        ],
    ),
    "add-column-serial": (
        [
            "alter table users add column n serial;",
            "alter table users add column n bigserial;",
            "alter table users add column n bigint generated always as identity;",
        ],
        [
            "alter table users add column n bigint;",
            "create table t (id bigint);\nalter table t add column n bigserial;",
        ],
    ),
    "add-column-stored-generated": (
        ["alter table users add column full_name text generated always as (a || b) stored;"],
        [
            "alter table users add column full_name text generated always as (a || b) virtual;",
            "alter table users add column full_name text;",
        ],
    ),
    "add-column-default-pre-pg11": (
        [("alter table users add column n int default 0;", {"pg_version": 10})],
        [
            ("alter table users add column n int default 0;", {"pg_version": 11}),
            ("alter table users add column n int default null;", {"pg_version": 10}),
            ("alter table users add column n int;", {"pg_version": 10}),
        ],
    ),
    "add-column-not-null-without-default": (
        ["alter table users add column n int not null;"],
        [
            "alter table users add column n int not null default 0;",
            "alter table users add column n int;",
            "alter table users add column n bigserial not null;",
            "create table t (id bigint);\nalter table t add column n int not null;",
        ],
    ),
    "add-column-inline-constraint": (
        [
            "alter table users add column email text unique;",
            "alter table users add column org_id bigint references orgs (id);",
            "alter table users add column n int check (n > 0);",
        ],
        [
            "alter table users add column email text;",
            "alter table users add column n int not null default 0;",
        ],
    ),
    "set-not-null": (
        [
            "alter table users alter column email set not null;",
            # the check exists but is not validated yet
            "alter table users add constraint c check (email is not null) not valid;\n"
            "alter table users alter column email set not null;",
            # a validated check does not help before PostgreSQL 12
            (
                "alter table users add constraint c check (email is not null);\n"
                "alter table users alter column email set not null;",
                {"pg_version": 11},
            ),
        ],
        [
            "alter table users add constraint c check (email is not null) not valid;\n"
            "alter table users validate constraint c;\n"
            "alter table users alter column email set not null;",
            "alter table users add constraint c check (email is not null and name is not null);\n"
            "alter table users alter column name set not null;",
            "create table t (id bigint, email text);\nalter table t alter column email set not null;",
        ],
    ),
    "create-index-non-concurrently": (
        [
            "create index users_email on users (email);",
            "create unique index users_email on users (email);",
        ],
        [
            "create index concurrently users_email on users (email);",
            "create table t (id bigint);\ncreate index t_id on t (id);",
        ],
    ),
    "drop-index-non-concurrently": (
        ["drop index users_email;", "drop index if exists a, b;"],
        [
            "drop index concurrently users_email;",
            "create table t (id bigint);\ncreate index t_id on t (id);\ndrop index t_id;",
        ],
    ),
    "reindex-non-concurrently": (
        ["reindex index users_email;", "reindex table users;"],
        [
            "reindex index concurrently users_email;",
            "reindex (verbose) table concurrently users;",
        ],
    ),
    "concurrently-in-transaction": (
        [
            "begin;\ncreate index concurrently i on users (email);\ncommit;",
            "begin;\ndrop index concurrently i;\ncommit;",
            ("create index concurrently i on users (email);", {"assume_in_transaction": True}),
        ],
        [
            "create index concurrently i on users (email);",
            "begin;\nselect 1;\ncommit;\ncreate index concurrently i on users (email);",
        ],
    ),
    "check-constraint-without-not-valid": (
        ["alter table users add constraint positive check (n > 0);"],
        [
            "alter table users add constraint positive check (n > 0) not valid;",
            "create table t (n int);\nalter table t add constraint positive check (n > 0);",
        ],
    ),
    "foreign-key-without-not-valid": (
        ["alter table users add constraint fk foreign key (org_id) references orgs (id);"],
        [
            "alter table users add constraint fk foreign key (org_id) references orgs (id) not valid;",
            "create table t (org_id bigint);\n"
            "alter table t add constraint fk foreign key (org_id) references orgs (id);",
        ],
    ),
    "validate-in-same-transaction": (
        [
            "begin;\nalter table users add constraint c check (n > 0) not valid;\n"
            "alter table users validate constraint c;\ncommit;",
        ],
        [
            "alter table users add constraint c check (n > 0) not valid;\n"
            "alter table users validate constraint c;",
            "begin;\nalter table users add constraint c check (n > 0) not valid;\ncommit;\n"
            "begin;\nalter table users validate constraint c;\ncommit;",
        ],
    ),
    "unique-without-using-index": (
        [
            "alter table users add constraint u unique (email);",
            "alter table users add primary key (id);",
        ],
        [
            "alter table users add constraint u unique using index users_email;",
            "alter table users add constraint pk primary key using index users_pk;",
            "create table t (id bigint);\nalter table t add primary key (id);",
        ],
    ),
    "exclusion-constraint": (
        ["alter table bookings add constraint no_overlap exclude using gist (room with =);"],
        [
            "create table bookings (room int);\n"
            "alter table bookings add constraint no_overlap exclude using gist (room with =);",
        ],
    ),
    "column-type-change": (
        [
            "alter table users alter column id type bigint;",
            "alter table users alter column name type varchar(20);",  # old type unknown
            "alter table users add column name varchar(20);\n"
            "alter table users alter column name type varchar(10);",
            "alter table users add column price numeric(10, 2);\n"
            "alter table users alter column price type numeric(12, 4);",
            "alter table users add column name varchar(20);\n"
            "alter table users alter column name type varchar(40) using name::varchar(40);",
        ],
        [
            "alter table users add column name varchar(20);\n"
            "alter table users alter column name type varchar(40);",
            "alter table users add column name varchar(20);\n"
            "alter table users alter column name type text;",
            "alter table users add column price numeric(10, 2);\n"
            "alter table users alter column price type numeric(12, 2);",
            "alter table users add column addr cidr;\nalter table users alter column addr type inet;",
            "create table t (id int);\nalter table t alter column id type bigint;",
        ],
    ),
    "rename-column": (
        ["alter table users rename column name to full_name;"],
        ["create table t (a int);\nalter table t rename column a to b;"],
    ),
    "rename-table": (
        ["alter table users rename to customers;"],
        [
            "create table t (a int);\nalter table t rename to t2;",
            "alter index users_email rename to users_email_idx;",
        ],
    ),
    "drop-column": (
        ["alter table users drop column legacy;"],
        ["create table t (a int, b int);\nalter table t drop column b;"],
    ),
    "drop-table": (
        ["drop table users;", "drop table if exists public.users cascade;"],
        ["create table t (a int);\ndrop table t;", "drop view v;"],
    ),
    "truncate": (
        ["truncate users;", "truncate table users, orders;"],
        ["create table t (a int);\ntruncate t;"],
    ),
    "vacuum-full": (
        ["vacuum full users;", "vacuum (full, analyze) users;", "vacuum full;"],
        ["vacuum users;", "vacuum (analyze) users;"],
    ),
    "cluster": (
        ["cluster users using users_pkey;", "cluster;"],
        ["create table t (a int);\ncluster t;"],
    ),
    "lock-table": (
        ["lock table users;", "lock table users in share mode;"],
        ["lock table users in access share mode;", "lock table users in row exclusive mode;"],
    ),
    "unbatched-backfill": (
        [
            "update users set active = true;",
            "update users set email_lower = lower(email) where email_lower is null;",
            "delete from users;",
        ],
        [
            "update users set active = true where id >= 1 and id < 1000;",
            "delete from users where id = 42;",
            "create table t (a int);\nupdate t set a = 1;",
        ],
    ),
    "missing-lock-timeout": (
        [
            "alter table users add column n int;",
            "create index i on users (email);",
            "drop table users;",
            "alter table users add constraint fk foreign key (a) references orgs (id) not valid;",
            "begin;\nset local lock_timeout = '2s';\ncommit;\nalter table users add column n int;",
            "set lock_timeout = '2s';\nreset lock_timeout;\nalter table users add column n int;",
            "set lock_timeout = 0;\nalter table users add column n int;",
            "set local lock_timeout = '1s';\nalter table users add column n int;",  # no effect
        ],
        [
            "set lock_timeout = '2s';\nalter table users add column n int;",
            "begin;\nset local lock_timeout = '2s';\nalter table users add column n int;\ncommit;",
            "select set_config('lock_timeout', '2s', false);\nalter table users add column n int;",
            "create index concurrently i on users (email);",
            "alter table users validate constraint c;",
            "create table t (a int);\nalter table t add column b int;",
            "update users set a = 1 where id = 1;",
        ],
    ),
    "prefer-bigint": (
        [
            "create table t (id int primary key);",
            "create table t (id bigint, org_id integer);",
            "alter table users add column team_id smallint;",
        ],
        ["create table t (id bigint, age int, score smallint);"],
    ),
    "prefer-text": (
        ["create table t (name varchar(100));", "create table t (code char(2));"],
        ["create table t (name text, nick varchar);"],
    ),
    "prefer-timestamptz": (
        ["create table t (at timestamp);", "alter table t add column at timestamp(3);"],
        ["create table t (at timestamptz, d date);"],
    ),
    "prefer-identity": (
        ["create table t (id bigserial primary key);", "create table t (id serial);"],
        [
            "create table t (id bigint generated by default as identity);",
            "alter table users add column n serial;",  # add-column-serial reports that one
        ],
    ),
    "prefer-jsonb": (
        ["create table t (doc json);", "alter table users add column doc json;"],
        ["create table t (doc jsonb);"],
    ),
    "syntax-error": (["alter tabel users add column n int;", "select from where;"], ["select 1;"]),
    "unused-ignore": (
        [
            "-- liveshift: ignore drop-table\nselect 1;",
            "-- liveshift: ignore no-such-rule\nselect 1;",
            "-- liveshift: ignore\nselect 1;",
        ],
        ["-- liveshift: ignore drop-table\ndrop table users;", "-- a comment\nselect 1;"],
    ),
}

# Rules reported while reading migration files rather than from SQL; tested in test_inputs.py.
FILE_LEVEL_RULES = {"raw-sql-without-down"}


def _split(case: Case) -> tuple[str, dict[str, Any]]:
    return (case, {}) if isinstance(case, str) else case


def _flat(which: int) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for rule_id, cases in CASES.items():
        for case in cases[which]:
            sql, options = _split(case)
            out.append((rule_id, sql, options))
    return out


def test_every_rule_has_flagged_and_clean_cases() -> None:
    ids = {rule.id for rule in all_rules()} - FILE_LEVEL_RULES
    assert set(CASES) == ids
    for rule_id, (flagged, clean) in CASES.items():
        assert flagged and clean, rule_id


@pytest.mark.parametrize(("rule_id", "sql", "options"), _flat(0))
def test_flagged(rule_id: str, sql: str, options: dict[str, Any]) -> None:
    findings = lint_sql(sql, **options)
    assert rule_id in {f.rule for f in findings}, findings


@pytest.mark.parametrize(("rule_id", "sql", "options"), _flat(1))
def test_not_flagged(rule_id: str, sql: str, options: dict[str, Any]) -> None:
    findings = lint_sql(sql, **options)
    assert rule_id not in {f.rule for f in findings}, findings


def test_rules_have_stable_shape() -> None:
    for rule in all_rules():
        assert rule.id == rule.id.lower() and " " not in rule.id
        assert rule.summary.endswith(".") and rule.help.endswith(".")
        assert isinstance(rule.severity, Severity)


def test_style_rules_are_warnings_and_danger_rules_errors() -> None:
    severities = {rule.id: rule.severity for rule in all_rules()}
    for rule_id in ("prefer-bigint", "prefer-text", "prefer-timestamptz", "prefer-identity"):
        assert severities[rule_id] is Severity.WARNING
    for rule_id in ("drop-table", "set-not-null", "create-index-non-concurrently"):
        assert severities[rule_id] is Severity.ERROR
