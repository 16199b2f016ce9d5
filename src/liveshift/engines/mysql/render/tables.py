"""MySQL/MariaDB's text for the actions on tables, schemas (databases here) and version views
(views in the version database, updatable, over the application's table)."""

from __future__ import annotations

from liveshift.engines.mysql.render import render
from liveshift.engines.mysql.render.sql import (
    INSTANT,
    default,
    expression,
    literal,
    names,
    qualified,
    quote,
    refuse,
    split_qualified,
    table,
)
from liveshift.operations.actions.schemas import CreateSchema, DropSchema
from liveshift.operations.actions.tables import (
    Check,
    ColumnDefinition,
    CommentOnTable,
    CreateTable,
    DropTable,
    Nothing,
    PrimaryKey,
    RenameTable,
    SetReplicaIdentity,
    TableConstraint,
    Unique,
)
from liveshift.operations.actions.views import (
    CreateVersionView,
    DropView,
    RestoreViewGrants,
    SaveViewGrants,
)


def _column(action: CreateTable, column: ColumnDefinition) -> str:
    parts = [quote(column.name), column.type]
    if column.not_null:
        parts.append("not null")
    if column.default is not None:
        parts.append(f"default {default(column.default)}")
    if column.identity == "by_default":
        parts.append("auto_increment")
    elif column.identity is not None:
        raise refuse(
            action,
            f"column {column.name} is GENERATED ALWAYS AS IDENTITY: MySQL's AUTO_INCREMENT "
            "always accepts an explicit value",
            "Use `identity: by_default`, which AUTO_INCREMENT is.",
        )
    return " ".join(parts)


def _action_name(action: str) -> str:
    # The migration file spells the referential actions with underscores (no_action, set_null).
    return action.replace("_", " ")


def _constraint(constraint: TableConstraint) -> str:
    if isinstance(constraint, PrimaryKey):
        # InnoDB's primary key is always named PRIMARY: a name given is not kept.
        return f"primary key ({names(constraint.columns)})"
    name = "" if constraint.name is None else f"{quote(constraint.name)} "
    if isinstance(constraint, Unique):
        return f"unique key {name}({names(constraint.columns)})"
    if isinstance(constraint, Check):
        check = expression(constraint.expression, what="check")
        return f"{'constraint ' + name if name else ''}check ({check})"
    return (
        f"constraint {name}foreign key ({names(constraint.columns)}) references "
        f"{table(constraint.target)} ({names(constraint.target_columns)}) "
        f"on delete {_action_name(constraint.on_delete)} "
        f"on update {_action_name(constraint.on_update)}"
    )


@render.register
def _create_table(action: CreateTable) -> str:
    body = ",\n  ".join(
        [_column(action, c) for c in action.columns] + [_constraint(c) for c in action.constraints]
    )
    if action.temporary:
        return f"create temporary table {quote(action.table)} (\n  {body}\n) engine=InnoDB"
    return f"create table {table(action.table)} (\n  {body}\n) engine=InnoDB"


@render.register
def _drop_table(action: DropTable) -> str:
    # No CASCADE on MySQL (the keyword is accepted and ignored): a table other tables'
    # foreign keys reference is not dropped (error 1451), nothing is dropped with it.
    return f"drop table if exists {table(action.table)}"


@render.register
def _rename_table(action: RenameTable) -> str:
    # RENAME TABLE IF EXISTS: MariaDB 10.5+; the new name stays in the table's database.
    parts = split_qualified(action.table)
    target = qualified(parts[-2], action.to) if len(parts) > 1 else quote(action.to)
    return f"rename table if exists {table(action.table)} to {target}"


@render.register
def _replica_identity(action: SetReplicaIdentity) -> str:
    raise refuse(
        action,
        "MySQL's binary log row image is a server setting (binlog_row_image), not per table",
        "Drop the replica identity change on MySQL/MariaDB.",
    )


@render.register
def _comment_on_table(action: CommentOnTable) -> str:
    return f"alter table {table(action.table)} comment = {literal(action.comment)}, {INSTANT}"


@render.register
def _nothing(action: Nothing) -> str:
    return "do 0"


@render.register
def _create_schema(action: CreateSchema) -> str:
    return f"create database if not exists {quote(action.name)}"


@render.register
def _drop_schema(action: DropSchema) -> str:
    return f"drop database if exists {quote(action.name)}"


@render.register
def _create_version_view(action: CreateVersionView) -> str:
    # MERGE: only a merged view is updatable (TEMPTABLE never is). SQL SECURITY INVOKER checks
    # the querying user's privileges; DEFINER (MySQL's default) those of the view's creator.
    security = "invoker" if action.security_invoker else "definer"
    columns = ",\n    ".join(
        f"{quote(physical)} as {quote(shown)}" for physical, shown in action.columns
    )
    return (
        f"create or replace algorithm = merge sql security {security} view "
        f"{qualified(action.schema, action.name)} as\n  select\n    {columns}\n"
        f"  from {table(action.table)}"
    )


@render.register
def _drop_view(action: DropView) -> str:
    return f"drop view if exists {qualified(action.schema, action.name)}"


@render.register
def _save_view_grants(action: SaveViewGrants) -> str:
    # MySQL keeps privileges by name (mysql.tables_priv): dropping a view does not revoke them,
    # the view made again has them at once. Nothing to save or restore.
    return "do 0"


@render.register
def _restore_view_grants(action: RestoreViewGrants) -> str:
    return "do 0"
