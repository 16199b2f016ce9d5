"""SQL for the triggers that keep old and new application versions consistent during a migration."""

from __future__ import annotations

from dataclasses import dataclass

from liveshift.schema import Table, quote_ident, quote_literal
from liveshift.sqlexpr import rewrite_columns

# The backfill sets this in its own transactions: its rows already carry the value it computed,
# so the trigger's WHEN clause skips them without entering PL/pgSQL at all.
BACKFILL_SETTING = "liveshift.backfill"
SKIP_BACKFILL = f"current_setting('{BACKFILL_SETTING}', true) is distinct from 'on'"
# `backfill_triggers: skip`: the backfill and its catch-up set this in their transactions, under
# which the table's ordinary triggers do not fire (operations/table_triggers.py).
REPLICA_ROLE = ("session_replication_role", "replica")


def on_version(version_schema: str) -> str:
    """A PL/pgSQL condition: the writing session uses the migration's version schema."""
    return (
        f"{quote_literal(version_schema)} = any (string_to_array("
        "replace(replace(current_setting('search_path'), '\"', ''), ' ', ''), ','))"
    )


def sync_function(
    *,
    function: str,
    version_schema: str,
    target: str,
    expression: str,
    fill_nulls_from_new_version: bool,
) -> str:
    """The trigger function: `target` from `expression` for rows written by old-version clients,
    and (optionally) for new-version updates of rows the backfill has not reached yet, so that a
    NOT VALID NOT NULL check never rejects them."""
    value = rewrite_columns(expression, qualifier="new", what="up")
    target_ref = f"new.{quote_ident(target)}"
    new_version_branch = ""
    if fill_nulls_from_new_version:
        new_version_branch = (
            f"  elsif tg_op = 'UPDATE' and {target_ref} is null "
            f"and old.{quote_ident(target)} is null then\n"
            f"    {target_ref} := {value};\n"
        )
    return (
        f"create or replace function {function}() returns trigger\n"
        "language plpgsql as $liveshift$\n"
        "begin\n"
        f"  if not {on_version(version_schema)} then\n"
        f"    {target_ref} := {value};\n"
        f"{new_version_branch}"
        "  end if;\n"
        "  return new;\n"
        "end\n"
        "$liveshift$"
    )


def _unchanged(target: str) -> str:
    """The row's `target` is what it was: the statement did not set it (the backfill does)."""
    return f"old.{quote_ident(target)} is not distinct from new.{quote_ident(target)}"


def insert_trigger(table: Table, name: str, function: str) -> str:
    """The backfill never inserts, so the INSERT trigger has no condition."""
    return (
        f"drop trigger if exists {quote_ident(name)} on {table.qualified};\n"
        f"create trigger {quote_ident(name)} before insert on {table.qualified}\n"
        f"  for each row execute function {function}()"
    )


def update_trigger(table: Table, name: str, function: str, target: str) -> str:
    """The UPDATE trigger skips rows whose `target` the statement changed: the backfill's own rows
    (NULL to their value), and new-version writes of the column, which the function would leave
    alone anyway. That test is a comparison of two values in the row, where a `current_setting`
    call for every row the backfill writes cost it several percent of its speed
    (bench/trigger_cost.py). The setting is still checked after it, for a backfill of another
    column of the same table.

    Its condition does not spare the rows the tuple lock, though: while any BEFORE UPDATE row
    trigger exists on a table, every UPDATE locks each row before it writes it (a WAL record
    per row). Hence the change log below, for backfills on a key."""
    unchanged = _unchanged(target)
    return (
        f"drop trigger if exists {quote_ident(name)} on {table.qualified};\n"
        f"create trigger {quote_ident(name)} before update on {table.qualified}\n"
        f"  for each row when ({unchanged} and {SKIP_BACKFILL}) execute function {function}()"
    )


@dataclass(frozen=True)
class ChangeLog:
    """The change log of one column's backfill: a table `log` of the keys of rows old clients
    update while the backfill runs (each key once, however often its row is updated), filled by an
    AFTER UPDATE trigger. It stands in for the BEFORE UPDATE trigger until the backfill is done,
    so that the backfill's own rows are not each locked before they are written; the rows it names
    are recomputed afterwards (the catch-up step)."""

    log: str  # schema-qualified, quoted
    function: str  # schema-qualified, quoted
    trigger: str  # on the table, unquoted

    def create(self, table: Table, *, target: str, key: tuple[str, ...]) -> str:
        """The log keyed on `key`, its function and trigger. The trigger skips what the BEFORE
        UPDATE trigger skips: rows whose `target` the statement changed (the backfill's), and a
        backfill of another column. Its function is SECURITY DEFINER: the application's role
        needs no privilege on the log."""
        columns = ", ".join(quote_ident(k) for k in key)
        values = ", ".join(f"new.{quote_ident(k)}" for k in key)
        unchanged = _unchanged(target)
        return (
            f"drop table if exists {self.log};\n"
            f"create table {self.log} as select {columns} from only {table.qualified} "
            "with no data;\n"
            f"alter table {self.log} add primary key ({columns});\n"
            f"create or replace function {self.function}() returns trigger\n"
            "language plpgsql security definer set search_path = pg_catalog, pg_temp "
            "as $liveshift$\n"
            "begin\n"
            f"  insert into {self.log} ({columns}) values ({values}) on conflict do nothing;\n"
            "  return null;\n"
            "end\n"
            "$liveshift$;\n"
            f"{self.drop_trigger(table)};\n"
            f"create trigger {quote_ident(self.trigger)} after update on {table.qualified}\n"
            f"  for each row when ({unchanged} and {SKIP_BACKFILL}) "
            f"execute function {self.function}()"
        )

    def drop_trigger(self, table: Table) -> str:
        return f"drop trigger if exists {quote_ident(self.trigger)} on {table.qualified}"

    def drop(self) -> list[str]:
        """The log and its function (after its trigger)."""
        return [f"drop table if exists {self.log}", f"drop function if exists {self.function}()"]
