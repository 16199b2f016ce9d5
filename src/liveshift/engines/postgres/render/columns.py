"""PostgreSQL's text for the actions on columns (operations/actions/columns.py)."""

from __future__ import annotations

from functools import singledispatch

from liveshift.engines.postgres.render import render
from liveshift.errors import ValidationError
from liveshift.operations.actions.columns import (
    AddColumnClause,
    AddIdentity,
    AddUniqueUsingIndex,
    AlterColumnType,
    AlterTable,
    AlterTypeClause,
    CheckClause,
    Clause,
    CommentOnColumn,
    CreateNextValueFunction,
    CreateSequence,
    DefinitionClause,
    DropColumn,
    DropDefault,
    DropNotNullClause,
    DropSequence,
    LockTables,
    NotNullCheckClause,
    OwnSequence,
    RenameColumn,
    RenameIndexColumns,
    ResumeIdentity,
    SetDefault,
    SetDefaultClause,
    SetNotNull,
)
from liveshift.schema import quote_ident, quote_literal


def _qualified(schema: str, name: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(name)}"


@singledispatch
def clause(c: Clause) -> str:
    """The text of one ALTER TABLE clause."""
    raise ValidationError(
        f"PostgreSQL has no clause for {type(c).__name__} yet",
        hint="This is a bug in liveshift: please report it with the migration file.",
    )


@clause.register
def _add_column(c: AddColumnClause) -> str:
    text = f"add column {quote_ident(c.column)} {c.type}"
    return text if c.default is None else f"{text} default {c.default}"


@clause.register
def _alter_type(c: AlterTypeClause) -> str:
    return f"alter column {quote_ident(c.column)} type {c.type}"


@clause.register
def _set_default_clause(c: SetDefaultClause) -> str:
    return f"alter column {quote_ident(c.column)} set default {c.default}"


@clause.register
def _drop_not_null(c: DropNotNullClause) -> str:
    return f"alter column {quote_ident(c.column)} drop not null"


@clause.register
def _not_null_check(c: NotNullCheckClause) -> str:
    return f"add constraint {quote_ident(c.name)} check ({quote_ident(c.column)} is not null) not valid"


@clause.register
def _check(c: CheckClause) -> str:
    return f"add constraint {quote_ident(c.name)} check ({c.condition}) not valid"


@clause.register
def _definition_clause(c: DefinitionClause) -> str:
    return c.text


@render.register
def _alter_table(action: AlterTable) -> str:
    return f"alter table only {action.table}\n  " + ",\n  ".join(clause(c) for c in action.clauses)


def _alter(table: str, column: str, what: str) -> str:
    return f"alter table only {table} alter column {quote_ident(column)} {what}"


@render.register
def _set_not_null(action: SetNotNull) -> str:
    return _alter(action.table, action.column, "set not null")


@render.register
def _set_default(action: SetDefault) -> str:
    return _alter(action.table, action.column, f"set default {action.default}")


@render.register
def _drop_default(action: DropDefault) -> str:
    return _alter(action.table, action.column, "drop default")


@render.register
def _alter_type_action(action: AlterColumnType) -> str:
    return _alter(action.table, action.column, f"type {action.type}")


@render.register
def _add_identity(action: AddIdentity) -> str:
    return _alter(action.table, action.column, f"add generated {action.generation} as identity")


@render.register
def _resume_identity(action: ResumeIdentity) -> str:
    return (
        f"select setval(pg_get_serial_sequence({quote_literal(action.table)}, "
        f"{quote_literal(action.column)}), last_value, is_called) "
        f"from {_qualified(action.schema, action.sequence)}"
    )


@render.register
def _rename_column(action: RenameColumn) -> str:
    return (
        f"alter table only {action.table} rename column {quote_ident(action.old)} to "
        f"{quote_ident(action.new)}"
    )


@render.register
def _rename_index_columns(action: RenameIndexColumns) -> str:
    # ALTER TABLE accepts an index for RENAME COLUMN; RENAME COLUMN on the table leaves its
    # indexes' column names as they were.
    old = quote_literal(action.old)
    return (
        "do $liveshift$ declare i regclass; begin\n"
        "  for i in select x.indexrelid::regclass from pg_index x join pg_attribute a\n"
        "      on a.attrelid = x.indexrelid\n"
        f"    where x.indrelid = {quote_literal(action.table)}::regclass\n"
        f"      and a.attname = {old} loop\n"
        "    execute format('alter table %s rename column %I to %I', i, "
        f"{old}, {quote_literal(action.new)});\n"
        "  end loop;\n"
        "end $liveshift$"
    )


@render.register
def _drop_column(action: DropColumn) -> str:
    exists = "if exists " if action.if_exists else ""
    return f"alter table only {action.table} drop column {exists}{quote_ident(action.column)}"


@render.register
def _comment(action: CommentOnColumn) -> str:
    text = "null" if action.comment is None else quote_literal(action.comment)
    return f"comment on column {action.table}.{quote_ident(action.column)} is {text}"


@render.register
def _create_sequence(action: CreateSequence) -> str:
    return f"create sequence {_qualified(action.schema, action.name)} as {action.type}"


@render.register
def _own_sequence(action: OwnSequence) -> str:
    return (
        f"alter sequence {_qualified(action.schema, action.sequence)} owned by "
        f"{action.table}.{quote_ident(action.column)}"
    )


@render.register
def _drop_sequence(action: DropSequence) -> str:
    exists = "if exists " if action.if_exists else ""
    return f"drop sequence {exists}{_qualified(action.schema, action.name)}"


@render.register
def _next_value_function(action: CreateNextValueFunction) -> str:
    sequence = quote_literal(_qualified(action.schema, action.sequence))
    return (
        f"create function {_qualified(action.schema, action.name)}() returns {action.type}\n"
        "language sql security definer set search_path = pg_catalog, pg_temp\n"
        f"as $liveshift$ select nextval({sequence}::regclass)::{action.type} $liveshift$"
    )


@render.register
def _add_unique(action: AddUniqueUsingIndex) -> str:
    return (
        f"alter table only {action.table} add constraint {quote_ident(action.name)} "
        f"unique using index {quote_ident(action.index)}"
    )


@render.register
def _lock_tables(action: LockTables) -> str:
    return (
        "lock table " + ", ".join(f"only {t}" for t in action.tables) + " in access exclusive mode"
    )
