"""Server flavour and version, and each fact server.py states, checked on the real MariaDB where it
can be (the MySQL branches are from the manual: no MySQL server here)."""

from __future__ import annotations

import pytest

from liveshift.engines import base
from liveshift.engines.mysql import server
from liveshift.engines.mysql.connection import MySQLConnection


def test_flavour_and_version_from_the_version_text() -> None:
    maria = server.parse_version("10.11.19-MariaDB-0+deb12u1", "Debian 12")
    assert (maria.flavour, maria.version, maria.number) == ("mariadb", (10, 11, 19), 101119)
    assert server.parse_version("5.5.5-10.3.39-MariaDB").version == (10, 3, 39)
    mysql = server.parse_version("8.0.36", "MySQL Community Server - GPL")
    assert (mysql.flavour, mysql.number) == ("mysql", 80036)
    # The facts by version, on both flavours.
    assert server.instant_add_column(mysql, at_end=False)
    assert not server.instant_add_column(server.parse_version("8.0.28"), at_end=False)
    assert server.instant_add_column(server.parse_version("8.0.28"), at_end=True)
    assert not server.instant_add_column(server.parse_version("10.3.1-MariaDB"), at_end=True)
    assert not server.instant_add_column(server.parse_version("10.3.9-MariaDB"), at_end=False)
    assert not server.alter_wait_clause(mysql) and server.alter_wait_clause(maria)
    assert server.min_lock_wait_timeout_s(mysql) == 1
    assert not server.check_constraints_enforced(server.parse_version("8.0.15"))
    assert server.statement_timeout_variable(mysql) == ("max_execution_time", 0.001)
    with pytest.raises(ValueError):
        server.parse_version("unknown")


def test_the_server_at_hand(mconn: MySQLConnection) -> None:
    info = server.server_info(mconn)
    assert info.mariadb, "these tests verify MariaDB facts; point LIVESHIFT_TEST_MYSQL_URL at one"
    assert info.version >= (10, 4)
    assert info.describe().startswith("MariaDB 10.")


def test_mariadb_facts_hold(mconn: MySQLConnection) -> None:
    info = server.server_info(mconn)
    mconn.execute("create table t (id int primary key, a int, b int)")
    mconn.execute("insert into t values (1, 1, 1)")
    assert server.instant_add_column(info, at_end=False)
    mconn.execute("alter table t add column c int after id, algorithm=instant")
    mconn.execute("alter table t add column d int first, algorithm=instant")
    assert server.instant_drop_column(info)
    mconn.execute("alter table t drop column a, algorithm=instant")
    assert server.instant_rename_column(info)
    mconn.execute("alter table t rename column b to bb, algorithm=instant")
    assert server.alter_wait_clause(info) and server.select_nowait(info)
    mconn.execute("alter table t wait 0 add column e int, algorithm=instant")
    mconn.execute("select * from t where id = 1 for update nowait").fetchall()
    assert server.min_lock_wait_timeout_s(info) == 0
    mconn.execute("set lock_wait_timeout = 0")
    with pytest.raises(base.DriverError, match=r"\(1232\)"):  # whole seconds only
        mconn.execute("set lock_wait_timeout = 0.5")
    assert server.set_statement(info)
    variable, unit = server.statement_timeout_variable(info)
    mconn.execute(f"set statement {variable} = {0.5 / unit} for select 1")
    assert server.check_constraints_enforced(info)
    mconn.execute("alter table t add constraint positive check (bb > 0)")
    with pytest.raises(base.DriverError, match=r"\(4025\)"):  # ER_CONSTRAINT_FAILED
        mconn.execute("insert into t (id, bb) values (2, -1)")


def test_metadata_lock_source_matches_the_server(mconn: MySQLConnection) -> None:
    source = server.metadata_lock_source(mconn)
    schema_on = mconn.execute("select @@performance_schema").fetchone()[0]
    plugin = mconn.execute(
        "select count(*) from information_schema.PLUGINS where PLUGIN_NAME = 'METADATA_LOCK_INFO'"
        " and PLUGIN_STATUS = 'ACTIVE'"
    ).fetchone()[0]
    if schema_on:
        assert source in ("performance_schema", "metadata_lock_info", None)
    else:
        assert source == ("metadata_lock_info" if plugin else None)
