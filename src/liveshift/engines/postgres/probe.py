"""PostgreSQL's answers to the planner's read-only questions, in transactions always rolled back."""

from __future__ import annotations

from typing import Any

import pglast

from liveshift.engines.base import Connection, DriverError, LockNotAvailable
from liveshift.engines.postgres.probe_constraints import ConstraintQuestions
from liveshift.engines.postgres.probe_objects import ObjectQuestions
from liveshift.engines.probe import ColumnType
from liveshift.errors import DatabaseError, ValidationError
from liveshift.schema import Table, quote_ident, quote_literal


class Probe(ConstraintQuestions, ObjectQuestions):
    """Asks the server itself whether a type exists, an expression type-checks, a default is
    instant. Every question runs in a transaction that is rolled back, with a short lock_timeout,
    so probing a live table never changes or blocks it."""

    def __init__(self, conn: Connection, lock_timeout_ms: int = 500) -> None:
        self.conn = conn
        self.lock_timeout_ms = lock_timeout_ms

    def ask(
        self, statements: list[str], what: str, internal: dict[str, str] | None = None
    ) -> list[tuple[Any, ...]]:
        """Run the statements, rolled back; the last result's rows. A refusal by the server is a
        ValidationError about `what`, its message in the user's names: `internal` maps the
        names of liveshift's temporary columns (`_ls_*`) in it to the names users know."""
        conn = self.conn
        rows: list[tuple[Any, ...]] = []
        try:
            with conn.transaction(force_rollback=True):
                conn.execute(f"set local lock_timeout = '{self.lock_timeout_ms}ms'")
                for statement in statements:
                    cursor = conn.execute(statement)
                    if cursor.description is not None:
                        rows = cursor.fetchall()
        except LockNotAvailable as exc:
            raise DatabaseError(
                f"could not check {what}: a lock on the table is held by another session",
                hint="Retry in a moment; `liveshift plan` shows what would run.",
                sqlstate=exc.sqlstate,
            ) from None
        except DriverError as exc:
            diag = _in_user_terms(exc.message, internal)
            hint = exc.hint
            raise ValidationError(
                f"{what} is refused by the database: {diag}",
                sqlstate=exc.sqlstate,
                hint=_in_user_terms(hint, internal) if hint else None,
            ) from None
        return rows

    def column_type(self, type_name: str) -> ColumnType:
        """What the server makes of a column declared with this type text: it creates such a
        column in a temporary table and reads the type back with its modifiers (`varchar(10)`,
        `numeric(10,2)[]`, `time(2) with time zone`), and whether the text was a serial type
        (a sequence owned by the column, default nextval, NOT NULL). A type that does not exist
        gets the server's refusal and a closest-match suggestion."""
        declaration = f"create temp table _ls_type (value {type_name}) on commit drop"
        try:
            one_statement = len(pglast.parse_sql(declaration)) == 1
        except pglast.parser.ParseError:
            one_statement = True  # the server says what is wrong with it, below
        if not one_statement:  # `int); commit; ...` would run, even in a probe
            raise ValidationError(
                f"type {type_name!r} is not one type",
                hint="Give one type name, with its modifiers, e.g. `varchar(10)`.",
            )
        try:
            rows = self.ask(
                [
                    declaration,
                    "select format_type(a.atttypid, a.atttypmod), "
                    "pg_get_serial_sequence('pg_temp._ls_type', 'value') is not null, "
                    # Anything but the type: NOT NULL, a default, identity, generated, a
                    # collation, a constraint.
                    "array_remove(array[case when a.attnotnull then 'NOT NULL' end, "
                    "case when a.atthasdef then 'DEFAULT' end, "
                    "case when a.attidentity <> '' then 'IDENTITY' end, "
                    "case when a.attgenerated <> '' then 'GENERATED' end, "
                    "case when a.attcollation <> t.typcollation then 'COLLATE' end, "
                    "case when exists (select from pg_constraint c where c.conrelid = a.attrelid) "
                    "then 'a constraint' end], null) "
                    "from pg_attribute a join pg_type t on t.oid = a.atttypid "
                    "where a.attrelid = 'pg_temp._ls_type'::regclass "
                    "and a.attnum > 0 order by a.attnum",
                ],
                f"type {type_name!r}",
            )
        except ValidationError as exc:
            if exc.sqlstate != "42704":  # undefined_object: a name that does not exist
                raise
            raise ValidationError(
                f"type {type_name!r} does not exist in the target database",
                hint=self._type_suggestion(type_name),
                sqlstate=exc.sqlstate,
            ) from None
        if len(rows) != 1:  # the text closed the column list and went on
            raise ValidationError(
                f"type {type_name!r} is not one type",
                hint="Give one type name, with its modifiers, e.g. `varchar(10)`.",
            )
        name, serial, extras = str(rows[0][0]), bool(rows[0][1]), list(rows[0][2])
        if serial:  # a serial column is NOT NULL with its nextval default: that is the type
            extras = [e for e in extras if e not in ("NOT NULL", "DEFAULT")]
        if extras:
            raise ValidationError(
                f"type {type_name!r} says more than the type ({', '.join(extras)})",
                hint=f"Give only the type (`{name}`); `nullable:`, `default:`, `identity:`, "
                "`check:`, `unique:` and `references:` are keys of their own.",
            )
        return ColumnType(name=name, serial=serial)

    def type_exists(self, type_name: str) -> str:
        """The server's spelling of a type with its modifiers, or ValidationError with a
        suggestion; serial types, which are not types but a column with a sequence, are refused
        here (see column_type)."""
        resolved = self.column_type(type_name)
        if resolved.serial:
            raise ValidationError(
                f"{type_name!r} is not a type but a new column with its own sequence: it cannot "
                "be the new type of an existing column",
                hint=f"Use type `{resolved.name}`; give the column its values with a default "
                "(e.g. `default: nextval('a_sequence')`) or raw_sql.",
            )
        return resolved.name

    def _type_suggestion(self, type_name: str) -> str:
        from liveshift.errors import suggest

        with self.conn.transaction(force_rollback=True):
            names = [
                str(r[0])
                for r in self.conn.execute(
                    "select typname from pg_type where typtype in ('b','d','e','r','m') "
                    "and typname not like '\\_%'"
                )
            ]
        aliases = ["integer", "bigint", "smallint", "boolean", "text", "timestamptz", "timestamp"]
        close = suggest(type_name.lower(), aliases + names)
        return f"Did you mean {close!r}?" if close else "Create the type first, or fix its name."

    def expression_fits(
        self,
        table: Table,
        expression: str,
        type_name: str | None,
        what: str,
        column: str = "",
    ) -> None:
        """The expression (over the table's physical column names) parses, names only columns
        the table has at this point of the migration and, given a type, assigns to it as a value
        of `column` (the name the server's refusal gives the target: `table.column`)."""
        if type_name is None:
            self.ask(
                [f"explain select ({expression}) from {model_row(table)}"],
                what,
                internal_names(table),
            )
            return
        target = quote_ident(column or table.name)
        self.ask(
            [
                f"create temp table _ls_probe ({target} {type_name}) on commit drop",
                f"explain insert into _ls_probe ({target}) select {expression} "
                f"from {model_row(table)}",
            ],
            what,
            internal_names(table),
        )

    def condition_fits(
        self,
        table: Table,
        condition: str,
        extra: dict[str, str],
        what: str,
        internal: dict[str, str] | None = None,
    ) -> None:
        """A boolean condition over the table's physical columns (with `extra` typed columns
        added: name -> type) type-checks; `internal` names the extra columns for messages."""
        self.ask(
            [f"explain select 1 from {model_row(table, extra)} where ({condition})"],
            what,
            {**internal_names(table), **(internal or {})},
        )

    def default_is_instant(self, type_name: str, default: str) -> bool:
        """Whether ADD COLUMN ... DEFAULT would store the value in the catalog (no rewrite); this
        asks PostgreSQL's own rule on a one-row temporary table."""
        rows = self.ask(
            [
                "create temp table _ls_probe (x int) on commit drop",
                "insert into _ls_probe values (1)",
                f"alter table _ls_probe add column value {type_name} default {default}",
                "select atthasmissing from pg_attribute "
                "where attrelid = '_ls_probe'::regclass and attname = 'value'",
            ],
            "the default",
        )
        return bool(rows[0][0])

    def misfits(self, table: Table, expression: str, type_name: str, what: str) -> int:
        """How many rows of the table hold a value of `expression` (over physical column names)
        that `type_name` refuses on assignment, as the backfill's UPDATE would (too long for a
        varchar(n), too many digits for a numeric(p,s), out of a domain's check, ...). One scan
        of the table (about 0.3 s per million rows); when some row does not fit, a second one
        that tries each row's assignment in its own subtransaction to count them."""
        rows_of = f"select ({expression}) as value from only {table.qualified}"
        rows = self.ask(
            [
                "create function pg_temp._ls_misfits() returns bigint language plpgsql as "
                "$liveshift$\n"
                f"declare target {type_name}; misfits bigint := 0; r record;\n"
                "begin\n"
                # Fast when every row fits (the usual case): one pass, no subtransactions.
                f"  for r in {rows_of} loop target := r.value; end loop;\n"
                "  return 0;\n"
                "exception when others then\n"
                # Some row does not: count them, each assignment tried on its own.
                f"  for r in {rows_of} loop\n"
                "    begin target := r.value; exception when others then misfits := misfits + 1;"
                " end;\n"
                "  end loop;\n"
                "  return misfits;\n"
                "end $liveshift$",
                "select pg_temp._ls_misfits()",
            ],
            what,
        )
        return int(rows[0][0])

    def column_comment(self, table: Table, column: str) -> str | None:
        """The comment of a column of the live table (None: it has none)."""
        rows = self.ask(
            [
                f"select col_description({quote_literal(table.qualified)}::regclass, attnum) "
                f"from pg_attribute where attrelid = {quote_literal(table.qualified)}::regclass "
                f"and attname = {quote_literal(column)}"
            ],
            "the column's comment",
        )
        return None if not rows or rows[0][0] is None else str(rows[0][0])

    def has_rows(self, table: Table) -> bool:
        rows = self.ask([f"select exists (select from only {table.qualified})"], "the table")
        return bool(rows[0][0])


def model_row(table: Table, extra: dict[str, str] | None = None) -> str:
    """A one-row relation with the table's physical columns and types, built from the schema model
    rather than read from the live table: columns an earlier operation of the migration adds,
    renames or replaces are there as the steps will find them."""
    columns = [f"null::{c.type} as {quote_ident(c.physical)}" for c in table.columns.values()]
    columns += [f"null::{t} as {quote_ident(n)}" for n, t in (extra or {}).items()]
    # Named as the table, so the server's messages name its columns as users know them.
    return f"(select {', '.join(columns)}) as {quote_ident(table.name)}"


def internal_names(table: Table) -> dict[str, str]:
    """The table's columns that live under a temporary physical name: physical -> name."""
    return {c.physical: c.name for c in table.columns.values() if c.physical != c.name}


def _in_user_terms(message: str, internal: dict[str, str] | None) -> str:
    # Longest first: one temporary name may begin another (_ls_new_a, _ls_new_ab).
    for physical in sorted(internal or {}, key=len, reverse=True):
        message = message.replace(physical, (internal or {})[physical])
    return message
