"""MySQL/MariaDB's answers to the planner's questions (engines/probe.py): the server decides each,
on temporary tables and rolled-back reads, under a short lock_wait_timeout."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from liveshift.engines.base import Connection, DriverError, LockNotAvailable
from liveshift.engines.mysql.render.sql import expression as mysql_expression
from liveshift.engines.mysql.render.sql import literal, quote
from liveshift.engines.mysql.server import ServerInfo, min_lock_wait_timeout_s, server_info
from liveshift.engines.probe import ColumnType
from liveshift.engines.probe_constraints import RelyingForeignKey
from liveshift.engines.probe_objects import (
    ColumnFacts,
    Dependent,
    IndexShape,
    ReplicaIdentityFacts,
    TableDependent,
)
from liveshift.engines.state import STATE_SCHEMA
from liveshift.errors import DatabaseError, ValidationError
from liveshift.schema import Table

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe
    from liveshift.operations.actions import Action
    from liveshift.operations.actions.constraints import AddExclusion, CreateIndex

# The probe's own temporary tables. A temporary table belongs to this session only and takes no
# lock on any user table; the server keeps it across ROLLBACK, so each question drops its own.
_ROW = "_ls_row"  # an empty copy of the model's columns of a table
_TYPE = "_ls_type"  # one column declared with the user's type text
_TARGET = "_ls_target"  # one column of the target type, for assignments

# Errors that mean "not with ALGORITHM=INSTANT" (ER_ALTER_OPERATION_NOT_SUPPORTED and its
# _REASON form, on MySQL and MariaDB alike).
_NOT_INSTANT = (1845, 1846)
# Column types MySQL and MariaDB have, for a hint when a type name is misspelt (the refusal
# itself is the server's).
_TYPE_NAMES = (
    *("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric"),
    *("float", "double", "bit", "bool", "boolean", "date", "datetime", "timestamp", "time"),
    *("year", "char", "varchar", "binary", "varbinary", "tinyblob", "blob", "mediumblob"),
    *("longblob", "tinytext", "text", "mediumtext", "longtext", "enum", "set", "json"),
    *("geometry", "point", "uuid", "inet4", "inet6"),
)


def _errno(exc: DriverError) -> int:
    """The server's error number, which connection.translate puts first: `(1054) Unknown ...`."""
    message = exc.message
    if message.startswith("(") and ")" in message:
        number = message[1 : message.index(")")]
        if number.isdigit():
            return int(number)
    return 0


def _server_words(exc: DriverError) -> str:
    """The server's message without its number."""
    message = exc.message
    return message.split(") ", 1)[1] if _errno(exc) else message


