"""MySQL/MariaDB's rendering of actions, run on the real server: each statement does what its
action says (checked in information_schema), instant ones are instant (ALGORITHM=INSTANT fails
otherwise), writes through a version view reach the table, sync triggers fill the new column for
an old client; what InnoDB cannot do online is refused with the action's name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from liveshift.engines import base
from liveshift.engines.mysql.connection import MySQLConnection, connect
from liveshift.engines.mysql.render import render, split_statements
from liveshift.engines.mysql.render.sql import expression, split_qualified, table
from liveshift.engines.mysql.render.triggers import UPDATE_SUFFIX, sync_trigger
from liveshift.errors import ValidationError
from liveshift.operations.actions import Action, Sql
from liveshift.operations.actions.columns import (
    AddColumnClause,
    AddIdentity,
    AddUniqueUsingIndex,
    AlterColumnType,
    AlterTable,
    AlterTypeClause,
    CommentOnColumn,
    DropColumn,
    DropDefault,
    LockTables,
    NotNullCheckClause,
    RenameColumn,
    RenameIndexColumns,
    SetDefault,
    SetNotNull,
)
from liveshift.operations.actions.constraints import (
    AddCheck,
    AddConstraintUsingIndex,
    AddExclusion,
    AddForeignKey,
    CreateIndex,
    DropConstraint,
    DropIndex,
    ExclusionElement,
    IndexKey,
    RenameConstraintIfPresent,
    RenameIndex,
    ValidateConstraint,
)
from liveshift.operations.actions.schemas import CreateSchema, DropSchema
from liveshift.operations.actions.tables import (
    Check,
    ColumnDefinition,
    CommentOnTable,
    CreateTable,
    DropTable,
    ForeignKey,
    Nothing,
    PrimaryKey,
    RenameTable,
    SetReplicaIdentity,
    Unique,
)
from liveshift.operations.actions.triggers import (
    CreateChangeLog,
    CreateSyncFunction,
    CreateTwoWaySyncFunction,
    DropChangeLog,
    DropTrigger,
    SyncInsertTrigger,
    SyncUpdateTrigger,
    VersionSyncTrigger,
)
from liveshift.operations.actions.views import CreateVersionView, DropView, SaveViewGrants
from liveshift.schema import quote_ident
from tests.mysql.conftest import with_database


def run(conn: MySQLConnection, text: str) -> None:
    for statement in split_statements(text):
        conn.execute(statement)


def apply(conn: MySQLConnection, *actions: Action) -> None:
    for action in actions:
        run(conn, render(action))


def q(db: str, name: str) -> str:
    """The qualified name as the operations build it (Table.qualified: PostgreSQL quoting)."""
    return f"{quote_ident(db)}.{quote_ident(name)}"


def rows(conn: MySQLConnection, query: str, *params: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(query, params or None).fetchall()]


def columns(conn: MySQLConnection, db: str, name: str) -> dict[str, tuple[Any, ...]]:
    return {
        r[0]: r[1:]
        for r in rows(
            conn,
            "select column_name, column_type, is_nullable, column_default "
            "from information_schema.columns where table_schema = %s and table_name = %s",
            db,
            name,
        )
    }


def indexes(conn: MySQLConnection, db: str, name: str) -> dict[str, tuple[int, str]]:
    found: dict[str, tuple[int, str]] = {}
    for index, non_unique, column in rows(
        conn,
        "select index_name, non_unique, group_concat(column_name order by seq_in_index) "
        "from information_schema.statistics where table_schema = %s and table_name = %s "
        "group by index_name, non_unique",
        db,
        name,
    ):
        found[index] = (int(non_unique), column)
    return found


@pytest.fixture
def items(mconn: MySQLConnection, mysql_db: str) -> str:
    """`items` (id, a, note) with three rows; its qualified name as an action carries it."""
    mconn.execute("create table items (id int primary key, a int, note varchar(20)) engine=InnoDB")
    mconn.execute("insert into items values (1, 10, 'x'), (2, 20, 'y'), (3, null, 'z')")
    return q(mysql_db, "items")


@pytest.fixture
def version_db(mysql_admin_url: str, mysql_db: str, mconn: MySQLConnection) -> Iterator[str]:
    name = f"{mysql_db}_v2"
    try:
        yield name
    finally:
        mconn.execute(f"drop database if exists `{name}`")


# -- names ---------------------------------------------------------------------------------------


def test_qualified_names_become_database_dot_table() -> None:
    assert split_qualified('"My ""db"".x".t') == ('My "db".x', "t")
    assert split_qualified("app.items") == ("app", "items")
    assert table('"Odd`name".items') == "`Odd``name`.`items`"
    assert expression('"Total" + a * 2', qualifier="new") == "new.`Total` + new.`a` * 2"
    assert expression("lower(note) || 'a''b'") == "lower(`note`) || 'a''b'"
    with pytest.raises(ValidationError, match="cast"):
        expression("a::text")


def test_split_statements_keeps_quoted_semicolons() -> None:
    assert split_statements("select 'a;b';\ndo 0;\nselect `x;y`") == [
        "select 'a;b'",
        "do 0",
        "select `x;y`",
    ]


# -- columns -------------------------------------------------------------------------------------


def test_add_columns_instantly(mconn: MySQLConnection, mysql_db: str, items: str) -> None:
    action = AlterTable(
        table=items,
        clauses=(
            AddColumnClause(column="b", type="int", default="0"),
            AddColumnClause(column="Label", type="varchar(30)", default="'it''s'"),
            AddColumnClause(column="c", type="bigint"),
            AddColumnClause(column="at", type="timestamp", default="current_timestamp"),
        ),
    )
    text = render(action)
    assert text.endswith("algorithm=instant")
    run(mconn, text)  # ALGORITHM=INSTANT: the server would refuse a copy
    found = columns(mconn, mysql_db, "items")
    assert found["b"][:2] == ("int(11)", "YES") and found["b"][2] == "0"
    assert found["Label"][2] == "'it''s'"
    assert found["c"][2] in (None, "NULL")
    assert rows(mconn, "select b, `Label` from items where id = 1") == [(0, "it's")]


def test_volatile_default_refused() -> None:
    with pytest.raises(ValidationError, match="volatile"):
        render(
            AlterTable(
                table="app.t",
                clauses=(AddColumnClause(column="u", type="char(36)", default="uuid()"),),
            )
        )


def test_default_rename_and_drop_column_instantly(
    mconn: MySQLConnection, mysql_db: str, items: str
) -> None:
    apply(mconn, SetDefault(table=items, column="a", default="5"))
    assert columns(mconn, mysql_db, "items")["a"][2] == "5"
    apply(mconn, DropDefault(table=items, column="a"))
    assert columns(mconn, mysql_db, "items")["a"][2] in (None, "NULL")
    apply(mconn, RenameColumn(table=items, old="note", new="memo"))
    assert "memo" in columns(mconn, mysql_db, "items")
    apply(mconn, RenameIndexColumns(table=items, old="note", new="memo"))
    apply(mconn, DropColumn(table=items, column="memo"), DropColumn(table=items, column="memo"))
    assert set(columns(mconn, mysql_db, "items")) == {"id", "a"}


# -- indexes and constraints ---------------------------------------------------------------------


def test_indexes_online(mconn: MySQLConnection, mysql_db: str, items: str) -> None:
    unique = CreateIndex(table=items, name="items_a_key", keys=(IndexKey(column="a"),), unique=True)
    plain = CreateIndex(
        table=items,
        name="items_note",
        keys=(IndexKey(column="note", order="desc"),),
        concurrently=False,
    )
    assert render(unique).endswith("algorithm=inplace, lock=none")
    apply(mconn, unique, plain)
    assert indexes(mconn, mysql_db, "items")["items_a_key"] == (0, "a")
    assert indexes(mconn, mysql_db, "items")["items_note"] == (1, "note")
    apply(mconn, AddUniqueUsingIndex(table=items, name="items_a_uq", index="items_a_key"))
    apply(mconn, AddConstraintUsingIndex(table=items, name="items_a_uq", index="items_a_uq"))
    assert "items_a_uq" in indexes(mconn, mysql_db, "items")
    apply(mconn, RenameIndex(schema=mysql_db, old="items_note", new="items_memo"))
    apply(mconn, RenameConstraintIfPresent(table=items, old="absent", new="other"))
    apply(mconn, RenameConstraintIfPresent(table=items, old="items_a_uq", new="items_a_key"))
    assert set(indexes(mconn, mysql_db, "items")) == {"PRIMARY", "items_a_key", "items_memo"}
    apply(
        mconn,
        DropIndex(schema=mysql_db, name="items_memo"),
        DropIndex(schema=mysql_db, name="items_memo"),
    )
    apply(mconn, DropConstraint(table=items, name="items_a_key", if_exists=True))
    assert set(indexes(mconn, mysql_db, "items")) == {"PRIMARY"}


def test_drop_index_on_two_tables_is_an_error(
    mconn: MySQLConnection, mysql_db: str, items: str
) -> None:
    mconn.execute("create table other (id int primary key, a int, key dup (a))")
    mconn.execute("alter table items add key dup (a)")
    with pytest.raises(base.DriverError, match="several tables"):
        apply(mconn, DropIndex(schema=mysql_db, name="dup"))
    assert "dup" in indexes(mconn, mysql_db, "items")


def test_create_table_with_constraints_then_drop_constraints(
    mconn: MySQLConnection, mysql_db: str, items: str
) -> None:
    orders = q(mysql_db, "orders")
    apply(
        mconn,
        CreateTable(
            table=orders,
            columns=(
                ColumnDefinition(name="id", type="bigint", identity="by_default"),
                ColumnDefinition(name="item_id", type="int", not_null=True),
                ColumnDefinition(name="qty", type="int", default="1", not_null=True),
                ColumnDefinition(name="code", type="varchar(10)"),
            ),
            constraints=(
                PrimaryKey(name="orders_pkey", columns=("id",)),
                Unique(name="orders_code_key", columns=("code",)),
                Check(name="orders_qty_check", expression="qty > 0"),
                ForeignKey(
                    name="orders_item_fk",
                    columns=("item_id",),
                    target=items,
                    target_columns=("id",),
                    on_delete="cascade",
                    on_update="no_action",
                ),
            ),
        ),
    )
    mconn.execute("insert into orders (item_id) values (1)")
    assert rows(mconn, "select id, qty from orders") == [(1, 1)]
    with pytest.raises(base.DriverError, match="orders_qty_check"):
        mconn.execute("insert into orders (item_id, qty) values (1, 0)")
    kinds = dict(
        rows(
            mconn,
            "select constraint_name, constraint_type from information_schema.table_constraints "
            "where table_schema = %s and table_name = 'orders'",
            mysql_db,
        )
    )
    assert kinds == {
        "PRIMARY": "PRIMARY KEY",
        "orders_code_key": "UNIQUE",
        "orders_qty_check": "CHECK",
        "orders_item_fk": "FOREIGN KEY",
    }
    for name in ("orders_qty_check", "orders_item_fk", "orders_code_key"):
        apply(mconn, DropConstraint(table=orders, name=name))
    apply(
        mconn,
        DropConstraint(table=q(mysql_db, "gone"), name="x", if_exists=True, table_if_exists=True),
    )
    assert rows(
        mconn,
        "select count(*) from information_schema.table_constraints "
        "where table_schema = %s and table_name = 'orders'",
        mysql_db,
    ) == [(1,)]


def test_tables_rename_comment_drop(mconn: MySQLConnection, mysql_db: str, items: str) -> None:
    apply(mconn, CommentOnTable(table=items, comment="it's \\ here"))
    assert rows(
        mconn,
        "select table_comment from information_schema.tables where table_schema = %s "
        "and table_name = 'items'",
        mysql_db,
    ) == [("it's \\ here",)]
    apply(mconn, RenameTable(table=items, to="things"), RenameTable(table=items, to="things"))
    things = q(mysql_db, "things")
    assert rows(mconn, "select count(*) from things") == [(3,)]
    apply(mconn, Nothing(), DropTable(table=things, cascade=True), DropTable(table=things))
    assert rows(
        mconn, "select count(*) from information_schema.tables where table_schema = %s", mysql_db
    ) == [(0,)]


# -- version views -------------------------------------------------------------------------------


def test_writes_through_a_version_view_reach_the_table(
    mconn: MySQLConnection, mysql_admin_url: str, mysql_db: str, items: str, version_db: str
) -> None:
    view = CreateVersionView(
        schema=version_db,
        name="items",
        table=items,
        columns=(("id", "id"), ("a", "amount"), ("note", "note")),
        security_invoker=True,
    )
    apply(mconn, CreateSchema(name=version_db), CreateSchema(name=version_db), view)
    apply(mconn, SaveViewGrants(schema=version_db, name="items", slot=0), view)
    assert rows(
        mconn,
        "select security_type, is_updatable from information_schema.views "
        "where table_schema = %s and table_name = 'items'",
        version_db,
    ) == [("INVOKER", "YES")]
    with connect(with_database(mysql_admin_url, version_db)) as client:
        client.execute("insert into items (id, amount, note) values (4, 40, 'w')")
        client.execute("update items set amount = amount + 1 where id = 1")
        client.execute("delete from items where id = 2")
    assert rows(mconn, "select id, a from items order by id") == [(1, 11), (3, None), (4, 40)]
    apply(mconn, DropView(schema=version_db, name="items"), DropSchema(name=version_db))
    assert rows(
        mconn, "select count(*) from information_schema.schemata where schema_name = %s", version_db
    ) == [(0,)]


# -- sync triggers -------------------------------------------------------------------------------


def test_sync_triggers_fill_the_column_for_an_old_client(
    mconn: MySQLConnection, mysql_admin_url: str, mysql_db: str, items: str, version_db: str
) -> None:
    # The table has its own BEFORE INSERT trigger: liveshift's follows it.
    mconn.execute(
        "create trigger items_own before insert on items for each row set new.note = upper(new.note)"
    )
    apply(mconn, AlterTable(table=items, clauses=(AddColumnClause(column="b", type="int"),)))
    function = CreateSyncFunction(
        function=q(mysql_db, "items_b_sync"),
        version_schema=version_db,
        target="b",
        expression="a * 2",
        fill_nulls_from_new_version=True,
    )
    insert = SyncInsertTrigger(table=items, name="items_b_ins", function=function.function)
    update = SyncUpdateTrigger(
        table=items, name="items_b_upd", function=function.function, target="b"
    )
    apply(mconn, function)
    run(mconn, sync_trigger(insert, function, follows="items_own"))
    run(mconn, sync_trigger(update, function))
    run(mconn, sync_trigger(update, function))  # replayed: replaced, not duplicated
    assert rows(
        mconn,
        "select trigger_name, action_order from information_schema.triggers "
        "where trigger_schema = %s and event_manipulation = 'INSERT' order by action_order",
        mysql_db,
    ) == [("items_own", 1), ("items_b_ins", 2)]
    apply(
        mconn,
        CreateSchema(name=version_db),
        CreateVersionView(
            schema=version_db,
            name="items",
            table=items,
            columns=(("id", "id"), ("a", "a"), ("note", "note"), ("b", "b")),
            security_invoker=True,
        ),
    )
    # The old client: inserts and updates without b; the trigger computes it.
    mconn.execute("insert into items (id, a, note) values (5, 7, 'n')")
    mconn.execute("update items set a = 100 where id = 1")
    assert rows(mconn, "select b, note from items where id = 5") == [(14, "N")]
    assert rows(mconn, "select b from items where id = 1") == [(200,)]
    # The backfill's own writes are left alone.
    mconn.execute("set @liveshift_backfill = 1")
    mconn.execute("update items set b = -1 where id = 2")
    mconn.execute("update items set a = 21 where id = 2")
    assert rows(mconn, "select b from items where id = 2") == [(-1,)]
    mconn.execute("set @liveshift_backfill = null")
    # The new client (through the version database) writes b itself.
    with connect(with_database(mysql_admin_url, version_db)) as client:
        client.execute("set @liveshift_version = %s", (version_db,))
        client.execute("insert into items (id, a, note, b) values (6, 1, 'm', 99)")
        assert rows(client, "select b from items where id = 6") == [(99,)]
        client.execute("update items set b = 98 where id = 6")
        client.execute("update items set note = 'q' where id = 3")  # not backfilled: b null
    assert rows(mconn, "select b from items where id = 6") == [(98,)]
    assert rows(mconn, "select b from items where id = 3") == [(None,)]  # a is null: a*2 null
    apply(
        mconn,
        DropTrigger(table=items, name="items_b_ins"),
        DropTrigger(table=items, name="items_b_upd"),
    )
    assert rows(
        mconn,
        "select count(*) from information_schema.triggers where trigger_schema = %s",
        mysql_db,
    ) == [(1,)]


def test_two_way_sync(
    mconn: MySQLConnection, mysql_admin_url: str, mysql_db: str, items: str, version_db: str
) -> None:
    apply(mconn, AlterTable(table=items, clauses=(AddColumnClause(column="a2", type="bigint"),)))
    function = CreateTwoWaySyncFunction(
        function=q(mysql_db, "items_a_two_way"),
        version_schema=version_db,
        old="a",
        new="a2",
        up="a * 10",
        down="floor(a2 / 10)",
        fill_new_on_insert=True,
    )
    trigger = VersionSyncTrigger(
        table=items, name="items_a_sync", function=function.function, update=True
    )
    run(mconn, sync_trigger(trigger, function))
    apply(mconn, CreateSchema(name=version_db))
    mconn.execute("insert into items (id, a) values (7, 3)")  # old client
    assert rows(mconn, "select a, a2 from items where id = 7") == [(3, 30)]
    with connect(with_database(mysql_admin_url, version_db)) as client:
        client.execute("set @liveshift_version = %s", (version_db,))
        client.execute(f"insert into `{mysql_db}`.items (id, a2) values (8, 50)")
        client.execute(f"update `{mysql_db}`.items set a2 = 70 where id = 7")
    assert rows(mconn, "select id, a, a2 from items where id in (7, 8) order by id") == [
        (7, 7, 70),
        (8, 5, 50),
    ]
    assert (mysql_db, "items_a_sync" + UPDATE_SUFFIX) in set(
        rows(mconn, "select trigger_schema, trigger_name from information_schema.triggers")
    )


def test_change_log_records_old_clients_updates(
    mconn: MySQLConnection, mysql_db: str, items: str
) -> None:
    log = q(mysql_db, "_ls_log_items")
    apply(mconn, AlterTable(table=items, clauses=(AddColumnClause(column="b", type="int"),)))
    action = CreateChangeLog(
        table=items,
        log=log,
        function=q(mysql_db, "unused"),
        trigger="items_log",
        target="b",
        key=("id",),
    )
    apply(mconn, action, action)  # replayed: the log is made again
    mconn.execute("update items set a = a + 1 where id in (1, 2)")
    mconn.execute("update items set a = a + 1 where id = 1")
    mconn.execute("update items set b = 5 where id = 3")  # sets the target: not logged
    assert rows(mconn, "select id from _ls_log_items order by id") == [(1,), (2,)]
    apply(
        mconn,
        DropTrigger(table=items, name="items_log"),
        DropChangeLog(log=log, function=action.function),
    )
    assert rows(
        mconn, "select count(*) from information_schema.tables where table_name = '_ls_log_items'"
    ) == [(0,)]


# -- refused -------------------------------------------------------------------------------------

T = '"app".t'
REFUSED: list[Action] = [
    Sql(text="select 1"),
    AlterTable(table=T, clauses=(AlterTypeClause(column="a", type="bigint"),)),
    AlterTable(table=T, clauses=(NotNullCheckClause(name="nn", column="a"),)),
    SetNotNull(table=T, column="a"),
    AlterColumnType(table=T, column="a", type="bigint"),
    CommentOnColumn(table=T, column="a", comment="c"),
    AddIdentity(table=T, column="a", generation="always"),
    LockTables(tables=(T,)),
    ValidateConstraint(table=T, name="c"),
    AddCheck(table=T, name="c", condition="a > 0"),
    AddForeignKey(
        table=T,
        name="f",
        columns=("a",),
        target=T,
        target_columns=("id",),
        on_delete="cascade",
        on_update="no action",
    ),
    AddExclusion(
        table=T, name="x", using="gist", elements=(ExclusionElement(column="a", operator="="),)
    ),
    AddConstraintUsingIndex(table=T, name="pk", index="i", primary=True),
    CreateIndex(table=T, name="i", keys=(IndexKey(column="a"),), where="a > 0"),
    CreateIndex(table=T, name="i", keys=(IndexKey(expression="lower(a)"),)),
    CreateIndex(table=T, name="i", keys=(IndexKey(column="a"),), method="gin"),
    SetReplicaIdentity(table=T, identity="full"),
    SyncInsertTrigger(table=T, name="tr", function='"app".f'),
]


@pytest.mark.parametrize("action", REFUSED, ids=lambda a: type(a).__name__)
def test_refused_with_the_action_named(action: Action) -> None:
    with pytest.raises(ValidationError) as raised:
        render(action)
    error = raised.value
    assert type(action).__name__ in str(error) or "expression" in str(error)
    assert getattr(error, "hint", None)


def test_every_action_type_has_its_own_renderer() -> None:
    """No action falls to the catch-all: each renders, or refuses with its own reason."""
    import importlib
    import pkgutil

    import liveshift.operations.actions as package
    from liveshift.engines.mysql.render.columns import clause
    from liveshift.operations.actions.columns import Clause

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")

    def leaves(cls: type) -> set[type]:
        found: set[type] = set()
        for sub in cls.__subclasses__():
            found |= leaves(sub) or {sub}
        return found

    assert {a for a in leaves(Action) if a not in render.registry} == set()
    assert {c for c in leaves(Clause) if c not in clause.registry} == set()


def test_a_change_that_would_copy_fails_instead(mconn: MySQLConnection, items: str) -> None:
    # ALGORITHM=INSTANT is the guarantee: a default computed from another column is not
    # instant, and the server refuses rather than copy the table.
    action = AlterTable(
        table=items, clauses=(AddColumnClause(column="d", type="int", default="a + 1"),)
    )
    with pytest.raises(base.DriverError, match="INSTANT"):
        apply(mconn, action)
