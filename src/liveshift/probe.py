"""Read-only questions to the live database, asked in transactions that are always rolled back."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import errors as pg_errors

from liveshift.errors import DatabaseError, ValidationError
from liveshift.schema import Table, quote_ident


class Probe:
    """Asks the server itself whether a type exists, an expression type-checks, a default is
    instant. Every question runs in a transaction that is rolled back, with a short lock_timeout,
    so probing a live table never changes or blocks it."""

    def __init__(self, conn: psycopg.Connection[Any], lock_timeout_ms: int = 500) -> None:
        self.conn = conn
        self.lock_timeout_ms = lock_timeout_ms

    def ask(self, statements: list[str], what: str) -> list[tuple[Any, ...]]:
        conn = self.conn
        rows: list[tuple[Any, ...]] = []
        try:
            with conn.transaction(force_rollback=True):
                conn.execute(f"set local lock_timeout = '{self.lock_timeout_ms}ms'")
                for statement in statements:
                    cursor = conn.execute(statement)
                    if cursor.description is not None:
                        rows = cursor.fetchall()
        except pg_errors.LockNotAvailable as exc:
            raise DatabaseError(
                f"could not check {what}: a lock on the table is held by another session",
                hint="Retry in a moment; `liveshift plan` shows what would run.",
                sqlstate=exc.sqlstate,
            ) from None
        except psycopg.errors.DatabaseError as exc:
            diag = exc.diag.message_primary or str(exc)
            raise ValidationError(
                f"{what} is refused by the database: {diag}",
                sqlstate=exc.sqlstate,
                hint=getattr(exc.diag, "message_hint", None) or None,
            ) from None
        return rows

    def type_exists(self, type_name: str) -> str:
        """The canonical spelling of a type, or ValidationError with a suggestion."""
        try:
            rows = self.ask([f"select format_type({_literal(type_name)}::regtype, null)"], "type")
        except ValidationError as exc:
            raise ValidationError(
                f"type {type_name!r} does not exist in the target database",
                hint=self._type_suggestion(type_name),
                sqlstate=exc.sqlstate,
            ) from None
        return str(rows[0][0])

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
        self, table: Table, expression: str, type_name: str | None, what: str
    ) -> None:
        """The expression (over the table's physical column names) parses, names only columns
        the table has at this point of the migration and, given a type, assigns to it."""
        if type_name is None:
            self.ask([f"explain select ({expression}) from {model_row(table)}"], what)
            return
        self.ask(
            [
                f"create temp table _ls_probe (value {type_name}) on commit drop",
                f"explain insert into _ls_probe (value) select {expression} "
                f"from {model_row(table)}",
            ],
            what,
        )

    def condition_fits(
        self, table: Table, condition: str, extra: dict[str, str], what: str
    ) -> None:
        """A boolean condition over the table's physical columns (with `extra` typed columns
        added: name -> type) type-checks."""
        self.ask(
            [f"explain select 1 from {model_row(table, extra)} where ({condition})"],
            what,
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

    def has_rows(self, table: Table) -> bool:
        rows = self.ask([f"select exists (select from only {table.qualified})"], "the table")
        return bool(rows[0][0])


def model_row(table: Table, extra: dict[str, str] | None = None) -> str:
    """A one-row relation with the table's physical columns and types, built from the schema model
    rather than read from the live table: columns an earlier operation of the migration adds,
    renames or replaces are there as the steps will find them."""
    columns = [f"null::{c.type} as {quote_ident(c.physical)}" for c in table.columns.values()]
    columns += [f"null::{t} as {quote_ident(n)}" for n, t in (extra or {}).items()]
    return f"(select {', '.join(columns)}) as _ls_row"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
