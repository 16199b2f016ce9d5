"""Actions on the triggers and functions that keep old and new application versions in step."""

from __future__ import annotations

from dataclasses import dataclass

from liveshift.operations.actions import Action


@dataclass(frozen=True, kw_only=True)
class CreateSyncFunction(Action):
    """The function behind a column's sync triggers: `target` computed from `expression` (over
    the table's physical column names) for rows old-version clients write, and, with
    `fill_nulls_from_new_version`, for new-version updates of rows the backfill has not reached
    yet (so a NOT VALID NOT NULL check never rejects them)."""

    function: str  # qualified
    version_schema: str
    target: str
    expression: str
    fill_nulls_from_new_version: bool


@dataclass(frozen=True, kw_only=True)
class CreateTwoWaySyncFunction(Action):
    """The function that keeps an old and a new column in step: new-version writes compute `old`
    from `down`, old-version writes compute `new` from `up` (over physical names); a new-version
    write of a row whose `new` is still empty (not backfilled yet; with `fill_new_on_insert`, an
    insert that left it out) fills `new` from `up` instead."""

    function: str  # qualified
    version_schema: str
    old: str
    new: str
    up: str
    down: str
    fill_new_on_insert: bool = False


@dataclass(frozen=True, kw_only=True)
class CreateDownFillFunction(Action):
    """The function that fills a dropped column, which new-version clients no longer see, from
    `expression` (over physical names): for their inserts, and for their updates of a row whose
    `target` is empty (never overwriting what old clients wrote into it)."""

    function: str  # qualified
    version_schema: str
    target: str
    expression: str


@dataclass(frozen=True, kw_only=True)
class SyncInsertTrigger(Action):
    """(Re)create the BEFORE INSERT trigger that runs a sync function (the backfill never
    inserts, so it has no condition)."""

    table: str  # qualified
    name: str
    function: str  # qualified


@dataclass(frozen=True, kw_only=True)
class SyncUpdateTrigger(Action):
    """(Re)create the BEFORE UPDATE trigger that runs a sync function for rows whose `target` the
    statement left alone, outside a backfill."""

    table: str  # qualified
    name: str
    function: str  # qualified
    target: str


@dataclass(frozen=True, kw_only=True)
class VersionSyncTrigger(Action):
    """(Re)create the BEFORE INSERT (and, with `update`, UPDATE) trigger of a function that
    tells the versions' writes apart (two-way sync, down fill), skipping a backfill's writes."""

    table: str  # qualified
    name: str
    function: str  # qualified
    update: bool


@dataclass(frozen=True, kw_only=True)
class CreateChangeLog(Action):
    """A change log: the table `log` of the `key` of rows old clients update while a backfill of
    `target` runs, filled by an AFTER UPDATE trigger through a SECURITY DEFINER function."""

    table: str  # qualified
    log: str  # qualified
    function: str  # qualified
    trigger: str
    target: str
    key: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class DropChangeLog(Action):
    """The change log's table and function (after its trigger)."""

    log: str  # qualified
    function: str  # qualified


@dataclass(frozen=True, kw_only=True)
class DropTrigger(Action):
    """Drop a trigger of `table` if it exists."""

    table: str  # qualified
    name: str


@dataclass(frozen=True, kw_only=True)
class DropFunction(Action):
    """Drop a function taking no arguments (a trigger function, or liveshift's own helper)."""

    function: str  # qualified
    if_exists: bool = True
