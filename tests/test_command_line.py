"""The `liveshift` program as a Unix tool: closed pipes, options anywhere, piped output, a busy
runner lock, summaries and messages that say what happened, the embedded server's lifecycle."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

Conn = psycopg.Connection[Any]
LIVESHIFT = str(Path(sys.executable).with_name("liveshift"))
EMBEDDED_DIR = Path(os.environ.get("LIVESHIFT_TEST_EMBEDDED_DIR", "/tmp/liveshift-test-pg16"))


def env(url: str | None = None, **extra: str) -> dict[str, str]:
    variables = {
        k: v for k, v in os.environ.items() if k not in ("LIVESHIFT_DATABASE_URL", "DATABASE_URL")
    }
    if url:
        variables["LIVESHIFT_DATABASE_URL"] = url
    variables.update(extra)
    return variables


def run(
    *args: str, url: str | None = None, cwd: Path | None = None, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LIVESHIFT, *args],
        capture_output=True,
        text=True,
        env=env(url, **extra),
        cwd=cwd,
        timeout=300,
        check=False,
    )


def spawn(*args: str, url: str | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [LIVESHIFT, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(url),
    )


@pytest.fixture
def users(conn: Conn) -> Conn:
    conn.execute(
        "create table users (id int primary key, name text not null); "
        "insert into users select g, 'u' || g from generate_series(1, 300) g"
    )
    return conn


def add_column_file(directory: Path, name: str, column: str = "email") -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(
        "operations:\n  - add_column:\n      table: users\n      column: {name: "
        f"{column}, type: text, nullable: false}}\n      up: \"name || '@example.com'\"\n"
    )
    return path


# -- closed pipes -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["lint --list-rules", "plan", "history", "status"])
def test_a_closed_pipe_ends_the_command_quietly_by_sigpipe(
    pg_url: str, users: Conn, tmp_path: Path, command: str
) -> None:
    """`liveshift ... | head -1`: the reader goes away before liveshift writes. It ends like any
    Unix tool then (killed by SIGPIPE: status 141 in a shell), with nothing on stderr."""
    migration = add_column_file(tmp_path, "0001_add_email")
    assert run("start", str(migration), "--complete", url=pg_url).returncode == 0
    other = add_column_file(tmp_path, "0002_add_mail", "mail")
    args = command.split() + ([str(other)] if command == "plan" else [])
    process = spawn(*args, url=pg_url)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before the first write
    stderr = process.stderr.read()
    process.stderr.close()
    process.wait(timeout=120)
    assert process.returncode == -signal.SIGPIPE, stderr
    assert stderr == ""


def test_help_into_a_closed_pipe_is_quiet() -> None:
    """argparse itself ignores a closed pipe while printing help: status 0, nothing on stderr."""
    for args in (["--help"], ["start", "--help"], ["lint", "--help"]):
        process = spawn(*args)
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        stderr = process.stderr.read()
        process.stderr.close()
        assert process.wait(timeout=60) in (0, -signal.SIGPIPE)
        assert stderr == ""


# -- options before or after the command ------------------------------------------------------


def test_common_options_go_before_or_after_the_command(pg_url: str, users: Conn) -> None:
    after = run("status", "--json", "--schema", "public", "--database-url", pg_url)
    before = run("--database-url", pg_url, "--schema", "public", "status", "--json")
    mixed = run("--json", f"--database-url={pg_url}", "--lock-timeout", "1s", "status", "--debug")
    for result in (after, before, mixed):
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["schema"] == "public"
    # Before the command, as after it, the option is used: a wrong URL is refused the same way.
    wrong = "postgresql://postgres@127.0.0.1:1/nowhere"
    for args in (("--database-url", wrong, "status"), ("status", "--database-url", wrong)):
        refused = run(*args, url=pg_url)
        assert refused.returncode == 3 and "cannot connect" in refused.stderr, refused.stderr
    # lint too: its --database-url only goes with --trace, wherever it is written.
    lint = run("--database-url", pg_url, "lint", "-", "--no-cache")
    assert lint.returncode == 2 and "only used with --trace" in lint.stderr


# -- piped output -----------------------------------------------------------------------------


def test_piped_history_and_plan_are_never_cut_or_wrapped(
    pg_url: str, users: Conn, tmp_path: Path
) -> None:
    name = "0003_add_the_email_address_of_every_user_now"
    migration = add_column_file(tmp_path, name)
    plan = run("plan", str(migration), url=pg_url)
    assert plan.returncode == 0, plan.stderr
    assert run("start", str(migration), "--complete", url=pg_url).returncode == 0
    recorded = users.execute(
        "select version_schema, to_char(started_at, 'YYYY-MM-DD HH24:MI:SS') "
        "from liveshift.migrations"
    ).fetchone()
    assert recorded is not None
    first = plan.stdout.splitlines()[0]  # longer than 80 columns, on one line
    assert first == f"{name} on schema public; new clients will use search_path {recorded[0]}"
    history = run("history", url=pg_url)
    assert history.returncode == 0, history.stderr
    row = next(line for line in history.stdout.splitlines() if name in line)
    assert recorded[1] in row and len(row) > 80
    assert "…" not in history.stdout and "..." not in history.stdout


# -- status -----------------------------------------------------------------------------------


def test_status_after_start_shows_steps_rate_and_version_schema(
    pg_url: str, users: Conn, tmp_path: Path
) -> None:
    migration = add_column_file(tmp_path, "0001_add_email")
    assert run("start", str(migration), url=pg_url).returncode == 0
    status = json.loads(run("status", "--json", url=pg_url).stdout)
    journaled = users.execute(
        "select count(*) filter (where status = 'done'), count(*) from liveshift.steps "
        "where phase = 'start'"
    ).fetchone()
    planned = users.execute(
        "select jsonb_array_length(plan -> 'start'), version_schema from liveshift.migrations"
    ).fetchone()
    assert planned is not None and journaled is not None
    assert status["active"]["phase"] == "started"
    assert status["active"]["steps_done"] == journaled[0] == planned[0]
    assert status["active"]["steps_total"] == planned[0]
    text = run("status", url=pg_url).stdout
    assert f"new clients use search_path {planned[1]}" in text
    assert f"steps done: {planned[0]}/{planned[0]}" in text
    backfill = status["active"]["backfills"][0]
    line = next(x for x in text.splitlines() if "backfill users.email (new version)" in x)
    assert f"{backfill['rows_done']:,}/{backfill['rows_total']:,} rows" in line
    assert "finished" in line and f"last batch {backfill['batch_size']:,} rows" in line


# -- the runner lock ----------------------------------------------------------------------------


@pytest.fixture
def lock_holder(pg_url: str, users: Conn) -> Iterator[Conn]:
    """Another session holding the runner lock of schema public, as a runner does."""
    with psycopg.connect(pg_url, autocommit=True, application_name="other-runner") as holder:
        holder.execute("select pg_advisory_lock(hashtext('liveshift'), hashtext('public'))")
        yield holder


def test_a_second_runner_says_at_once_who_holds_the_lock_and_waits_visibly(
    pg_url: str, lock_holder: Conn, tmp_path: Path
) -> None:
    migration = add_column_file(tmp_path, "0001_add_email")
    process = spawn("start", str(migration), "--wait", "5min", "--progress", "plain", url=pg_url)
    assert process.stderr is not None
    line = process.stderr.readline()  # said before any wait, not after it
    pid = lock_holder.info.backend_pid
    seen = lock_holder.execute(
        "select application_name, coalesce(host(client_addr), 'local socket') "
        "from pg_stat_activity where pid = %s",
        (pid,),
    ).fetchone()
    assert seen is not None
    assert f"pid {pid} ({seen[0]}, from {seen[1]}, connected since" in line, line
    assert "waiting up to 300s for it to finish (--wait)" in line
    lock_holder.execute("select pg_advisory_unlock(hashtext('liveshift'), hashtext('public'))")
    _, rest = process.communicate(timeout=120)
    assert process.returncode == 0, rest
    assert lock_holder.execute("select count(*) from liveshift.migrations").fetchone() == (1,)


def test_ctrl_c_stops_a_runner_waiting_for_the_lock(
    pg_url: str, lock_holder: Conn, tmp_path: Path
) -> None:
    migration = add_column_file(tmp_path, "0001_add_email")
    process = spawn("start", str(migration), "--wait", "10min", "--progress", "plain", url=pg_url)
    assert process.stderr is not None
    assert "waiting up to 600s" in process.stderr.readline()
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=60)
    assert process.returncode == 3, rest
    assert "stopped while waiting for the runner lock of schema 'public'; nothing ran" in rest
    assert lock_holder.execute("select count(*) from liveshift.migrations").fetchone() == (0,)


def test_a_second_runner_exits_2_naming_the_holder_and_its_migration(
    pg15_url: str, tmp_path: Path
) -> None:
    """Without --wait: the grace wait for a runner that has just died is said, then exit 2."""
    with psycopg.connect(pg15_url, autocommit=True) as conn:
        conn.execute("create table users (id int primary key, name text not null)")
    first = add_column_file(tmp_path, "0001_add_email")
    assert run("start", str(first), url=pg15_url).returncode == 0
    with psycopg.connect(pg15_url, autocommit=True, application_name="other-runner") as holder:
        holder.execute("select pg_advisory_lock(hashtext('liveshift'), hashtext('public'))")
        result = run("rollback", url=pg15_url)
        pid = holder.info.backend_pid
    assert result.returncode == 2, result.stderr
    assert "in case that runner has just died" in result.stderr
    assert f"pid {pid} (other-runner" in result.stderr
    assert "on migration '0001_add_email' (phase started)" in result.stderr
    assert "--wait DURATION" in result.stderr
    with psycopg.connect(pg15_url, autocommit=True) as conn:
        phase = conn.execute("select phase from liveshift.migrations").fetchone()
    assert phase == ("started",)  # nothing ran


# -- messages that say what happened ------------------------------------------------------------


def test_rollback_after_complete_names_the_completed_migration(
    pg_url: str, users: Conn, tmp_path: Path
) -> None:
    migration = add_column_file(tmp_path, "0001_add_email")
    assert run("start", str(migration), "--complete", url=pg_url).returncode == 0
    completed = users.execute(
        "select to_char(completed_at, 'YYYY-MM-DD HH24:MI:SS') from liveshift.migrations"
    ).fetchone()
    assert completed is not None
    result = run("rollback", url=pg_url)
    assert result.returncode == 2
    assert f"the last one, '0001_add_email', completed at {completed[0]}" in result.stderr
    assert "undone by a new migration" in result.stderr
    history = run("history", "--json", url=pg_url)  # the command the hint names works
    assert history.returncode == 0 and json.loads(history.stdout)[0]["phase"] == "complete"


def test_migrate_stopping_at_a_broken_file_says_what_was_applied(
    pg_url: str, users: Conn, tmp_path: Path
) -> None:
    add_column_file(tmp_path, "0001_a", "a")
    (tmp_path / "0002_b.yaml").write_text(
        "operations:\n  - add_column: {table: nobody, column: {name: b, type: text}}\n"
    )
    add_column_file(tmp_path, "0003_c", "c")
    result = run("migrate", str(tmp_path), url=pg_url)
    assert result.returncode == 2, result.stderr
    assert "there is no table 'nobody'" in result.stderr
    assert (
        "1 applied (0001_a.yaml), 0 skipped as applied before, failed: 0002_b.yaml, "
        "not run: 1 (0003_c.yaml)" in result.stderr
    )
    assert "run the same `liveshift migrate` again" in result.stderr
    phases = users.execute("select name, phase from liveshift.migrations order by id").fetchall()
    assert phases == [("0001_a", "complete")]

    (tmp_path / "0002_b.yaml").write_text(
        "operations:\n  - add_column: {table: users, column: {name: b, type: text}}\n"
    )
    again = run("migrate", str(tmp_path), url=pg_url)
    assert again.returncode == 0, again.stderr
    assert (
        "2 applied (0002_b.yaml, 0003_c.yaml), 1 skipped as applied before (0001_a.yaml)"
        in again.stdout
    )


def test_migrate_refusing_an_unreadable_file_says_nothing_ran(pg_url: str, tmp_path: Path) -> None:
    add_column_file(tmp_path, "0001_a", "a")
    (tmp_path / "0002_b.yaml").write_text("operations: [\n")
    result = run("migrate", str(tmp_path), url=pg_url)
    assert result.returncode == 2, result.stderr
    assert "0 applied, 0 skipped as applied before, failed: 0002_b.yaml" in result.stderr
    assert "not run: 1 (0001_a.yaml)" in result.stderr


def test_lint_of_a_missing_file_claims_no_success(tmp_path: Path) -> None:
    missing = run("lint", "--no-cache", str(tmp_path / "nonexistent.sql"))
    assert missing.returncode == 2
    assert "No problems" not in missing.stdout
    assert "Nothing linted: 1 input could not be read." in missing.stdout
    (tmp_path / "ok.sql").write_text("select 1;\n")
    some = run("lint", "--no-cache", str(tmp_path / "ok.sql"), str(tmp_path / "nonexistent.sql"))
    assert some.returncode == 2
    assert "No problems in 1 file. 1 input could not be read." in some.stdout
    diff = run("lint", "--diff", str(tmp_path / "nonexistent.sql"))
    assert diff.returncode == 2
    assert "No automatic fixes" not in diff.stderr
    assert "Nothing linted: 1 input could not be read." in diff.stderr


def test_lock_timeout_messages_speak_of_the_users_column(
    pg_url: str, users: Conn, tmp_path: Path
) -> None:
    migration = add_column_file(tmp_path, "0001_add_email")
    with psycopg.connect(pg_url) as reader:
        reader.execute("select count(*) from users")  # holds ACCESS SHARE until rolled back
        result = run(
            "start",
            str(migration),
            "--lock-timeout",
            "50ms",
            "--lock-retry-deadline",
            "1s",
            "--progress",
            "quiet",
            url=pg_url,
        )
        holder = reader.info.backend_pid
    assert result.returncode == 3, result.stderr
    internal = users.execute(
        "select attname from pg_attribute where attrelid = 'users'::regclass and attname "
        "like '\\_ls\\_%%'"
    ).fetchall()
    assert internal == []  # nothing was added: the step never got its lock
    assert "could not get its ACCESS EXCLUSIVE lock" in result.stderr
    assert f"pid {holder}" in result.stderr
    assert "the new version of column email" in result.stderr
    assert "_ls_" not in result.stderr


# -- library noise ----------------------------------------------------------------------------


def test_a_terminated_backfill_reconnects_without_library_noise(
    pg15_url: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg15_url, autocommit=True) as conn:
        conn.execute(
            "create table users (id int primary key, name text not null); "
            "insert into users select g, 'u' || g from generate_series(1, 100000) g"
        )
        migration = add_column_file(tmp_path, "0001_add_email")
        process = spawn(
            "start",
            str(migration),
            "--batch-size",
            "200",
            "--batch-pause",
            "3",
            "--progress",
            "plain",
            url=pg15_url,
        )

        def rows_done() -> int:
            row = conn.execute(
                "select coalesce(sum(rows_done), 0) from liveshift.backfills"
                if conn.execute("select to_regclass('liveshift.backfills')").fetchone() != (None,)
                else "select 0"
            ).fetchone()
            return int(row[0]) if row else 0

        deadline = time.monotonic() + 60
        while rows_done() < 2000 and time.monotonic() < deadline:
            time.sleep(0.05)
        terminated = conn.execute(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity "
            "where application_name = 'liveshift' and datname = current_database()"
        ).fetchone()
        assert terminated is not None and terminated[0] >= 1
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        assert "reconnected after" in stderr  # the lost connection was met and handled
        assert "error ignored" not in stderr and "psycopg" not in stderr, stderr
        done = conn.execute(
            "select count(*) from users where _ls_new_email = name || '@example.com'"
        ).fetchone()
        assert done == (100000,)


# -- lint --trace and the database URL variables -------------------------------------------------


def test_lint_trace_says_it_leaves_the_url_variables_alone(tmp_path: Path) -> None:
    sql = tmp_path / "m.sql"
    sql.write_text("create table t (id int primary key);\n")
    nowhere = "postgresql://postgres@127.0.0.1:1/production"
    result = run(
        "lint",
        "--no-cache",
        "--trace",
        str(sql),
        url=nowhere,
        LIVESHIFT_EMBEDDED_DIR=str(EMBEDDED_DIR),
    )
    assert result.returncode == 0, result.stderr
    assert "--trace uses the embedded PostgreSQL, not $LIVESHIFT_DATABASE_URL" in result.stderr
    assert f"using the embedded PostgreSQL in {EMBEDDED_DIR}" in result.stderr


def running(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie waiting to be reaped does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# -- the embedded server --------------------------------------------------------------------------


@pytest.fixture
def private_embedded() -> Iterator[Path]:
    """An embedded server of this test's own (never the shared one of the test suite)."""
    root = Path(f"/tmp/liveshift-cli-embedded-{uuid.uuid4().hex[:8]}")
    root.mkdir(mode=0o755)
    root.chmod(0o755)  # the server runs as another user, who must reach its directory
    try:
        yield root / "pgdata"
    finally:
        run("embedded", "stop", "--dir", str(root / "pgdata"))
        shutil.rmtree(root, ignore_errors=True)


