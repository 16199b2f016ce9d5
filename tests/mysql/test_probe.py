"""MySQLProbe on the real MariaDB: each answer is the server's, each refusal its message, and no
question waits behind a lock another session holds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from liveshift.engines.mysql.connection import MySQLConnection, connect
from liveshift.engines.mysql.probe import MySQLProbe
from liveshift.engines.mysql.probe import probe as probe_for
from liveshift.engines.probe_constraints import RelyingForeignKey
from liveshift.engines.probe_objects import TableDependent
from liveshift.errors import DatabaseError, ValidationError
from liveshift.schema import Column, Table


@pytest.fixture
def probe(mconn: MySQLConnection) -> MySQLProbe:
    return MySQLProbe(mconn, lock_timeout_ms=500)


@pytest.fixture
def items(mconn: MySQLConnection, mysql_db: str) -> Table:
    """`items` (id, name varchar(10), price decimal(8,2), note text) with three rows."""
    mconn.execute(
        "create table items (id int primary key, name varchar(10) comment 'what it is', "
        "price decimal(8,2), note text)"
    )
    mconn.execute(
        "insert into items values (1, 'pen', 1.50, 'short'), (2, 'book', 12.00, 'a longer note'),"
        " (3, 'lamp', 30.00, null)"
    )
    return Table(
        schema=mysql_db,
        name="items",
        columns={
            "id": Column("id", "int(11)", nullable=False),
            "name": Column("name", "varchar(10)"),
            "price": Column("price", "decimal(8,2)"),
            "note": Column("note", "text"),
        },
    )


def _temporary_tables(conn: MySQLConnection) -> list[str]:
    """The session's temporary tables (none may outlive a question)."""
    return [str(r[0]) for r in conn.execute("show tables like '\\_ls\\_%'")]


# -- column_type / type_exists ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "spelled"),
    [
        ("int", "int(11)"),
        ("INTEGER", "int(11)"),
        ("varchar(10)", "varchar(10)"),
        ("decimal(10, 2) unsigned", "decimal(10,2) unsigned"),
        ("bool", "tinyint(1)"),
        ("enum('a','b')", "enum('a','b')"),
        ("enum('CHECK (x)','CONSTRAINT')", "enum('CHECK (x)','CONSTRAINT')"),
        ("datetime(3)", "datetime(3)"),
    ],
)
def test_column_type_is_the_servers_spelling(probe: MySQLProbe, text: str, spelled: str) -> None:
    resolved = probe.column_type(text)
    assert resolved.name == spelled
    assert not resolved.serial
    assert probe.type_exists(text) == spelled


def test_serial_is_an_auto_increment_column_not_a_type(probe: MySQLProbe) -> None:
    resolved = probe.column_type("serial")
    assert resolved.name == "bigint(20) unsigned"
    assert resolved.serial
    with pytest.raises(ValidationError, match="not a type but a new AUTO_INCREMENT column"):
        probe.type_exists("serial")


def test_unknown_type_is_refused_in_the_servers_words(probe: MySQLProbe) -> None:
    with pytest.raises(ValidationError) as info:
        probe.column_type("varchra(10)")
    assert "Unknown data type: 'varchra'" in str(info.value)  # MariaDB's own message (4161)
    assert info.value.hint == "Did you mean 'varchar'?"


@pytest.mark.parametrize(
    ("text", "extra"),
    [
        ("int not null", "NOT NULL"),
        ("int default 3", "DEFAULT"),
        ("int unique", "a key"),
        ("int check (value > 0)", "a check"),
        ("varchar(5) collate utf8mb4_bin", "COLLATE"),
        ("int comment 'x'", "COMMENT"),
        ("int as (1) virtual", "VIRTUAL GENERATED"),
    ],
)
def test_text_that_says_more_than_a_type_is_refused(
    probe: MySQLProbe, text: str, extra: str
) -> None:
    with pytest.raises(ValidationError, match="says more than the type") as info:
        probe.column_type(text)
    assert extra in str(info.value)


@pytest.mark.parametrize("text", ["int, other int", "int) select 1 as x; --"])
def test_text_that_declares_more_is_refused(probe: MySQLProbe, text: str) -> None:
    with pytest.raises(ValidationError):
        probe.column_type(text)


def test_a_question_leaves_the_session_as_it_was(probe: MySQLProbe, mconn: MySQLConnection) -> None:
    before = mconn.execute("select @@lock_wait_timeout, @@sql_mode, @@tx_isolation").fetchone()
    probe.column_type("int")
    with pytest.raises(ValidationError):
        probe.column_type("nosuch")
    after = mconn.execute("select @@lock_wait_timeout, @@sql_mode, @@tx_isolation").fetchone()
    assert after == before
    assert _temporary_tables(mconn) == []


