"""Actions on the views of a version schema: each shows one table under one version's names."""

from __future__ import annotations

from dataclasses import dataclass

from liveshift.operations.actions import Action


@dataclass(frozen=True, kw_only=True)
class CreateVersionView(Action):
    """Make (or replace) the view `schema`.`name` over `table`: `columns` pairs each physical
    column with the name the version gives it. `security_invoker`: the view checks the privileges
    of whoever queries it, not its owner's (where the server has it)."""

    schema: str
    name: str
    table: str  # qualified
    columns: tuple[tuple[str, str], ...]  # (physical, shown as)
    security_invoker: bool


@dataclass(frozen=True, kw_only=True)
class DropView(Action):
    """Drop the view `schema`.`name` if it is there."""

    schema: str
    name: str


@dataclass(frozen=True, kw_only=True)
class SaveViewGrants(Action):
    """Remember, for the transaction, the privileges granted on the view `schema`.`name` (in
    `slot`), before it is dropped and made again: `RestoreViewGrants` grants them again."""

    schema: str
    name: str
    slot: int


@dataclass(frozen=True, kw_only=True)
class RestoreViewGrants(Action):
    """Grant again on the view `schema`.`name` what `SaveViewGrants` remembered in `slot`."""

    schema: str
    name: str
    slot: int
