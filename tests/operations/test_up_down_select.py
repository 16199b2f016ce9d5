"""`up`/`down` written as `SELECT <expression>` (as pgroll and reshape users write them)."""

from __future__ import annotations

import pytest

from liveshift.errors import LiveshiftError
from liveshift.migration import Migration
from tests.operations.catalog import Conn
from tests.operations.lifecycle import migration, run_lifecycle

SETUP = """
create table users (id int primary key, email text);
insert into users values (1, 'a@x'), (2, null), (3, 'ccc@x');
"""
UP = "SELECT CASE WHEN email IS NULL THEN 0 ELSE length(email) END"


def test_select_case_up_fills_the_column_as_the_server_computes_it(pg_url: str, conn: Conn) -> None:
    conn.execute(SETUP)
    add = {
        "add_column": {
            "table": "users",
            "column": {"name": "email_length", "type": "int", "nullable": False},
            "up": UP,
        }
    }

    def expected(c: Conn) -> list[tuple[int, int]]:
        return c.execute(f"select id, ({UP}) from public.users order by id").fetchall()

    def started(old: Conn, new: Conn) -> None:
        old.execute("insert into users values (4, 'dddd@x'), (5, null)")
        assert new.execute("select id, email_length from users order by id").fetchall() == (
            expected(old)
        )
        old.execute("delete from users where id > 3")

    def completed(c: Conn) -> None:
        assert c.execute("select id, email_length from users order by id").fetchall() == (
            expected(c)
        )

    run_lifecycle(pg_url, migration("m1", add), started=started, completed=completed)


def test_a_leading_select_is_the_expression_after_it() -> None:
    m = Migration.from_dict(
        {
            "operations": [
                {"drop_column": {"table": "t", "column": "c", "down": "select  lower(a) as x;"}}
            ]
        },
        name="m1",
    )
    assert m.operations[0][1].down == "lower(a)"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("up", "clause"),
    [
        ("select email from users", "FROM"),
        ("select 1 where true", "WHERE"),
        ("select 1 union select 2", "UNION"),
        ("select 1, 2", "several values"),
    ],
)
def test_a_select_that_reads_rows_is_refused_with_the_form_expected(up: str, clause: str) -> None:
    spec = {"table": "t", "column": {"name": "c", "type": "int"}, "up": up}
    with pytest.raises(LiveshiftError, match=r"operations\.0\.add_column\.up: the up") as refused:
        Migration.from_dict({"operations": [{"add_column": spec}]}, name="m1")
    assert clause in refused.value.message
    assert "as it would appear after SELECT" in refused.value.message
