"""Database adapters: one module per engine, each stating its capabilities."""

from __future__ import annotations

from liveshift.adapters.base import Capabilities
from liveshift.adapters.postgres import POSTGRES

ADAPTERS = {"postgresql": POSTGRES, "postgres": POSTGRES}

__all__ = ["ADAPTERS", "Capabilities"]
