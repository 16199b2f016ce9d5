"""The embedded default: a real PostgreSQL from PyPI (pgserver), kept in ./.liveshift/."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from liveshift.errors import DatabaseError

DEFAULT_DIR = Path(".liveshift") / "pgdata"


def embedded_url(data_dir: Path | str | None = None, *, announce: bool = True) -> str:
    """Start (or reuse) the embedded server and return a URL for its `postgres` database.

    The server keeps running after this process ends, so the next command finds it warm; the data
    directory persists, so state (and a half-done backfill) survives a crash of liveshift itself.
    """
    directory = Path(data_dir or os.environ.get("LIVESHIFT_EMBEDDED_DIR") or DEFAULT_DIR).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        try:
            import pgserver
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            raise DatabaseError(
                "The embedded PostgreSQL is not available: the `pgserver` package is not installed.",
                hint="Install it (pip install pgserver) or give a database with --database-url.",
            ) from exc
        try:
            server = pgserver.get_server(directory, cleanup_mode=None)  # type: ignore[attr-defined]
        except Exception as exc:
            raise DatabaseError(
                f"The embedded PostgreSQL in {directory} did not start: {exc}",
                hint="Remove that directory to start afresh (its data is lost), or give a database "
                "with --database-url.",
            ) from exc
    url: str = server.get_uri()
    _settle(directory, url)
    if announce:
        print(f"liveshift: using the embedded PostgreSQL in {directory}", file=sys.stderr)
    return url


def _settle(directory: Path, url: str) -> None:
    """Once per data directory: WAL segments are created without zero-filling them. A new cluster
    has two segments; its first heavy write (the demo's backfill) makes thirty more, and writing
    16 MB of zeros for each one stalled every commit behind it, tripling the application's p99 on
    the first run only. Servers in production recycle their segments and never see it; ZFS-like
    file systems are run this way anyway."""
    auto_conf = directory / "postgresql.auto.conf"
    if auto_conf.is_file() and "wal_init_zero" in auto_conf.read_text(errors="replace"):
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("alter system set wal_init_zero = off")
        conn.execute("select pg_reload_conf()")