# -- expressions --------------------------------------------------------------------------------


def test_expression_fits(probe: MySQLProbe, items: Table) -> None:
    probe.expression_fits(items, "upper(name)", None, "the up expression")
    probe.expression_fits(items, "concat(name, '!')", "varchar(20)", "up", column="label")
    probe.expression_fits(items, "price * 2", "decimal(10,2)", "up", column="doubled")


def test_expression_naming_a_missing_column_is_refused(probe: MySQLProbe, items: Table) -> None:
    with pytest.raises(ValidationError, match="Unknown column 'colour'") as info:
        probe.expression_fits(items, "upper(colour)", None, "the up expression")
    assert str(info.value).startswith("the up expression is refused by the database")


def test_expression_with_a_missing_function_is_refused(probe: MySQLProbe, items: Table) -> None:
    with pytest.raises(ValidationError, match=r"FUNCTION .*no_such_fn does not exist"):
        probe.expression_fits(items, "no_such_fn(name)", "text", "up", column="x")


def test_expression_over_a_temporary_column_speaks_the_users_name(
    probe: MySQLProbe, items: Table
) -> None:
    items.columns["name"].physical = "_ls_new_name"
    with pytest.raises(ValidationError) as info:
        probe.expression_fits(items, "_ls_new_name + missing", None, "up")
    assert "_ls_new_name" not in str(info.value)


def test_condition_fits(probe: MySQLProbe, items: Table) -> None:
    probe.condition_fits(items, "price > 0 and extra_col is null", {"extra_col": "int"}, "check")
    with pytest.raises(ValidationError, match="syntax"):
        probe.condition_fits(items, "price > ", {}, "the check")


# -- default_is_instant -------------------------------------------------------------------------


def test_constant_default_is_instant(probe: MySQLProbe, mconn: MySQLConnection) -> None:
    assert probe.default_is_instant("int", "5")
    assert probe.default_is_instant("varchar(20)", "'new'")
    assert probe.default_is_instant("datetime", "current_timestamp")
    # The scratch table is gone.
    assert not [r for r in mconn.execute("show tables") if str(r[0]).startswith("_ls_probe_")]


def test_default_the_server_refuses_is_a_validation_error(probe: MySQLProbe) -> None:
    with pytest.raises(ValidationError, match="refused by the database"):
        probe.default_is_instant("int", "no_such_fn(1)")


# -- misfits, rows, comments --------------------------------------------------------------------


def test_misfits_counts_rows_the_type_refuses(probe: MySQLProbe, items: Table) -> None:
    assert probe.misfits(items, "name", "varchar(10)", "up") == 0
    assert probe.misfits(items, "note", "varchar(5)", "up") == 1  # 'a longer note'
    assert probe.misfits(items, "price", "decimal(3,2)", "up") == 2  # 12.00, 30.00 > 9.99
    assert probe.misfits(items, "name", "int", "up") == 3  # not numbers, strict mode


def test_has_rows_and_comment(probe: MySQLProbe, items: Table, mconn: MySQLConnection) -> None:
    assert probe.has_rows(items)
    assert probe.column_comment(items, "name") == "what it is"
    assert probe.column_comment(items, "price") is None
    mconn.execute("delete from items")
    assert not probe.has_rows(items)


# -- catalog ------------------------------------------------------------------------------------


def test_catalog_questions(
    probe: MySQLProbe, items: Table, mconn: MySQLConnection, mysql_db: str
) -> None:
    mconn.execute("create view cheap as select id, name from items where price < 5")
    mconn.execute(
        "create table orders (id int primary key, item int, "
        "constraint orders_item foreign key (item) references items (id))"
    )
    assert probe.relation_kind(mysql_db, "items") == "table"
    assert probe.relation_kind(mysql_db, "cheap") == "view"
    assert probe.relation_kind(mysql_db, "nothing") is None
    assert probe.schema_exists(mysql_db)
    assert not probe.schema_exists(mysql_db + "_not")
    assert probe.views_in_schema(mysql_db) == {"cheap"}
    assert probe.views_in_schema(mysql_db + "_not") == set()
    assert probe.table_in_catalog(items)
    assert probe.constraint_exists(items, "PRIMARY")
    assert not probe.constraint_exists(items, "items_nope")
    assert probe.table_dependents(items) == [
        TableDependent("view", f"{mysql_db}.cheap"),
        TableDependent("foreign key", f"orders_item on {mysql_db}.orders"),
    ]