class MySQLProbe:
    """Asks MySQL/MariaDB itself whether a type exists, an expression fits, a default is instant.
    Reads run in a READ COMMITTED transaction rolled back (consistent reads: no row locks), with
    the session's lock_wait_timeout cut to the probe's, so a held metadata lock makes a question
    fail at once rather than queue (and make every later session queue behind it)."""

    def __init__(self, conn: Connection, lock_timeout_ms: int = 500) -> None:
        self.conn = conn
        self.lock_timeout_ms = lock_timeout_ms
        self._info: ServerInfo | None = None

    @property
    def info(self) -> ServerInfo:
        if self._info is None:
            self._info = server_info(self.conn)
        return self._info

    def _lock_wait_s(self) -> int:
        # Whole seconds only: round the probe's milliseconds down, to the server's minimum.
        return max(min_lock_wait_timeout_s(self.info), self.lock_timeout_ms // 1000)

    @contextmanager
    def _session(self, temporary: Sequence[str]) -> Iterator[None]:
        """The probe's session settings for one question, restored after; the temporary tables
        it makes dropped after."""
        conn = self.conn
        saved = conn.execute(
            "select @@session.lock_wait_timeout, @@session.sql_mode, @@session.tx_isolation"
            if self.info.mariadb
            else "select @@session.lock_wait_timeout, @@session.sql_mode, "
            "@@session.transaction_isolation"
        ).fetchone()
        isolation_variable = "tx_isolation" if self.info.mariadb else "transaction_isolation"
        conn.execute(f"set session lock_wait_timeout = {self._lock_wait_s()}")
        # Strict: an assignment that does not fit fails as the backfill's would, not truncated.
        conn.execute(
            "set session sql_mode = concat_ws(',', @@session.sql_mode, 'STRICT_ALL_TABLES')"
        )
        conn.execute(f"set session {isolation_variable} = 'READ-COMMITTED'")
        try:
            yield
        finally:
            if not conn.closed:
                for name in temporary:
                    conn.execute(f"drop temporary table if exists {quote(name)}")
                conn.execute(
                    f"set session lock_wait_timeout = {int(saved[0])}, "
                    f"sql_mode = {literal(str(saved[1]))}, "
                    f"{isolation_variable} = {literal(str(saved[2]))}"
                )

    def ask(
        self,
        statements: Sequence[str],
        what: str,
        internal: dict[str, str] | None = None,
        temporary: Sequence[str] = (),
    ) -> list[tuple[Any, ...]]:
        """Run the statements in a transaction rolled back; the last result's rows. A refusal by
        the server is a ValidationError about `what` in its words (`internal`: liveshift's
        temporary names -> the users'); a held lock a DatabaseError."""
        conn = self.conn
        rows: list[tuple[Any, ...]] = []
        try:
            with self._session(temporary), conn.transaction(force_rollback=True):
                for statement in statements:
                    cursor = conn.execute(statement)
                    if cursor.description is not None:
                        rows = [tuple(r) for r in cursor.fetchall()]
        except LockNotAvailable as exc:
            raise DatabaseError(
                f"could not check {what}: a lock on the table is held by another session",
                hint="Retry in a moment; `liveshift plan` shows what would run.",
                sqlstate=exc.sqlstate,
            ) from None
        except DriverError as exc:
            raise ValidationError(
                f"{what} is refused by the database: {_in_user_terms(exc.message, internal)}",
                sqlstate=exc.sqlstate,
            ) from None
        return rows

    # -- types ------------------------------------------------------------------------------

    def column_type(self, type_name: str) -> ColumnType:
        """What the server makes of a column declared with this text: COLUMN_TYPE as SHOW
        COLUMNS spells it (`int(11)` on MariaDB, `varchar(10)`, `decimal(10,2) unsigned`).
        `serial` (BIGINT UNSIGNED NOT NULL AUTO_INCREMENT UNIQUE) is a serial ColumnType; any
        other text that says more than a type (NOT NULL, a default, a key, a check, a collation,
        generated, a comment) is refused, and so is a type the server does not know, in its
        words."""
        try:
            rows = self.ask(
                [
                    f"create temporary table {_TYPE} (value {type_name})",
                    f"show full columns from {_TYPE}",
                ],
                f"type {type_name!r}",
                temporary=[_TYPE],
            )
            # Inline CHECKs show only in the table's definition.
            created = self.ask(
                [
                    f"create temporary table {_TYPE} (value {type_name})",
                    f"show create table {_TYPE}",
                ],
                f"type {type_name!r}",
                temporary=[_TYPE],
            )
        except ValidationError as exc:
            close = _suggest(type_name)
            raise ValidationError(
                f"type {type_name!r} is not a type the target database accepts: "
                f"{str(exc).split(': ', 1)[-1]}",
                hint=f"Did you mean {close!r}?"
                if close
                else "Give one MySQL/MariaDB column type with its modifiers, e.g. `varchar(10)`.",
                sqlstate=exc.sqlstate,
            ) from None
        if len(rows) != 1:  # the text closed the column and declared more
            raise ValidationError(
                f"type {type_name!r} is not one type",
                hint="Give one type name, with its modifiers, e.g. `varchar(10)`.",
            )
        _field, name, collation, null, key, default, extra, _privileges, comment = rows[0][:9]
        name = str(name)
        serial = "auto_increment" in str(extra).lower()
        extras: list[str] = []
        if null == "NO" and not serial:
            extras.append("NOT NULL")
        if default is not None:
            extras.append("DEFAULT")
        if key and not serial:
            extras.append("a key")
        if extra and not serial:
            extras.append(str(extra).upper())
        if comment:
            extras.append("COMMENT")
        definition = str(created[0][1]) if created else ""
        # The type's own text (enum('CHECK (')) is not a check: look past it.
        rest = definition.replace(f"`value` {name}", "", 1)
        if " CHECK (" in rest or "CONSTRAINT" in rest:
            extras.append("a check")
        table_collation = definition.rsplit("COLLATE=", 1)[-1].split()[0] if collation else ""
        if collation and "COLLATE=" in definition and collation != table_collation:
            extras.append("COLLATE")
        if extras:
            raise ValidationError(
                f"type {type_name!r} says more than the type ({', '.join(extras)})",
                hint=f"Give only the type (`{name}`); `nullable:`, `default:`, `identity:`, "
                "`check:`, `unique:` and `references:` are keys of their own.",
            )
        return ColumnType(name=name, serial=serial)

    def type_exists(self, type_name: str) -> str:
        """The server's spelling of the type; `serial` (a new auto-increment column, not a type)
        is refused."""
        resolved = self.column_type(type_name)
        if resolved.serial:
            raise ValidationError(
                f"{type_name!r} is not a type but a new AUTO_INCREMENT column: it cannot be the "
                "new type of an existing column",
                hint=f"Use type `{resolved.name}`.",
            )
        return resolved.name

    # -- expressions ------------------------------------------------------------------------

    def _model_table(self, table: Table, extra: dict[str, str] | None = None) -> str:
        """CREATE TEMPORARY TABLE of the model's columns of `table` (plus `extra`), empty: the
        columns an earlier operation adds or renames are there as the steps will find them."""
        columns = [f"{quote(c.physical)} {c.type}" for c in table.columns.values()]
        columns += [f"{quote(n)} {t}" for n, t in (extra or {}).items()]
        return f"create temporary table {_ROW} ({', '.join(columns) or '_ls_none int'})"

    def expression_fits(
        self,
        table: Table,
        expression: str,
        type_name: str | None,
        what: str,
        column: str = "",
    ) -> None:
        """The expression (PostgreSQL-style text from the migration file, read as MySQL reads
        it) names only the table's columns and functions the server has and, given a type,
        assigns to a column of that type (named `column` in the server's refusal)."""
        text = mysql_expression(expression, what=what)
        alias = quote(table.name)  # the server's messages name the table as users know it
        if type_name is None:
            self.ask(
                [self._model_table(table), f"select ({text}) from {_ROW} as {alias} limit 0"],
                what,
                _internal_names(table),
                temporary=[_ROW],
            )
            return
        target = quote(column or table.name)
        self.ask(
            [
                self._model_table(table),
                f"create temporary table {_TARGET} ({target} {type_name})",
                f"insert into {_TARGET} ({target}) select ({text}) from {_ROW} as {alias}",
            ],
            what,
            _internal_names(table),
            temporary=[_ROW, _TARGET],
        )

    def condition_fits(
        self,
        table: Table,
        condition: str,
        extra: dict[str, str],
        what: str,
        internal: dict[str, str] | None = None,
    ) -> None:
        """A condition over the table's physical columns (with `extra` name -> type added)
        parses and names only columns and functions the server has."""
        text = mysql_expression(condition, what=what)
        self.ask(
            [
                self._model_table(table, extra),
                f"select 1 from {_ROW} as {quote(table.name)} where ({text}) limit 0",
            ],
            what,
            {**_internal_names(table), **(internal or {})},
            temporary=[_ROW],
        )

    def default_is_instant(self, type_name: str, default: str) -> bool:
        """Whether ADD COLUMN ... DEFAULT runs with ALGORITHM=INSTANT (no copy of the table).
        A temporary table cannot tell: MariaDB accepts ALGORITHM=INSTANT for any ALTER of one
        (even ADD PRIMARY KEY, verified on 10.11). So this asks on a one-row scratch table of
        liveshift's own (`_ls_probe_<connection id>`, in the `liveshift` database, else the
        connection's), created and dropped here: no lock on any user table. A default the server
        refuses outright is a ValidationError."""
        from liveshift.engines.mysql.render.sql import default as mysql_default

        value = mysql_default(default)
        row = self.conn.execute(
            "select (select schema_name from information_schema.schemata "
            f"where schema_name = {literal(STATE_SCHEMA)}), database(), connection_id()"
        ).fetchone()
        database = row[0] or row[1]
        if database is None:
            raise ValidationError(
                "cannot ask whether the default is instant: the connection has no database",
                hint="Give the database in the URL (mysql://user@host/database).",
            )
        scratch = f"{quote(str(database))}.{quote(f'_ls_probe_{int(row[2])}')}"
        conn = self.conn
        try:
            with self._session(()):
                conn.execute(f"drop table if exists {scratch}")
                conn.execute(f"create table {scratch} (_ls_id int primary key) engine=innodb")
                conn.execute(f"insert into {scratch} values (1)")
                try:
                    conn.execute(
                        f"alter table {scratch} add column value {type_name} default {value}, "
                        "algorithm=instant"
                    )
                except DriverError as exc:
                    if _errno(exc) in _NOT_INSTANT:
                        return False
                    raise
                return True
        except DriverError as exc:
            raise ValidationError(
                f"the default {default!r} is refused by the database: {exc.message}",
                sqlstate=exc.sqlstate,
            ) from None
        finally:
            if not conn.closed:
                conn.execute(f"drop table if exists {scratch}")

    def misfits(self, table: Table, expression: str, type_name: str, what: str) -> int:
        """How many rows' `expression` a column of `type_name` refuses on assignment under
        strict sql_mode, as the backfill's UPDATE would (too long, out of range, not a number,
        not a date). One INSERT ... SELECT into a temporary table (consistent read: no row
        locks) when all fit; when one does not, MariaDB counts them row by row in an anonymous
        block, each insert with its own handler. MySQL has no anonymous blocks: it is refused
        there, with the server's first refusal."""
        text = mysql_expression(expression, what=what)
        source = f"select ({text}) as value from {table_sql(table)}"
        try:
            self.ask(
                [
                    f"create temporary table {_TARGET} (value {type_name})",
                    f"insert into {_TARGET} (value) {source}",
                ],
                what,
                temporary=[_TARGET],
            )
            return 0
        except ValidationError as first:
            if not self.info.mariadb:
                raise
            refusal = first
        try:
            rows = self.ask(
                [
                    f"create temporary table {_TARGET} (value {type_name})",
                    "begin not atomic\n"
                    "  declare misfits bigint default 0;\n"
                    "  declare done int default 0;\n"
                    f"  declare rows_of cursor for {source};\n"
                    "  declare continue handler for not found set done = 1;\n"
                    "  open rows_of;\n"
                    "  begin\n"
                    # The expression's own type (10.3+), no detour through text; a block of its
                    # own: no variable may follow a cursor in one.
                    "    declare item row type of rows_of;\n"
                    "    rows_loop: loop\n"
                    "      fetch rows_of into item;\n"
                    "      if done then leave rows_loop; end if;\n"
                    "      begin\n"
                    "        declare continue handler for sqlexception set misfits = misfits + 1;\n"
                    f"        insert into {_TARGET} (value) values (item.value);\n"
                    "      end;\n"
                    f"      delete from {_TARGET};\n"
                    "    end loop;\n"
                    "  end;\n"
                    "  close rows_of;\n"
                    "  select misfits;\n"
                    "end",
                ],
                what,
                temporary=[_TARGET],
            )
        except ValidationError:
            raise refusal from None
        return int(rows[0][0]) if rows else 0

    def column_comment(self, table: Table, column: str) -> str | None:
        """The comment of a column of the live table (None: it has none)."""
        rows = self.ask(
            [
                "select column_comment from information_schema.columns "
                f"where table_schema = {literal(table.schema)} "
                f"and table_name = {literal(table.physical)} "
                f"and column_name = {literal(column)}"
            ],
            "the column's comment",
        )
        return str(rows[0][0]) if rows and rows[0][0] else None

    def has_rows(self, table: Table) -> bool:
        rows = self.ask([f"select exists (select 1 from {table_sql(table)})"], "the table")
        return bool(rows[0][0])

    # -- catalog ----------------------------------------------------------------------------

    def relation_kind(self, schema: str, name: str) -> str | None:
        """'table' or 'view' (MySQL's catalog has no other relation kind: a sequence is MariaDB's
        SEQUENCE table type, named 'sequence'); None: nothing of that name."""
        rows = self.ask(
            [
                "select table_type from information_schema.tables "
                f"where table_schema = {literal(schema)} and table_name = {literal(name)}"
            ],
            f"{schema}.{name}",
        )
        if not rows:
            return None
        kind = str(rows[0][0]).upper()
        return {
            "BASE TABLE": "table",
            "VIEW": "view",
            "SYSTEM VIEW": "view",
            "SEQUENCE": "sequence",
            "SYSTEM VERSIONED": "table",
            "TEMPORARY": "table",
        }.get(kind, "relation")

    def schema_exists(self, name: str) -> bool:
        """Whether a database of that name exists (a schema is a database here)."""
        rows = self.ask(
            [f"select 1 from information_schema.schemata where schema_name = {literal(name)}"],
            f"database {name}",
        )
        return bool(rows)

    def views_in_schema(self, schema: str) -> set[str]:
        rows = self.ask(
            [
                "select table_name from information_schema.views "
                f"where table_schema = {literal(schema)}"
            ],
            f"the views of {schema}",
        )
        return {str(r[0]) for r in rows}

    def table_in_catalog(self, table: Table) -> bool:
        rows = self.ask(
            [
                "select 1 from information_schema.tables "
                f"where table_schema = {literal(table.schema)} "
                f"and table_name = {literal(table.physical)} and table_type = 'BASE TABLE'"
            ],
            f"table {table.schema}.{table.name}",
        )
        return bool(rows)

    def constraint_exists(self, table: Table, name: str) -> bool:
        """Whether the live table has a constraint (primary key, unique, foreign key, check)
        of this name; False when there is no such table."""
        rows = self.ask(
            [
                "select 1 from information_schema.table_constraints "
                f"where constraint_schema = {literal(table.schema)} "
                f"and table_name = {literal(table.physical)} "
                f"and constraint_name = {literal(name)}"
            ],
            f"constraint {name}",
        )
        return bool(rows)

    def table_dependents(self, table: Table) -> list[TableDependent]:
        """Views that use the table and foreign keys of other tables that reference it. Views:
        MySQL 8.0.13+ lists their tables in information_schema.VIEW_TABLE_USAGE; MariaDB has no
        such view, so its views are found by their VIEW_DEFINITION naming the table as the
        server prints it (`db`.`t`, always qualified and quoted there). Routines are not
        searched (their bodies are not parsed ahead of a call on either server). liveshift's
        own version views (in `_ls_`... databases? no: version databases) are not excepted yet."""
        name = literal(table.physical)
        schema = literal(table.schema)
        if self.info.mariadb:
            printed = literal(f"{quote(table.schema)}.{quote(table.physical)}")
            views = (
                "select table_schema, table_name from information_schema.views "
                f"where locate({printed}, view_definition) > 0 order by 1, 2"
            )
        else:
            views = (
                "select view_schema, view_name from information_schema.view_table_usage "
                f"where table_schema = {schema} and table_name = {name} order by 1, 2"
            )
        keys = (
            "select constraint_schema, table_name, constraint_name "
            "from information_schema.referential_constraints "
            f"where unique_constraint_schema = {schema} and referenced_table_name = {name} "
            f"and not (constraint_schema = {schema} and table_name = {name}) order by 1, 2, 3"
        )
        what = f"what uses table {table.schema}.{table.name}"
        view_rows = self.ask([views], what)
        key_rows = self.ask([keys], what)
        found = [TableDependent("view", f"{s}.{v}") for s, v in view_rows]
        found += [TableDependent("foreign key", f"{c} on {s}.{t}") for s, t, c in key_rows]
        return found

    # -- more questions ---------------------------------------------------------------------

    def has_rows_where(self, table: Table, condition: str) -> bool:
        """Whether a row of the live table matches `condition` (a consistent read: no locks)."""
        text = mysql_expression(condition, what="the condition")
        rows = self.ask(
            [f"select exists (select 1 from {table_sql(table)} where ({text}))"], "the table"
        )
        return bool(rows[0][0])

    def holds_nulls(self, table: Table, columns: Sequence[str], what: str) -> bool:
        condition = " or ".join(f"{quote(c)} is null" for c in columns) or "false"
        rows = self.ask(
            [f"select exists (select 1 from {table_sql(table)} where {condition})"], what
        )
        return bool(rows[0][0])

    def foreign_keys_relying_on(self, table: Table, name: str) -> list[RelyingForeignKey]:
        """The foreign keys (any table's) whose referenced key is the table's unique or primary
        key `name`: REFERENTIAL_CONSTRAINTS.UNIQUE_CONSTRAINT_NAME, the index the server chose
        for each. Tables of another database are named `db.table`."""
        rows = self.ask(
            [
                "select constraint_name, constraint_schema, table_name "
                "from information_schema.referential_constraints "
                f"where unique_constraint_schema = {literal(table.schema)} "
                f"and referenced_table_name = {literal(table.physical)} "
                f"and unique_constraint_name = {literal(name)} order by 2, 3, 1"
            ],
            f"the foreign keys relying on {name}",
        )
        return [
            RelyingForeignKey(name=str(n), table=str(t) if s == table.schema else f"{s}.{t}")
            for n, s, t in rows
        ]

    def identity_fits(self, type_name: str, what: str) -> None:
        """A column of this type can be AUTO_INCREMENT (MySQL's identity), as the server says."""
        self.ask(
            [f"create temporary table _ls_identity (value {type_name} auto_increment primary key)"],
            what,
            temporary=["_ls_identity"],
        )

    def value_fits(
        self,
        row: dict[str, str],
        expression: str,
        type_name: str,
        target: tuple[str, str],
        what: str,
    ) -> None:
        """`expression` over an (empty) row of the given columns names only them and functions
        the server has, and inserts into a column of `type_name` named as the target."""
        text = mysql_expression(expression, what=what)
        columns = ", ".join(f"{quote(n)} {t}" for n, t in row.items()) or "_ls_none int"
        table, column = target
        value = quote(f"{table}.{column}")
        self.ask(
            [
                f"create temporary table {_ROW} ({columns})",
                f"create temporary table {_TARGET} ({value} {type_name})",
                f"insert into {_TARGET} ({value}) select ({text}) from {_ROW} as {quote(table)}",
            ],
            what,
            temporary=[_ROW, _TARGET],
        )

    # -- not answered yet (issue 17) ----------------------------------------------------------

    def _not_yet(self, question: str) -> NotImplementedError:
        return NotImplementedError(
            f"the MySQL/MariaDB probe does not answer {question} yet (issue 17)"
        )

    def column_dependents(self, table: Table, physical: str) -> list[Dependent]:
        raise self._not_yet("column_dependents")

    def column_facts(self, table: Table, physical: str) -> ColumnFacts:
        raise self._not_yet("column_facts")

    def raw_sql_ran_before(self, schema: str, migration: str, sql: str) -> bool:
        raise self._not_yet("raw_sql_ran_before")

    def replica_identity(self, table: Table) -> ReplicaIdentityFacts | None:
        raise self._not_yet("replica_identity (MySQL has none: capabilities say so)")

    def index_shape(self, schema: str, name: str) -> IndexShape | None:
        raise self._not_yet("index_shape")

    def check_trigger_skipping(self) -> None:
        raise self._not_yet("check_trigger_skipping")

    def accepts(
        self, actions: Sequence[Action], what: str, internal: dict[str, str] | None = None
    ) -> None:
        raise self._not_yet("accepts (DDL commits at once here: it cannot be rolled back)")

    def exclusion_fits(self, table: Table, exclusion: AddExclusion, what: str) -> None:
        raise self._not_yet("exclusion_fits (MySQL has no exclusion constraints)")

    def index_fits(self, table: Table, index: CreateIndex, what: str) -> None:
        raise self._not_yet("index_fits")

    def carried_index_fits(
        self, table: Table, column: str, type_name: str, definition: str, what: str
    ) -> None:
        raise self._not_yet("carried_index_fits")

    def carried_check_fits(
        self, table: Table, column: str, type_name: str, clause: str, what: str
    ) -> None:
        raise self._not_yet("carried_check_fits")

    def foreign_key_types_fit(
        self, referencing: Sequence[str], referenced: Sequence[str], what: str
    ) -> None:
        raise self._not_yet("foreign_key_types_fit")

    def rechecked_by_type_change(self, table: Table, column: str) -> list[str]:
        raise self._not_yet("rechecked_by_type_change")

    def type_change_rewrites(self, old_type: str, new_type: str) -> bool:
        raise self._not_yet("type_change_rewrites")


def probe(conn: Connection, lock_timeout_ms: int = 500) -> Probe:
    """MySQL/MariaDB's Probe, as MySQLEngine.probe gives it (mypy checks that MySQLProbe
    satisfies the engine-neutral protocol here)."""
    return MySQLProbe(conn, lock_timeout_ms)


def table_sql(table: Table) -> str:
    """`db`.`t` of the live (physical) table."""
    return f"{quote(table.schema)}.{quote(table.physical)}"


def _internal_names(table: Table) -> dict[str, str]:
    """The table's columns that live under a temporary physical name: physical -> name."""
    return {c.physical: c.name for c in table.columns.values() if c.physical != c.name}


def _in_user_terms(message: str, internal: dict[str, str] | None) -> str:
    # Longest first: one temporary name may begin another (_ls_new_a, _ls_new_ab).
    for physical in sorted(internal or {}, key=len, reverse=True):
        message = message.replace(physical, (internal or {})[physical])
    return message


def _suggest(type_name: str) -> str | None:
    from liveshift.errors import suggest

    word = type_name.strip().split("(")[0].split()[0].lower() if type_name.strip() else ""
    return suggest(word, _TYPE_NAMES) if word and word not in _TYPE_NAMES else None
