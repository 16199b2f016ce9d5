"""SQL for the triggers that keep old and new application versions consistent during a migration."""

from __future__ import annotations

from liveshift.schema import Table, quote_ident, quote_literal
from liveshift.sqlexpr import rewrite_columns

# The backfill sets this in its own transactions: its rows already carry the value it computed,
# so the trigger's WHEN clause skips them without entering PL/pgSQL at all.
BACKFILL_SETTING = "liveshift.backfill"
SKIP_BACKFILL = f"current_setting('{BACKFILL_SETTING}', true) is distinct from 'on'"


def on_version(version_schema: str) -> str:
    """A PL/pgSQL condition: the writing session uses the migration's version schema."""
    return (
        f"{quote_literal(version_schema)} = any (string_to_array("
        "replace(replace(current_setting('search_path'), '\"', ''), ' ', ''), ','))"
    )


def old_version_sync_trigger(
    *,
    table: Table,
    function: str,
    triggers: tuple[str, str],
    version_schema: str,
    target: str,
    expression: str,
    fill_nulls_from_new_version: bool,
) -> str:
    """BEFORE INSERT and BEFORE UPDATE triggers (names in that order) that set `target` from
    `expression` for rows written by old-version clients, and (optionally) for new-version updates
    of rows the backfill has not reached yet, so that a NOT VALID NOT NULL check never rejects them.

    The backfill never inserts, so the INSERT trigger has no condition. The UPDATE trigger skips
    rows whose `target` the statement changed: the backfill's own rows (NULL to their value), and
    new-version writes of the column, which the function would leave alone anyway. That test is a
    comparison of two values in the row, where a `current_setting` call for every row the backfill
    writes cost it several percent of its speed (bench/trigger_cost.py). The setting is still
    checked after it, for a backfill of another column of the same table."""
    value = rewrite_columns(expression, qualifier="new", what="up")
    target_ref = f"new.{quote_ident(target)}"
    new_version_branch = ""
    if fill_nulls_from_new_version:
        new_version_branch = (
            f"  elsif tg_op = 'UPDATE' and {target_ref} is null "
            f"and old.{quote_ident(target)} is null then\n"
            f"    {target_ref} := {value};\n"
        )
    on_insert, on_update = triggers
    unchanged = f"old.{quote_ident(target)} is not distinct from {target_ref}"
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
        "$liveshift$;\n"
        f"drop trigger if exists {quote_ident(on_insert)} on {table.qualified};\n"
        f"create trigger {quote_ident(on_insert)} before insert on {table.qualified}\n"
        f"  for each row execute function {function}();\n"
        f"drop trigger if exists {quote_ident(on_update)} on {table.qualified};\n"
        f"create trigger {quote_ident(on_update)} before update on {table.qualified}\n"
        f"  for each row when ({unchanged} and {SKIP_BACKFILL}) execute function {function}()"
    )
