"""Database engines, one folder each, registered by the URL schemes they serve."""

from __future__ import annotations

from liveshift.engines.base import Capabilities, Connection, Engine
from liveshift.engines.mysql import MYSQL
from liveshift.engines.postgres import POSTGRES
from liveshift.errors import ConfigError

ENGINES: dict[str, Engine] = {scheme: e for e in (POSTGRES, MYSQL) for scheme in e.schemes}


def scheme_of(url: str) -> str:
    """The URL's scheme; a libpq key=value string (no `://`) is PostgreSQL's."""
    return url.split(":", 1)[0].lower() if "://" in url else "postgresql"


def engine_for(url: str) -> Engine:
    """The engine that serves `url`, or a clear error naming the schemes there are."""
    scheme = scheme_of(url)
    engine = ENGINES.get(scheme)
    if engine is None:
        raise ConfigError(
            f"unknown database URL scheme {scheme!r}",
            hint="Use postgresql://user@host:port/dbname (or "
            + ", ".join(f"{s}://" for s in sorted(ENGINES) if s != "postgresql")
            + ").",
        )
    return engine


__all__ = ["ENGINES", "Capabilities", "Connection", "Engine", "engine_for", "scheme_of"]
