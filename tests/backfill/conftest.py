"""Backfill test fixtures: a real streaming replica of the PostgreSQL 15 test server."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import conninfo

from tests.backfill.helpers import reap_spawned, wait_for

REPLICA_PORT = int(os.environ.get("LIVESHIFT_TEST_REPLICA_PORT", "5433"))
# One cluster per test session: two sessions at once (helpers on one machine) must not drop each
# other's replica.
REPLICA_CLUSTER = f"lsreplica{os.getpid()}"
# A physical slot keeps the primary from recycling WAL the replica still needs: without one,
# pg_basebackup failed with "requested WAL segment ... has already been removed" while other
# tests wrote WAL fast. It is dropped with the replica, so it never pins WAL afterwards.
REPLICA_SLOT = f"liveshift_test_replica_{os.getpid()}"


@pytest.fixture(autouse=True)
def _no_runner_left_behind() -> Iterator[None]:
    yield
    reap_spawned()


# -- a real streaming replica of the system PostgreSQL 15 --------------------------------------


def _sh(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, shell=True, capture_output=True, text=True, check=False)


def _must(command: str) -> str:
    result = _sh(command)
    if result.returncode != 0:
        pytest.fail(
            f"setup: `{command}` failed ({result.returncode}): "
            f"{result.stderr.strip() or result.stdout.strip()}",
            pytrace=False,
        )
    return result.stdout


def _free_port(ports: range) -> int:
    import socket

    for port in ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail(f"no free port in {ports}", pytrace=False)


def _drop_stale_slots(primary_url: str) -> None:
    """Slots of test sessions that died before their teardown would pin WAL for ever."""
    with psycopg.connect(primary_url, autocommit=True) as c:
        for (slot,) in c.execute(
            "select slot_name from pg_replication_slots "
            "where slot_name like 'liveshift\\_test\\_replica\\_%' and not active"
        ).fetchall():
            if not Path(f"/proc/{slot.rsplit('_', 1)[-1]}").exists():
                c.execute("select pg_drop_replication_slot(%s)", (slot,))


def _drop_replica(primary_url: str) -> None:
    _sh(f"pg_ctlcluster --skip-systemctl-redirect 15 {REPLICA_CLUSTER} stop -m immediate")
    _sh(f"pg_dropcluster 15 {REPLICA_CLUSTER}")
    with psycopg.connect(primary_url, autocommit=True) as c:
        wait_for(
            lambda: c.execute(
                "select not exists (select from pg_replication_slots "
                "where slot_name = %s and active)",
                (REPLICA_SLOT,),
            ).fetchone()[0]  # type: ignore[index]
        )
        c.execute(
            "select pg_drop_replication_slot(slot_name) from pg_replication_slots "
            "where slot_name = %s",
            (REPLICA_SLOT,),
        )


@pytest.fixture(scope="session")
def replica_url(pg15: Any) -> Iterator[str]:
    """A streaming replica of the PostgreSQL 15 test server on port 5433 or the next free one
    (RECIPES.md), made for this session and dropped after it, also when making it fails. Returns an admin URL of the replica (database `test`)."""
    if shutil.which("pg_createcluster") is None or os.geteuid() != 0:
        pytest.fail("a streaming replica needs the Debian postgresql-common tools and root")
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
    _drop_stale_slots(pg15.admin_url)
    _drop_replica(pg15.admin_url)
    try:
        port = _free_port(range(REPLICA_PORT, REPLICA_PORT + 20))
        data = f"/var/lib/postgresql/15/{REPLICA_CLUSTER}"
        _must(f"pg_createcluster 15 {REPLICA_CLUSTER} --port {port}")
        _must(f"rm -rf {data} && install -d -o postgres -g postgres -m 700 {data}")
        _must(
            f"su postgres -c 'pg_basebackup -h {primary.get('host', '127.0.0.1')} "
            f"-p {primary.get('port', 5432)} -U postgres -D {data} -R -X stream -C -S {REPLICA_SLOT}'"
        )
        _must(f"cp {hba} /etc/postgresql/15/{REPLICA_CLUSTER}/pg_hba.conf")
        _must(f"pg_ctlcluster --skip-systemctl-redirect 15 {REPLICA_CLUSTER} start")
        url = f"postgresql://postgres@127.0.0.1:{port}/test"
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


# -- a private PostgreSQL cluster that tests may stop, crash and restart ----------------------

PG_BIN = Path(os.environ.get("LIVESHIFT_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
SCRATCH_PORTS = range(5441, 5460)


class ScratchCluster:
    """A PostgreSQL cluster of its own (initdb as user postgres, in a temporary directory): the
    shared test servers are never stopped, this one may be, in any way."""

    def __init__(self, data: Path, port: int) -> None:
        self.data, self.port = data, port
        self.admin_url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def pg_ctl(self, *args: str) -> str:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.data}"
        )
        command = " ".join(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.data / "log"), *args]
        )
        if args and args[0] in ("start", "restart"):
            command += f" -o '{options}'"
        return _must(f'su postgres -c "{command}"')

    def start(self) -> None:
        self.pg_ctl("start", "-w", "-t", "60")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("stop", "-m", mode, "-w", "-t", "60")

    def crash_and_restart(self) -> None:
        """An immediate stop (no shutdown checkpoint: the restart replays WAL, as after a crash)."""
        self.stop("immediate")
        self.start()

    def running(self) -> bool:
        return _sh(f'su postgres -c "{PG_BIN / "pg_ctl"} -D {self.data} status"').returncode == 0


@pytest.fixture(scope="session")
def scratch_cluster() -> Iterator[ScratchCluster]:
    if os.geteuid() != 0 or not (PG_BIN / "initdb").exists():
        pytest.fail(f"a scratch cluster needs root and {PG_BIN}/initdb", pytrace=False)
    # Not under pytest's tmp_path: that tree is closed to the postgres user.
    base = Path(tempfile.mkdtemp(prefix="ls-scratch-pg-"))
    data = base / "data"
    cluster = ScratchCluster(data, _free_port(SCRATCH_PORTS))
    try:
        _must(f"chmod 755 {base} && install -d -o postgres -g postgres -m 700 {data}")
        _must(
            f'su postgres -c "{PG_BIN / "initdb"} -D {data} -U postgres --auth=trust -E UTF8 '
            '--no-sync"'
        )
        with open(data / "postgresql.conf", "a") as conf:
            # A crash here is a process crash, not a power cut: fsync buys nothing but time.
            conf.write("\nfsync = off\nshared_buffers = 64MB\nmax_connections = 50\n")
        cluster.start()
        yield cluster
    finally:
        if cluster.running():
            cluster.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def scratch_url(scratch_cluster: ScratchCluster) -> Iterator[str]:
    """A fresh database on the scratch cluster (started again if a test left it stopped)."""
    if not scratch_cluster.running():
        scratch_cluster.start()
    name = f"ls_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(scratch_cluster.admin_url, autocommit=True) as c:
        c.execute(f'create database "{name}"')
    params = conninfo.conninfo_to_dict(scratch_cluster.admin_url)
    params["dbname"] = name
    yield conninfo.make_conninfo("", **params)
    if not scratch_cluster.running():
        scratch_cluster.start()
    with psycopg.connect(scratch_cluster.admin_url, autocommit=True) as c:
        c.execute(f'drop database if exists "{name}" with (force)')
