"""The embedded default: a real PostgreSQL from PyPI (pgserver), kept in ./.liveshift/."""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from liveshift.errors import DatabaseError

DEFAULT_DIR = Path(".liveshift") / "pgdata"


def embedded_url(data_dir: Path | str | None = None, *, announce: bool = True) -> str:
    """Start (or reuse) the embedded server and return a URL for its `postgres` database.

    The server keeps running after this process ends, so the next command finds it warm; the data
    directory persists, so state (and a half-done backfill) survives a crash of liveshift itself.
    `liveshift embedded stop` stops it (stop_embedded).
    """
    directory = embedded_directory(data_dir)
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
        print(
            f"liveshift: using the embedded PostgreSQL in {directory} (it keeps running; "
            "`liveshift embedded stop` stops it)",
            file=sys.stderr,
        )
    return url


def embedded_directory(data_dir: Path | str | None = None) -> Path:
    """The embedded server's data directory: `data_dir`, else $LIVESHIFT_EMBEDDED_DIR, else
    ./.liveshift/pgdata."""
    return Path(data_dir or os.environ.get("LIVESHIFT_EMBEDDED_DIR") or DEFAULT_DIR).resolve()


@dataclass(frozen=True)
class RunningServer:
    """An embedded server that runs, as its postmaster.pid describes it."""

    pid: int
    port: int
    socket_dir: str
    started: datetime


def running_server(directory: Path) -> RunningServer | None:
    """The server running on `directory`, or None (no postmaster.pid, or its process is gone)."""
    try:
        lines = (directory / "postmaster.pid").read_text().splitlines()
        pid, started, port = int(lines[0]), int(lines[2]), int(lines[3])
        socket_dir = lines[4] if len(lines) > 4 else ""
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # a stale file: the server died without removing it
    except PermissionError:
        pass  # it runs, as another user
    return RunningServer(pid, port, socket_dir, datetime.fromtimestamp(started))


def stop_embedded(directory: Path) -> bool:
    """Stop the server running on `directory` (pg_ctl stop -m fast: open sessions are ended, their
    transactions roll back, the data stays); False when none runs."""
    import subprocess

    if running_server(directory) is None:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH
    owner = None
    if os.geteuid() == 0:  # PostgreSQL does not run as root: pgserver runs it as the owner
        import pwd

        owner = pwd.getpwuid(directory.stat().st_uid).pw_name
    result = subprocess.run(
        [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(directory), "-m", "fast", "-w", "stop"],
        capture_output=True,
        text=True,
        user=owner,
        check=False,
    )
    if result.returncode != 0 and running_server(directory) is not None:
        raise DatabaseError(
            f"the embedded PostgreSQL in {directory} did not stop: "
            f"{(result.stderr or result.stdout).strip()}",
            hint="Stop it by hand: pg_ctl -D DIR stop -m immediate, or kill its postmaster.",
        )
    return True


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
