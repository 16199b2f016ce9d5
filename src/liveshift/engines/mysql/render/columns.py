"""MySQL/MariaDB's text for the actions on columns: what InnoDB does instantly, with
ALGORITHM=INSTANT (the server refuses rather than copy the table); the rest refused."""

from __future__ import annotations

from functools import singledispatch

from liveshift.engines.mysql.render import render
from liveshift.engines.mysql.render.sql import (
    INSTANT,
    ONLINE,
    default,
    quote,
    refuse,
    table,
)
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

# MODIFY restates the whole column: the actions carry only what changes, so a MODIFY rendered
# from them would silently drop the column's NOT NULL, default, comment or charset.
_MODIFY = (
    "it needs MODIFY COLUMN, which restates the whole column definition (the action carries "
    "only the change) and copies the table (writes blocked throughout)"
)
_EXPAND = (
    "Change the column through a new column (add_column with `up`, a backfill and triggers), "
    'or wait for the shadow-copy route (issue "Online table rebuild").'
)
_SEQUENCES = (
    "MySQL has AUTO_INCREMENT, not sequences or identity columns that an operation can attach "
    "to an existing column online"
)


@singledispatch
def clause(c: Clause) -> str:
    """The text of one ALTER TABLE clause InnoDB applies instantly."""
    raise refuse(c, "the MySQL/MariaDB engine has no clause for it", _EXPAND)


@clause.register
def _add_column(c: AddColumnClause) -> str:
    text = f"add column {quote(c.column)} {c.type}"
    return text if c.default is None else f"{text} default {default(c.default)}"


@clause.register
def _set_default_clause(c: SetDefaultClause) -> str:
    return f"alter column {quote(c.column)} set default {default(c.default)}"


@clause.register
def _alter_type(c: AlterTypeClause) -> str:
    raise refuse(c, _MODIFY, _EXPAND)


@clause.register
def _drop_not_null(c: DropNotNullClause) -> str:
    raise refuse(c, _MODIFY, _EXPAND)


@clause.register
def _not_null_check(c: NotNullCheckClause) -> str:
    raise refuse(
        c,
        "MySQL has no NOT VALID checks: ADD CHECK scans and copies the table, writes blocked",
        "Enforce NOT NULL at complete through the new column route, or plan it in a "
        "maintenance window.",
    )


@clause.register
def _check(c: CheckClause) -> str:
    raise refuse(
        c,
        "MySQL has no NOT VALID checks: ADD CHECK scans and copies the table, writes blocked",
        "Plan the check in a maintenance window, or wait for the shadow-copy route.",
    )


@clause.register
def _definition_clause(c: DefinitionClause) -> str:
    raise refuse(
        c,
        "it carries a constraint definition in PostgreSQL's catalog text",
        "The carry-over of constraints is PostgreSQL's; on MySQL the operation must rebuild "
        "the constraint from typed actions.",
    )


@render.register
def _alter_table(action: AlterTable) -> str:
    # Every clause rendered is instant on InnoDB: the statement as a whole is too.
    try:
        clauses = [clause(c) for c in action.clauses]
    except ValidationError as exc:
        raise ValidationError(
            f"{exc.message} (a clause of the action AlterTable on {action.table})", hint=exc.hint
        ) from None
    return f"alter table {table(action.table)}\n  " + ",\n  ".join([*clauses, INSTANT])


@render.register
def _set_default(action: SetDefault) -> str:
    return (
        f"alter table {table(action.table)} alter column {quote(action.column)} "
        f"set default {default(action.default)}, {INSTANT}"
    )


@render.register
def _drop_default(action: DropDefault) -> str:
    return (
        f"alter table {table(action.table)} alter column {quote(action.column)} drop default, "
        f"{INSTANT}"
    )


@render.register
def _set_not_null(action: SetNotNull) -> str:
    raise refuse(
        action,
        "SET NOT NULL is a MODIFY COLUMN on MySQL: it restates the column and copies the table "
        "(and an instant NOT NULL without default makes old clients' inserts fail, error 1364)",
        _EXPAND,
    )


@render.register
def _alter_type_action(action: AlterColumnType) -> str:
    raise refuse(action, _MODIFY, _EXPAND)


@render.register
def _rename_column(action: RenameColumn) -> str:
    return (
        f"alter table {table(action.table)} rename column {quote(action.old)} to "
        f"{quote(action.new)}, {INSTANT}"
    )


@render.register
def _rename_index_columns(action: RenameIndexColumns) -> str:
    # InnoDB's indexes name their columns through the table: RENAME COLUMN renamed them too.
    return "do 0"


@render.register
def _drop_column(action: DropColumn) -> str:
    # DROP COLUMN IF EXISTS: MariaDB (MySQL 8 has no IF EXISTS here).
    exists = "if exists " if action.if_exists else ""
    return (
        f"alter table {table(action.table)} drop column {exists}{quote(action.column)}, {INSTANT}"
    )


@render.register
def _comment(action: CommentOnColumn) -> str:
    raise refuse(
        action,
        "a column's comment is set by MODIFY COLUMN ... COMMENT, which restates the whole "
        "column definition (the action carries only the comment) and is not instant",
        "Column comments are not supported on MySQL/MariaDB yet; table comments are "
        "(ALTER TABLE ... COMMENT is instant).",
    )


@render.register
def _add_unique(action: AddUniqueUsingIndex) -> str:
    # A unique index is InnoDB's unique constraint: it only needs the constraint's name.
    if action.name == action.index:
        return "do 0"
    return (
        f"alter table {table(action.table)} rename index {quote(action.index)} to "
        f"{quote(action.name)}, {ONLINE}"
    )


def _no_sequences(action: object) -> str:
    raise refuse(
        action,
        _SEQUENCES,
        "Use an AUTO_INCREMENT column in create_table; changing a column into one copies the "
        "table.",
    )


for _type in (
    AddIdentity,
    ResumeIdentity,
    CreateSequence,
    OwnSequence,
    DropSequence,
    CreateNextValueFunction,
):
    render.register(_type, _no_sequences)


@render.register
def _lock_tables(action: LockTables) -> str:
    raise refuse(
        action,
        "LOCK TABLES ends the transaction and is a session lock, not PostgreSQL's "
        "transaction-scoped ACCESS EXCLUSIVE lock; each DDL statement takes its own metadata "
        "lock under the guard",
        "The step must not depend on a multi-table lock on MySQL/MariaDB.",
    )
