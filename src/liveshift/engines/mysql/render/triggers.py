"""MySQL/MariaDB's text for the sync triggers and change logs: one trigger per event (MySQL has
no INSERT OR UPDATE trigger), its body a single SET over NEW (no BEGIN ... END, no trigger
functions), the version told apart by a session variable new-version clients set at connect
(`SET @liveshift_version = '<version database>'`, PostgreSQL's search_path), the backfill's writes by its session variable."""

from __future__ import annotations

from liveshift.engines.mysql.render import render
from liveshift.engines.mysql.render.sql import (
    SKIP_BACKFILL,
    VERSION_VARIABLE,
    expression,
    literal,
    names,
    quote,
    refuse,
    split_qualified,
    table,
)
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

# A VersionSyncTrigger with `update` is two triggers here: the UPDATE one takes this suffix.
UPDATE_SUFFIX = "__upd"

Function = CreateSyncFunction | CreateTwoWaySyncFunction | CreateDownFillFunction
Trigger = SyncInsertTrigger | SyncUpdateTrigger | VersionSyncTrigger


def on_version(version_schema: str) -> str:
    """The writing client is of the migration's new version. Not DATABASE(), nor the process
    list's db: inside a trigger both are the trigger's own database (measured on MariaDB 10.11),
    so a new-version client says so in its session, as it sets search_path on PostgreSQL."""
    return f"{VERSION_VARIABLE} <=> {literal(version_schema)}"


def _trigger_name(table_name: str, name: str) -> str:
    # A trigger lives in its table's database.
    parts = split_qualified(table_name)
    return f"{quote(parts[-2])}.{quote(name)}" if len(parts) > 1 else quote(name)


def _create(
    table_name: str, name: str, when: str, event: str, body: str, follows: str | None
) -> str:
    # CREATE OR REPLACE TRIGGER (MariaDB 10.1.4+) swaps the trigger atomically: no write
    # between a drop and a create goes unsynced (MySQL 8 needs DROP + CREATE).
    order = f" follows {quote(follows)}" if follows is not None else ""
    return (
        f"create or replace trigger {_trigger_name(table_name, name)} {when} {event} on "
        f"{table(table_name)}\n  for each row{order}\n  {body}"
    )


def _assign(target: str, condition: str, value: str) -> str:
    return f"new.{quote(target)} = if({condition}, {value}, new.{quote(target)})"


def _unchanged(target: str) -> str:
    return f"old.{quote(target)} <=> new.{quote(target)}"


def _sync_body(function: CreateSyncFunction, event: str) -> str:
    value = expression(function.expression, qualifier="new", what="up")
    old_client = f"not ({on_version(function.version_schema)})"
    if event == "insert":
        return f"set {_assign(function.target, old_client, value)}"
    target = quote(function.target)
    who = old_client
    if function.fill_nulls_from_new_version:
        who = f"({old_client} or (new.{target} is null and old.{target} is null))"
    condition = f"{_unchanged(function.target)} and {SKIP_BACKFILL} and {who}"
    return f"set {_assign(function.target, condition, value)}"


def _two_way_body(function: CreateTwoWaySyncFunction, event: str) -> str:
    up = expression(function.up, qualifier="new", what="up")
    down = expression(function.down, qualifier="new", what="down")
    new = quote(function.new)
    version = on_version(function.version_schema)
    if event == "update":
        fill = f"(new.{new} is null and old.{new} is null)"
    elif function.fill_new_on_insert:
        fill = f"(new.{new} is null)"
    else:
        fill = "false"
    # One SET assigns left to right: `old` first, while `new` is still what the client wrote.
    return (
        f"set {_assign(function.old, f'{SKIP_BACKFILL} and {version} and not {fill}', down)},\n"
        f"    {_assign(function.new, f'{SKIP_BACKFILL} and (not ({version}) or {fill})', up)}"
    )


