"""Backfill test fixtures: a real streaming replica of the PostgreSQL 15 test server."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import conninfo

from tests.backfill.helpers import wait_for

REPLICA_PORT = int(os.environ.get("LIVESHIFT_TEST_REPLICA_PORT", "5433"))
REPLICA_CLUSTER = "lsreplica"
# A physical slot keeps the primary from recycling WAL the replica still needs: without one,
# pg_basebackup failed with "requested WAL segment ... has already been removed" while other
# tests wrote WAL fast. The slot is dropped with the replica so it never pins WAL afterwards.
REPLICA_SLOT = "liveshift_test_replica"


# -- a real streaming replica of the system PostgreSQL 15 --------------------------------------


def _sh(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, shell=True, capture_output=True, text=True, check=False)


def _must(command: str) -> str:
    result = _sh(command)
    if result.returncode != 0:
        pytest.fail(
            f"replica setup: `{command}` failed ({result.returncode}): "
            f"{result.stderr.strip() or result.stdout.strip()}",
            pytrace=False,
        )
    return result.stdout


def _drop_replica(primary_url: str) -> None:
    _sh(f"pg_ctlcluster --skip-systemctl-redirect 15 {REPLICA_CLUSTER} stop -m immediate")
    _sh(f"pg_dropcluster 15 {REPLICA_CLUSTER}")
    with psycopg.connect(primary_url, autocommit=True) as c:
        c.execute(
            "select pg_drop_replication_slot(slot_name) from pg_replication_slots "
            "where slot_name = %s and not active",
            (REPLICA_SLOT,),
        )


@pytest.fixture(scope="session")
def replica_url(pg15: Any) -> Iterator[str]:
    """A streaming replica of the PostgreSQL 15 test server on port 5433 (RECIPES.md), made for
    this session and dropped after it. Returns an admin URL of the replica (database `test`)."""
    if shutil.which("pg_createcluster") is None or os.geteuid() != 0:
        pytest.fail("a streaming replica needs the Debian postgresql-common tools and root")
    # One replica cluster per machine: a second test run (another checkout) waits here instead of
    # dropping the cluster under the first one.
    with open("/tmp/liveshift-test-replica.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield from _replica(pg15)


def _replica(pg15: Any) -> Iterator[str]:
    primary = conninfo.conninfo_to_dict(pg15.admin_url)
    with psycopg.connect(pg15.admin_url, autocommit=True) as c:
        hba = str(c.execute("show hba_file").fetchone()[0])  # type: ignore[index]
        # pg_basebackup needs a replication entry; the test server's pg_hba.conf has none.
        if "replication" not in "".join(
            line for line in Path(hba).read_text().splitlines() if not line.startswith("#")
        ):
            with open(hba, "a") as f:
                f.write("\nhost replication all 127.0.0.1/32 trust\n")
            c.execute("select pg_reload_conf()")
    _drop_replica(pg15.admin_url)
    data = f"/var/lib/postgresql/15/{REPLICA_CLUSTER}"
    _must(f"pg_createcluster 15 {REPLICA_CLUSTER} --port {REPLICA_PORT}")
    _must(f"rm -rf {data} && install -d -o postgres -g postgres -m 700 {data}")
    _must(
        f"su postgres -c 'pg_basebackup -h {primary.get('host', '127.0.0.1')} "
        f"-p {primary.get('port', 5432)} -U postgres -D {data} -R -X stream -C -S {REPLICA_SLOT}'"
    )
    _must(f"cp {hba} /etc/postgresql/15/{REPLICA_CLUSTER}/pg_hba.conf")
    _must(f"pg_ctlcluster --skip-systemctl-redirect 15 {REPLICA_CLUSTER} start")
    try:
        url = f"postgresql://postgres@127.0.0.1:{REPLICA_PORT}/test"
        with psycopg.connect(pg15.admin_url, autocommit=True) as c:
            wait_for(
                lambda: c.execute(
                    "select count(*) from pg_stat_replication where state = 'streaming' "
                    "and application_name = %s",
                    (f"15/{REPLICA_CLUSTER}",),
                ).fetchone()[0]  # type: ignore[index]
            )
        yield url
    finally:
        _drop_replica(pg15.admin_url)
