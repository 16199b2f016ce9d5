"""MySQL/MariaDB introspection compared with what the server itself says (SHOW CREATE TABLE,
information_schema), and checked not to wait behind a queued ALTER."""

from __future__ import annotations

import threading
import time

from liveshift.engines import base
from liveshift.engines.mysql.connection import MySQLConnection, connect
from liveshift.engines.mysql.introspect import introspect, quote_name
from liveshift.engines.mysql.server import server_info

_PARENT = "create table parent (id int primary key, code varchar(20), unique key uk_code (code))"
_TABLE = """
create table wide (
  id bigint unsigned not null auto_increment,
  name varchar(10) not null default 'it''s',
  n int default null,
  plain int,
  s varchar(5) default 'NULL',
  e enum('a','b') not null default 'a',
  amount decimal(10,2) default 1.50,
  ts timestamp not null default current_timestamp on update current_timestamp,
  r double default (rand() * 2),
  doubled int as (n * 2) virtual,
  stored_name varchar(20) as (concat(name, 'x')) stored,
  parent_id int,
  parent_code varchar(20),
  body text,
  small int check (small < 5),
  primary key (id),
  unique key u_name_s (name, s),
  key k_body (body(10), n desc),
  constraint fk_parent foreign key (parent_id) references parent (id) on delete cascade,
  constraint fk_code foreign key (parent_code) references parent (code) on update set null,
  constraint ck_n check (n > 0)
)
"""


def _create(conn: MySQLConnection) -> None:
    conn.execute(_PARENT)
    conn.execute(_TABLE)
    conn.execute("create trigger wide_bu before update on wide for each row set new.n = new.n")
    conn.execute("create trigger wide_ai after insert on wide for each row set @x = 1")
    conn.execute(
        "create trigger wide_bu2 before update on wide for each row follows wide_bu set @y = 1"
    )
    conn.execute("create view wide_v as select id, name from wide")


def _show_create(conn: MySQLConnection, table: str) -> list[str]:
    text = conn.execute(f"show create table {quote_name(table)}").fetchone()[1]
    return [line.strip().rstrip(",") for line in text.splitlines()]


def test_columns_as_the_server_shows_them(mconn: MySQLConnection, mysql_db: str) -> None:
    _create(mconn)
    model = introspect(mconn, mysql_db)
    assert model.server_version == server_info(mconn).number
    assert set(model.tables) == {"parent", "wide"}  # the view is not a table
    wide = model.tables["wide"]
    lines = _show_create(mconn, "wide")
    types = dict(
        mconn.execute(
            "select COLUMN_NAME, COLUMN_TYPE from information_schema.COLUMNS"
            " where TABLE_SCHEMA = %s and TABLE_NAME = 'wide'",
            [mysql_db],
        ).fetchall()
    )
    assert list(wide.columns) == list(types)  # in the table's order
    for name, column in wide.columns.items():
        assert column.type == types[name]
        line = next(x for x in lines if x.startswith(quote_name(name) + " "))
        assert line.startswith(f"{quote_name(name)} {column.type}")
        assert column.nullable == ("NOT NULL" not in line)
        if column.default is not None:
            assert f"DEFAULT {column.default}" in line
        elif not column.generated and "NOT NULL" not in line:
            assert "DEFAULT NULL" in line
    defaults = {name: c.default for name, c in wide.columns.items()}
    assert defaults["name"] == "'it''s'"
    assert defaults["n"] is None and defaults["plain"] is None and defaults["id"] is None
    assert defaults["s"] == "'NULL'"  # the string, not SQL NULL
    assert defaults["amount"] == "1.50"
    assert defaults["ts"] == "current_timestamp()"
    assert defaults["r"] == "(rand() * 2)"  # an expression default, as SHOW CREATE writes it
    assert defaults["e"] == "'a'"
    assert [n for n, c in wide.columns.items() if c.generated] == ["doubled", "stored_name"]
    assert [n for n, c in wide.columns.items() if c.identity] == ["id"]
    assert wide.columns["id"].type == "bigint(20) unsigned"  # MySQL 8.0.19+: bigint unsigned
    assert wide.columns["e"].type == "enum('a','b')"
    assert wide.columns["amount"].type == "decimal(10,2)"