def _down_fill_body(function: CreateDownFillFunction, event: str) -> str:
    value = expression(function.expression, qualifier="new", what="down")
    condition = f"{SKIP_BACKFILL} and {on_version(function.version_schema)}"
    if event == "update":
        condition += f" and new.{quote(function.target)} is null"
    return f"set {_assign(function.target, condition, value)}"


def _body(function: Function, event: str) -> str:
    if isinstance(function, CreateSyncFunction):
        return _sync_body(function, event)
    if isinstance(function, CreateTwoWaySyncFunction):
        return _two_way_body(function, event)
    return _down_fill_body(function, event)


def sync_trigger(
    trigger: Trigger,
    function: Function,
    *,
    follows: str | None = None,
    follows_update: str | None = None,
) -> str:
    """The trigger(s) of `trigger` with `function`'s logic inline (MySQL has no trigger
    functions). `follows`: the table's own trigger of the same timing and event this one runs
    after (FOLLOWS); `follows_update`: the same for the UPDATE half of a VersionSyncTrigger."""
    if trigger.function != function.function:
        raise ValueError(f"{trigger.name} runs {trigger.function}, not {function.function}")
    if isinstance(trigger, SyncInsertTrigger):
        return _create(
            trigger.table, trigger.name, "before", "insert", _body(function, "insert"), follows
        )
    if isinstance(trigger, SyncUpdateTrigger):
        return _create(
            trigger.table, trigger.name, "before", "update", _body(function, "update"), follows
        )
    statements = [
        _create(trigger.table, trigger.name, "before", "insert", _body(function, "insert"), follows)
    ]
    if trigger.update:
        statements.append(
            _create(
                trigger.table,
                trigger.name + UPDATE_SUFFIX,
                "before",
                "update",
                _body(function, "update"),
                follows_update,
            )
        )
    return ";\n".join(statements)


def _function(action: Function) -> str:
    # MySQL has no trigger functions: the function's logic goes inline into its triggers.
    return "do 0"


render.register(CreateSyncFunction, _function)
render.register(CreateTwoWaySyncFunction, _function)
render.register(CreateDownFillFunction, _function)


def _trigger(action: Trigger) -> str:
    raise refuse(
        action,
        "a MySQL trigger's body is inline (there are no trigger functions), and the action "
        f"names only its function {action.function}, not what it computes",
        "The trigger action must carry its function's action (and the table's own trigger to "
        "FOLLOW): engines/mysql/render/triggers.py `sync_trigger(trigger, function, "
        "follows=...)` renders the pair.",
    )


for _type in (SyncInsertTrigger, SyncUpdateTrigger, VersionSyncTrigger):
    render.register(_type, _trigger)


@render.register
def _create_change_log(action: CreateChangeLog) -> str:
    # The trigger runs with its definer's privileges: the application needs none on the log.
    key = names(action.key)
    values = ", ".join(f"new.{quote(k)}" for k in action.key)
    log_trigger = _create(
        action.table,
        action.trigger,
        "after",
        "update",
        f"insert ignore into {table(action.log)} ({key}) select {values} from dual\n"
        f"  where {_unchanged(action.target)} and {SKIP_BACKFILL}",
        None,
    )
    return (
        f"drop table if exists {table(action.log)};\n"
        f"create table {table(action.log)} (primary key ({key})) engine=InnoDB\n"
        f"  select {key} from {table(action.table)} limit 0;\n"
        f"{log_trigger}"
    )


@render.register
def _drop_change_log(action: DropChangeLog) -> str:
    return f"drop table if exists {table(action.log)}"


@render.register
def _drop_trigger(action: DropTrigger) -> str:
    return (
        f"drop trigger if exists {_trigger_name(action.table, action.name)};\n"
        f"drop trigger if exists {_trigger_name(action.table, action.name + UPDATE_SUFFIX)}"
    )


@render.register
def _drop_function(action: DropFunction) -> str:
    return "do 0"
