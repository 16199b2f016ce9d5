"""PostgreSQL's text for the sync triggers, their PL/pgSQL functions and the change logs."""

from __future__ import annotations

from liveshift.engines.postgres.render import render
from liveshift.operations.actions.triggers import (
    CreateChangeLog,
    CreateDownFillFunction,
    CreateSyncFunction,
    CreateTwoWaySyncFunction,
    DropChangeLog,
    DropFunction,
    DropTrigger,
    SyncInsertTrigger,
    SyncUpdateTrigger,
    VersionSyncTrigger,
)
from liveshift.schema import quote_ident, quote_literal
from liveshift.sqlexpr import rewrite_columns
from liveshift.triggers import SKIP_BACKFILL


def on_version(version_schema: str) -> str:
    """A PL/pgSQL condition: the writing session uses the migration's version schema."""
    return (
        f"{quote_literal(version_schema)} = any (string_to_array("
        "replace(replace(current_setting('search_path'), '\"', ''), ' ', ''), ','))"
    )


def _unchanged(target: str) -> str:
    """The row's `target` is what it was: the statement did not set it (the backfill does)."""
    return f"old.{quote_ident(target)} is not distinct from new.{quote_ident(target)}"


def _drop_trigger(table: str, name: str) -> str:
    return f"drop trigger if exists {quote_ident(name)} on {table}"


@render.register
def _sync_function(action: CreateSyncFunction) -> str:
    value = rewrite_columns(action.expression, qualifier="new", what="up")
    target_ref = f"new.{quote_ident(action.target)}"
    new_version_branch = ""
    if action.fill_nulls_from_new_version:
        new_version_branch = (
            f"  elsif tg_op = 'UPDATE' and {target_ref} is null "
            f"and old.{quote_ident(action.target)} is null then\n"
            f"    {target_ref} := {value};\n"
        )
    return (
        f"create or replace function {action.function}() returns trigger\n"
        "language plpgsql as $liveshift$\n"
        "begin\n"
        f"  if not {on_version(action.version_schema)} then\n"
        f"    {target_ref} := {value};\n"
        f"{new_version_branch}"
        "  end if;\n"
        "  return new;\n"
        "end\n"
        "$liveshift$"
    )


@render.register
def _two_way_function(action: CreateTwoWaySyncFunction) -> str:
    up = rewrite_columns(action.up, qualifier="new", what="up")
    down = rewrite_columns(action.down, qualifier="new", what="down")
    new_ref = f"new.{quote_ident(action.new)}"
    old_ref = f"new.{quote_ident(action.old)}"
    before_ref = f"old.{quote_ident(action.new)}"
    fill_new = f"tg_op = 'UPDATE' and {new_ref} is null and {before_ref} is null"
    if action.fill_new_on_insert:
        fill_new = f"({fill_new}) or (tg_op = 'INSERT' and {new_ref} is null)"
    return (
        f"create or replace function {action.function}() returns trigger\n"
        "language plpgsql as $liveshift$\n"
        "begin\n"
        f"  if {on_version(action.version_schema)} then\n"
        f"    if {fill_new} then\n"
        f"      {new_ref} := {up};\n"
        "    else\n"
        f"      {old_ref} := {down};\n"
        "    end if;\n"
        "  else\n"
        f"    {new_ref} := {up};\n"
        "  end if;\n"
        "  return new;\n"
        "end\n"
        "$liveshift$"
    )


@render.register
def _down_fill_function(action: CreateDownFillFunction) -> str:
    target = f"new.{quote_ident(action.target)}"
    value = rewrite_columns(action.expression, qualifier="new", what="down")
    return (
        f"create or replace function {action.function}() returns trigger\n"
        "language plpgsql as $liveshift$\n"
        "begin\n"
        f"  if {on_version(action.version_schema)} then\n"
        f"    if tg_op = 'INSERT' or {target} is null then\n"
        f"      {target} := {value};\n"
        "    end if;\n"
        "  end if;\n"
        "  return new;\n"
        "end\n"
        "$liveshift$"
    )


@render.register
def _insert_trigger(action: SyncInsertTrigger) -> str:
    name = quote_ident(action.name)
    return (
        f"{_drop_trigger(action.table, action.name)};\n"
        f"create trigger {name} before insert on {action.table}\n"
        f"  for each row execute function {action.function}()"
    )


@render.register
def _update_trigger(action: SyncUpdateTrigger) -> str:
    # Comparing two values of the row costs the backfill far less than a current_setting call
    # per row (bench/trigger_cost.py); the setting is still checked, for a backfill of another
    # column of the same table.
    name = quote_ident(action.name)
    return (
        f"{_drop_trigger(action.table, action.name)};\n"
        f"create trigger {name} before update on {action.table}\n"
        f"  for each row when ({_unchanged(action.target)} and {SKIP_BACKFILL}) "
        f"execute function {action.function}()"
    )


@render.register
def _two_way_trigger(action: VersionSyncTrigger) -> str:
    events = "insert or update" if action.update else "insert"
    name = quote_ident(action.name)
    return (
        f"{_drop_trigger(action.table, action.name)};\n"
        f"create trigger {name} before {events} on {action.table}\n"
        f"  for each row when ({SKIP_BACKFILL}) execute function {action.function}()"
    )


@render.register
def _create_change_log(action: CreateChangeLog) -> str:
    # SECURITY DEFINER: the application's role needs no privilege on the log.
    columns = ", ".join(quote_ident(k) for k in action.key)
    values = ", ".join(f"new.{quote_ident(k)}" for k in action.key)
    return (
        f"drop table if exists {action.log};\n"
        f"create table {action.log} as select {columns} from only {action.table} "
        "with no data;\n"
        f"alter table {action.log} add primary key ({columns});\n"
        f"create or replace function {action.function}() returns trigger\n"
        "language plpgsql security definer set search_path = pg_catalog, pg_temp "
        "as $liveshift$\n"
        "begin\n"
        f"  insert into {action.log} ({columns}) values ({values}) on conflict do nothing;\n"
        "  return null;\n"
        "end\n"
        "$liveshift$;\n"
        f"{_drop_trigger(action.table, action.trigger)};\n"
        f"create trigger {quote_ident(action.trigger)} after update on {action.table}\n"
        f"  for each row when ({_unchanged(action.target)} and {SKIP_BACKFILL}) "
        f"execute function {action.function}()"
    )


@render.register
def _drop_change_log(action: DropChangeLog) -> str:
    return f"drop table if exists {action.log};\ndrop function if exists {action.function}()"


@render.register
def _drop_trigger_action(action: DropTrigger) -> str:
    return _drop_trigger(action.table, action.name)


@render.register
def _drop_function(action: DropFunction) -> str:
    return f"drop function {'if exists ' if action.if_exists else ''}{action.function}()"