def test_indexes_constraints_and_triggers(mconn: MySQLConnection, mysql_db: str) -> None:
    _create(mconn)
    wide = introspect(mconn, mysql_db).tables["wide"]
    lines = _show_create(mconn, "wide")
    for index in wide.indexes.values():
        assert index.definition in lines
    assert set(wide.indexes) == {"PRIMARY", "u_name_s", "k_body", "fk_parent", "fk_code"}
    assert wide.indexes["k_body"].definition == "KEY `k_body` (`body`(10),`n` DESC)"
    assert wide.indexes["k_body"].columns == ["body", "n"]
    assert wide.indexes["u_name_s"].unique and not wide.indexes["u_name_s"].primary
    assert wide.primary_key() == ["id"]
    assert wide.backfill_key() == ("id",)
    kinds = {name: c.kind for name, c in wide.constraints.items()}
    assert kinds == {
        "PRIMARY": "p",
        "u_name_s": "u",
        "fk_parent": "f",
        "fk_code": "f",
        "ck_n": "c",
        "small": "c",
    }
    for name in ("fk_parent", "fk_code", "ck_n"):
        assert f"CONSTRAINT {quote_name(name)} {wide.constraints[name].definition}" in lines
    small = next(x for x in lines if x.startswith("`small` "))
    assert small.endswith(wide.constraints["small"].definition)
    assert wide.constraints["small"].columns == ["small"]
    assert wide.constraints["fk_parent"].referenced_table == "parent"
    assert wide.constraints["fk_code"].columns == ["parent_code"]
    assert [(t.name, t.timing, t.on_update) for t in wide.triggers] == [
        ("wide_ai", "after", False),
        ("wide_bu", "before", True),
        ("wide_bu2", "before", True),
    ]
    assert all(t.row_level and t.enabled == "O" for t in wide.triggers)
    assert wide.triggers[1].fires_when_setting("n")


def test_estimates_and_sizes(mconn: MySQLConnection, mysql_db: str) -> None:
    _create(mconn)
    mconn.execute(
        "insert into wide (name, n, s, body) select concat('n', seq), seq, 'x', repeat('b', 200)"
        " from seq_1_to_2000"
    )
    mconn.execute("analyze table wide").fetchall()
    wide = introspect(mconn, mysql_db).tables["wide"]
    assert 1000 <= wide.estimated_rows <= 4000  # an InnoDB estimate, not a count
    assert wide.heap_bytes >= 2000 * 200
    assert wide.index_bytes > 0


def test_introspection_does_not_queue_behind_a_waiting_alter(mysql_url: str, mysql_db: str) -> None:
    """A transaction holds the table's metadata lock; an ALTER waits for it (and would make every
    ordinary query on the table wait behind it); introspection still answers at once."""
    with connect(mysql_url) as holder, connect(mysql_url) as ddl, connect(mysql_url) as reader:
        _create(holder)
        ddl.execute("set lock_wait_timeout = 5")
        failures: list[BaseException] = []

        def alter() -> None:
            try:
                ddl.execute("alter table wide add column late int")
            except base.DriverError as exc:
                failures.append(exc)

        with holder.transaction(force_rollback=True):
            holder.execute("select count(*) from wide").fetchall()
            thread = threading.Thread(target=alter)
            thread.start()
            time.sleep(0.5)
            waiting = reader.execute(
                "select count(*) from information_schema.PROCESSLIST"
                " where ID = %s and STATE like '%%metadata lock%%'",
                [ddl.backend_id],
            ).fetchone()[0]
            assert waiting == 1  # the ALTER is queued
            started = time.monotonic()
            model = introspect(reader, mysql_db)
            elapsed = time.monotonic() - started
        thread.join(10)
        assert elapsed < 1.0, f"introspection waited {elapsed:.2f} s behind the ALTER"
        assert "late" not in model.tables["wide"].columns
        assert not failures
        assert "late" in introspect(reader, mysql_db).tables["wide"].columns


def test_mysql_defaults_are_normalised_to_the_mariadb_form() -> None:
    """MySQL 8's COLUMN_DEFAULT forms (from its manual: no MySQL server here) read as MariaDB's."""
    from liveshift.engines.mysql.introspect import normalise_default
    from liveshift.engines.mysql.server import parse_version

    mysql = parse_version("8.0.36")
    assert normalise_default(mysql, None, "int", "") is None
    assert normalise_default(mysql, "it's", "varchar", "") == "'it''s'"
    assert normalise_default(mysql, "NULL", "varchar", "") == "'NULL'"
    assert normalise_default(mysql, "1.50", "decimal", "") == "1.50"
    assert normalise_default(mysql, "b'101'", "bit", "") == "b'101'"
    assert normalise_default(mysql, "CURRENT_TIMESTAMP", "timestamp", "DEFAULT_GENERATED") == (
        "current_timestamp()"
    )
    assert normalise_default(mysql, "CURRENT_TIMESTAMP(6)", "datetime", "DEFAULT_GENERATED") == (
        "current_timestamp(6)"
    )
    assert normalise_default(mysql, "rand()", "double", "DEFAULT_GENERATED") == "rand()"
    mariadb = parse_version("10.11.19-MariaDB")
    assert normalise_default(mariadb, "NULL", "int", "") is None
    assert normalise_default(mariadb, "'NULL'", "varchar", "") == "'NULL'"
