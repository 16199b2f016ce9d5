"""create_index with per-key options (operator class, collation, order, nulls) and storage
parameters: the index PostgreSQL builds from the same definition written directly."""

from __future__ import annotations

from typing import Any

import pytest

from tests.operations.catalog import Conn
from tests.operations.lifecycle import assert_refused, migration, run_lifecycle
from tests.operations.twin import definitions, direct

SETUP = """
create table users (
    id int primary key,
    email text not null,
    created_at timestamptz not null default now(),
    doc jsonb
);
insert into users select g, 'u' || g, now() - g * interval '1 hour', jsonb_build_object('k', g)
from generate_series(1, 50) g;
"""

VARIANTS: dict[str, tuple[dict[str, Any], str]] = {
    "btree_options": (
        {
            "columns": [
                {"column": "email", "opclass": "text_pattern_ops"},
                {"column": "created_at", "order": "desc", "nulls": "last"},
            ],
            "with": {"fillfactor": 70, "deduplicate_items": False},
        },
        "create index i on users (email text_pattern_ops, created_at desc nulls last) "
        "with (fillfactor = 70, deduplicate_items = false)",
    ),
    "expression_collate": (
        {
            "columns": [
                {"expression": "lower(email)", "collate": "C", "order": "desc"},
                "id",
            ],
            "unique": True,
        },
        'create unique index i on users ((lower(email)) collate "C" desc, id)',
    ),
    "gin_opclass": (
        {
            "columns": [{"column": "doc", "opclass": "jsonb_path_ops"}],
            "method": "gin",
            "with": {"fastupdate": False},
        },
        "create index i on users using gin (doc jsonb_path_ops) with (fastupdate = false)",
    ),
    "brin_pages": (
        {"columns": ["created_at"], "method": "brin", "with": {"pages_per_range": 16}},
        "create index i on users using brin (created_at) with (pages_per_range = 16)",
    ),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_lifecycle(pg_url: str, conn: Conn, variant: str) -> None:
    spec, statement = VARIANTS[variant]
    conn.execute(SETUP)
    expected = direct(conn, SETUP, statement, "users")

    def started(old: Conn, new: Conn) -> None:
        assert definitions(old, "users") == expected
        old.execute("insert into users (id, email) values (100, 'old')")
        new.execute("insert into users (id, email) values (101, 'new')")
        old.execute("delete from users where id >= 100")

    def completed(c: Conn) -> None:
        assert definitions(c, "users") == expected

    run_lifecycle(
        pg_url,
        migration("m1", {"create_index": {"name": "i", "table": "users", **spec}}),
        started=started,
        completed=completed,
    )


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        # the server's own refusals, asked on an empty copy of the columns
        (
            {"columns": [{"column": "email", "opclass": "no_such_ops"}]},
            'operator class "no_such_ops" does not exist',
        ),
        ({"columns": ["email"], "with": {"fillfactor": 5}}, "fillfactor"),
        ({"columns": ["email"], "with": {"pages_per_range": 4}}, "unrecognized parameter"),
        (
            {"columns": [{"column": "id", "opclass": "jsonb_path_ops"}], "method": "gin"},
            "does not accept data type integer",
        ),
        ({"columns": [{"column": "emial"}], "with": {"fillfactor": 70}}, "Did you mean 'email'"),
    ],
)
def test_bad_input(pg_url: str, conn: Conn, spec: dict[str, Any], match: str) -> None:
    conn.execute(SETUP)
    assert_refused(
        pg_url, migration("m1", {"create_index": {"name": "i", "table": "users", **spec}}), match
    )


@pytest.mark.parametrize(
    ("key", "match"),
    [
        ({"column": "email", "expression": "lower(email)"}, "not both"),
        ({"opclass": "text_ops"}, "either `column: email`"),
        ({"column": "email", "opclass": "x; drop table users"}, "pattern"),
        ({"column": "email", "order": "down"}, "'asc' or 'desc'"),
    ],
)
def test_bad_key_is_refused_as_the_file_is_read(key: dict[str, str], match: str) -> None:
    from liveshift.errors import LiveshiftError

    with pytest.raises(LiveshiftError, match=match):
        migration("m1", {"create_index": {"name": "i", "table": "users", "columns": [key]}})
