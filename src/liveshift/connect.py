"""Which database to talk to, through which engine, with a clear error when it fails."""

from __future__ import annotations

import os

from liveshift.engines import Connection, engine_for

ENV_VARIABLES = ("LIVESHIFT_DATABASE_URL", "DATABASE_URL")


def resolve_url(url: str | None) -> str:
    """--database-url, else $LIVESHIFT_DATABASE_URL, else $DATABASE_URL, else the embedded server."""
    for candidate in (url, *(os.environ.get(v) for v in ENV_VARIABLES)):
        if candidate:
            engine_for(candidate)  # an unknown scheme is refused before anything else
            return candidate
    from liveshift.embedded import embedded_url

    return embedded_url()


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return engine_for(url).redact(url)


def connect(url: str, application_name: str = "liveshift", timeout_s: int = 10) -> Connection:
    """An autocommit connection through the URL's engine; steps open their own transactions."""
    return engine_for(url).connect(url, application_name, timeout_s)