def test_probe_is_the_engine_neutral_probe(mconn: MySQLConnection) -> None:
    assert isinstance(probe_for(mconn, 1500), MySQLProbe)
    assert probe_for(mconn, 1500).lock_timeout_ms == 1500


def test_unanswered_questions_say_so(probe: MySQLProbe, items: Table) -> None:
    with pytest.raises(NotImplementedError, match="does not answer column_facts yet"):
        probe.column_facts(items, "name")


# -- locks --------------------------------------------------------------------------------------


@pytest.fixture
def other(mysql_url: str) -> Iterator[MySQLConnection]:
    with connect(mysql_url) as conn:
        yield conn


def test_questions_do_not_wait_behind_an_open_reader(
    probe: MySQLProbe, items: Table, other: MySQLConnection
) -> None:
    """Another session's open transaction that read the table holds a shared metadata lock (and
    row locks with FOR UPDATE): every question answers within a second."""
    other.execute("begin")
    other.execute("select * from items for update")
    started = time.monotonic()
    assert probe.has_rows(items)
    assert probe.misfits(items, "note", "varchar(5)", "up") == 1
    probe.expression_fits(items, "upper(name)", "varchar(20)", "up", column="x")
    assert probe.column_comment(items, "name") == "what it is"
    assert probe.default_is_instant("int", "1")
    assert time.monotonic() - started < 1.0
    other.execute("rollback")


def test_a_held_exclusive_lock_fails_the_question_at_once(
    probe: MySQLProbe, items: Table, other: MySQLConnection
) -> None:
    """LOCK TABLES ... WRITE in another session: the question gives up at once (lock_wait_timeout
    cut to the probe's) rather than queue."""
    other.execute("lock tables items write")
    try:
        result: list[BaseException | None] = []

        def ask() -> None:
            try:
                probe.has_rows(items)
                result.append(None)
            except BaseException as exc:  # handed to the test thread
                result.append(exc)

        started = time.monotonic()
        thread = threading.Thread(target=ask)
        thread.start()
        thread.join(5)
        assert time.monotonic() - started < 1.5
        assert isinstance(result[0], DatabaseError)
        assert "a lock on the table is held by another session" in str(result[0])
    finally:
        other.execute("unlock tables")


# -- more questions -----------------------------------------------------------------------------


def test_rows_where_and_nulls(probe: MySQLProbe, items: Table) -> None:
    assert probe.has_rows_where(items, '"price" > 20')
    assert not probe.has_rows_where(items, "price > 100")
    assert probe.holds_nulls(items, ["note"], "the new NOT NULL")
    assert not probe.holds_nulls(items, ["name", "price"], "the new NOT NULL")
    with pytest.raises(ValidationError, match="Unknown column 'colour'"):
        probe.holds_nulls(items, ["colour"], "the new NOT NULL")


def test_foreign_keys_relying_on_a_key(
    probe: MySQLProbe, items: Table, mconn: MySQLConnection, mysql_db: str
) -> None:
    mconn.execute("alter table items add unique key items_name (name)")
    mconn.execute(
        "create table orders (id int primary key, item int, item_name varchar(10), "
        "constraint orders_item foreign key (item) references items (id), "
        "constraint orders_name foreign key (item_name) references items (name))"
    )
    assert probe.foreign_keys_relying_on(items, "PRIMARY") == [
        RelyingForeignKey("orders_item", "orders")
    ]
    assert probe.foreign_keys_relying_on(items, "items_name") == [
        RelyingForeignKey("orders_name", "orders")
    ]


def test_identity_fits(probe: MySQLProbe) -> None:
    probe.identity_fits("bigint", "the identity")
    with pytest.raises(ValidationError, match="the identity is refused by the database"):
        probe.identity_fits("varchar(10)", "the identity")


def test_value_fits(probe: MySQLProbe) -> None:
    probe.value_fits({"a": "int", "b": "text"}, "a + length(b)", "bigint", ("t", "c"), "up")
    with pytest.raises(ValidationError, match="Unknown column 'z'"):
        probe.value_fits({"a": "int"}, "a + z", "bigint", ("t", "c"), "up")


def test_misfits_is_strict_even_in_a_lax_session(
    probe: MySQLProbe, items: Table, mconn: MySQLConnection
) -> None:
    """A session without strict mode would truncate silently; the probe counts as strict mode
    refuses, then gives the session its mode back."""
    mconn.execute("set session sql_mode = ''")
    assert probe.misfits(items, "note", "varchar(5)", "up") == 1
    assert mconn.execute("select @@session.sql_mode").fetchone() == ("",)
