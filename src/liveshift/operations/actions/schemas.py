"""Actions on schemas (namespaces): the version schemas new clients read through."""

from __future__ import annotations

from dataclasses import dataclass

from liveshift.operations.actions import Action


@dataclass(frozen=True, kw_only=True)
class CreateSchema(Action):
    """Make a schema unless it is there."""

    name: str


@dataclass(frozen=True, kw_only=True)
class DropSchema(Action):
    """Drop a schema if it is there, with everything in it."""

    name: str
