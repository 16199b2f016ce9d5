"""PostgreSQL's text for the actions on tables, schemas and version views."""

from __future__ import annotations

from liveshift.engines.postgres.render import render
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
from liveshift.schema import quote_ident, quote_literal


def _columns(columns: tuple[str, ...]) -> str:
    return ", ".join(quote_ident(c) for c in columns)


def _column(column: ColumnDefinition) -> str:
    parts = [quote_ident(column.name), column.type]
    if column.identity is not None:
        parts.append(f"generated {column.identity.replace('_', ' ')} as identity")
    if column.default is not None:
        parts.append(f"default {column.default}")
    if column.not_null:
        parts.append("not null")
    return " ".join(parts)


def _constraint(constraint: TableConstraint) -> str:
    name = "" if constraint.name is None else f"constraint {quote_ident(constraint.name)} "
    if isinstance(constraint, PrimaryKey):
        return f"{name}primary key ({_columns(constraint.columns)})"
    if isinstance(constraint, Unique):
        return f"{name}unique ({_columns(constraint.columns)})"
    if isinstance(constraint, Check):
        return f"{name}check ({constraint.expression})"
    return (
        f"{name}foreign key ({_columns(constraint.columns)}) references {constraint.target} "
        f"({_columns(constraint.target_columns)}) on delete {constraint.on_delete} "
        f"on update {constraint.on_update}"
    )


@render.register
def _create_table(action: CreateTable) -> str:
    body = ",\n  ".join(
        [_column(c) for c in action.columns] + [_constraint(c) for c in action.constraints]
    )
    if action.temporary:
        return f"create temporary table {quote_ident(action.table)} ({body})"
    return f"create table {action.table} (\n  {body}\n)"


@render.register
def _drop_table(action: DropTable) -> str:
    return f"drop table if exists {action.table}{' cascade' if action.cascade else ''}"


@render.register
def _rename_table(action: RenameTable) -> str:
    return f"alter table if exists {action.table} rename to {quote_ident(action.to)}"


@render.register
def _replica_identity(action: SetReplicaIdentity) -> str:
    if action.identity == "index":
        assert action.index is not None
        clause = f"using index {quote_ident(action.index)}"
    else:
        clause = action.identity
    return f"alter table if exists only {action.table} replica identity {clause}"


@render.register
def _comment_on_table(action: CommentOnTable) -> str:
    return f"comment on table {action.table} is {quote_literal(action.comment)}"


@render.register
def _nothing(action: Nothing) -> str:
    return "select 1"


@render.register
def _create_schema(action: CreateSchema) -> str:
    return f"create schema if not exists {quote_ident(action.name)}"


@render.register
def _drop_schema(action: DropSchema) -> str:
    return f"drop schema if exists {quote_ident(action.name)} cascade"


def _view(schema: str, name: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(name)}"


@render.register
def _create_version_view(action: CreateVersionView) -> str:
    # security_invoker (PostgreSQL 15+): the view checks the querying role's privileges.
    options = " with (security_invoker = true)" if action.security_invoker else ""
    columns = ",\n    ".join(
        f"{quote_ident(physical)} as {quote_ident(shown)}" for physical, shown in action.columns
    )
    return (
        f"create or replace view {_view(action.schema, action.name)}"
        f"{options} as\n  select\n    {columns}\n  from {action.table}"
    )


@render.register
def _drop_view(action: DropView) -> str:
    return f"drop view if exists {_view(action.schema, action.name)}"


@render.register
def _save_view_grants(action: SaveViewGrants) -> str:
    # A transaction-local setting carries the view's ACL across its drop and re-creation.
    view = quote_literal(_view(action.schema, action.name))
    return (
        f"select set_config('liveshift.view_acl_{action.slot}', coalesce((select relacl::text "
        f"from pg_class where oid = to_regclass({view})), ''), true)"
    )


@render.register
def _restore_view_grants(action: RestoreViewGrants) -> str:
    # format() gets the view's name as part of its format string: a % in it must be doubled.
    statement = quote_literal(
        "grant %s on " + _view(action.schema, action.name).replace("%", "%%") + " to %s%s"
    )
    return (
        "do $liveshift_acl$ declare g record; begin\n"
        "  for g in select a.privilege_type, a.is_grantable, a.grantee from aclexplode(\n"
        f"      nullif(current_setting('liveshift.view_acl_{action.slot}'), '')::aclitem[]) a "
        "loop\n"
        f"    execute format({statement}, g.privilege_type,\n"
        "      case when g.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(g.grantee)) "
        "end,\n"
        "      case when g.is_grantable then ' with grant option' else '' end);\n"
        "  end loop;\n"
        "end $liveshift_acl$"
    )