def test_embedded_status_and_stop(private_embedded: Path) -> None:
    from liveshift.embedded import embedded_url

    url = embedded_url(private_embedded, announce=False)
    with psycopg.connect(url, autocommit=True) as conn:
        data_directory = conn.execute("show data_directory").fetchone()
    assert data_directory == (str(private_embedded),)
    postmaster = int((private_embedded / "postmaster.pid").read_text().split()[0])
    status = run("embedded", "status", "--dir", str(private_embedded))
    assert status.returncode == 0, status.stderr
    assert f"is running: pid {postmaster}" in status.stdout
    stopped = run("embedded", "stop", "--dir", str(private_embedded))
    assert stopped.returncode == 0, stopped.stderr
    assert f"stopped the embedded PostgreSQL in {private_embedded}" in stopped.stdout
    assert not running(postmaster)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=5).close()
    assert not (private_embedded / "postmaster.pid").exists()
    again = run("embedded", "status", "--dir", str(private_embedded))
    assert "no embedded PostgreSQL is running" in again.stdout
    assert (private_embedded / "PG_VERSION").is_file()  # the data stays


def test_make_clean_stops_the_embedded_server_before_deleting_it() -> None:
    """`make clean` in a project whose `make demo` left the embedded server running."""
    root = Path(f"/tmp/liveshift-cli-make-{uuid.uuid4().hex[:8]}")
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    data = root / ".liveshift" / "pgdata"
    try:
        shutil.copy(Path(__file__).parents[1] / "Makefile", root / "Makefile")
        (root / ".venv" / "bin").mkdir(parents=True)
        (root / ".venv" / "bin" / "liveshift").symlink_to(LIVESHIFT)
        from liveshift.embedded import embedded_url

        url = embedded_url(data, announce=False)
        postmaster = int((data / "postmaster.pid").read_text().split()[0])
        done = subprocess.run(
            ["make", "clean"], cwd=root, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
        assert "stopped the embedded PostgreSQL" in done.stdout
        assert not (root / ".liveshift").exists()
        assert not running(postmaster)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=5).close()
    finally:
        if data.exists():
            run("embedded", "stop", "--dir", str(data))
        shutil.rmtree(root, ignore_errors=True)


def test_a_runner_whose_progress_reader_goes_away_finishes_its_migration(
    pg_url: str, users: Conn, tmp_path: Path
) -> None:
    """`liveshift start F --progress json | head -1`: the migration is not left half-done."""
    migration = add_column_file(tmp_path, "0001_add_email")
    process = spawn("start", str(migration), "--complete", "--progress", "json", url=pg_url)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=120) == 0, stderr
    assert stderr == ""
    assert users.execute("select phase from liveshift.migrations").fetchone() == ("complete",)
    assert users.execute(
        "select count(*) from users where email = name || '@example.com'"
    ).fetchone() == (300,)
