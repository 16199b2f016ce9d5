"""The `liveshift` command: parses options, runs one command, prints one clear paragraph on error."""

from __future__ import annotations

import os
import sys

from liveshift.errors import EXIT_BAD_INPUT, EXIT_DATABASE, EXIT_OK, LiveshiftError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any


def _settings(args: argparse.Namespace) -> Any:
    from liveshift.settings import (
        Settings,
        parse_batch_size,
        parse_duration_ms,
        parse_fraction,
        parse_max_load,
        parse_workers,
    )

    settings = Settings()
    if args.lock_timeout is not None:
        settings.lock_timeout_ms = parse_duration_ms(args.lock_timeout, "--lock-timeout")
    settings.lock_retry_deadline_s = (
        parse_duration_ms(args.lock_retry_deadline, "--lock-retry-deadline", "s") / 1000
    )
    if args.statement_timeout:
        settings.statement_timeout_ms = parse_duration_ms(
            args.statement_timeout, "--statement-timeout"
        )
    settings.batch_size = parse_batch_size(args.batch_size)
    settings.workers = parse_workers(args.workers)
    settings.batch_target_ms = parse_duration_ms(args.batch_target, "--batch-target")
    settings.batch_pause = parse_fraction(args.batch_pause, "--batch-pause")
    settings.batch_synchronous_commit = args.batch_commit == "sync"
    settings.load_pause = parse_fraction(args.load_pause, "--load-pause")
    settings.max_load = parse_max_load(args.max_load)
    settings.reconnect_timeout_s = (
        parse_duration_ms(args.reconnect_timeout, "--reconnect-timeout", "s") / 1000
    )
    settings.max_replication_lag_s = (
        parse_duration_ms(args.max_replication_lag, "--max-replication-lag", "s") / 1000
    )
    settings.replica_urls = list(args.replica_url or [])
    settings.throttle_query = args.throttle_query
    settings.verify = bool(getattr(args, "verify", False))
    if getattr(args, "wait", None) is not None:
        settings.runner_wait_s = parse_duration_ms(args.wait, "--wait", "s") / 1000
    return settings


def _migrator(args: argparse.Namespace) -> Any:
    from liveshift.migrator import Migrator
    from liveshift.progress import make_reporter

    return Migrator(
        args.database_url,
        schema=args.schema,
        settings=_settings(args),
        reporter=make_reporter(args.progress),
    )


def _print_json(value: Any) -> None:
    import json

    print(json.dumps(value, indent=2, default=str))


# -- commands ----------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    created = _migrator(args).init()
    print("liveshift state schema created" if created else "liveshift state schema already present")
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from liveshift.migration import Migration
    from liveshift.report import print_plan

    migration = Migration.load(args.file)
    migrator = _migrator(args)
    plan = migrator.plan(migration)
    policy = migrator.settings.lock_policy
    if args.json:
        planned: dict[str, Any] = {
            phase: [s.as_dict() for s in steps] for phase, steps in plan.phases().items()
        }
        planned["lock_policy"] = {**policy.as_dict(), "description": policy.describe()}
        _print_json(planned)
    else:
        print_plan(plan, policy.describe())
    return EXIT_OK


def cmd_start(args: argparse.Namespace) -> int:
    from liveshift.migration import Migration

    migration = Migration.load(args.file)
    _migrator(args).start(migration, complete=args.complete)
    return EXIT_OK


def cmd_complete(args: argparse.Namespace) -> int:
    _migrator(args).complete()
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace) -> int:
    _migrator(args).rollback()
    return EXIT_OK


def cmd_migrate(args: argparse.Namespace) -> int:
    from liveshift.migrator import MigrateOutcome

    outcome = MigrateOutcome()
    try:
        _migrator(args).migrate(args.directory, outcome=outcome)
    except LiveshiftError as exc:
        if outcome.failed:  # a file was refused or failed (not: no such directory)
            exc.details.append(outcome.summary())
            exc.hint = (
                f"{exc.hint + ' ' if exc.hint else ''}Then run the same `liveshift migrate` "
                "again: it skips what is applied and goes on from there."
            )
        raise
    print(outcome.summary() if outcome.applied else f"nothing to apply ({outcome.summary()})")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from liveshift.report import print_status

    status = _migrator(args).status()
    if args.json:
        _print_json(status)
    else:
        print_status(status)
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    from liveshift.report import print_history

    rows = _migrator(args).history()
    if args.json:
        _print_json(rows)
    else:
        print_history(rows)
    return EXIT_OK


def cmd_pause(args: argparse.Namespace) -> int:
    _migrator(args).pause(args.reason)
    print(f"backfills on schema {args.schema} will pause before their next batch")
    return EXIT_OK


def cmd_resume(args: argparse.Namespace) -> int:
    _migrator(args).resume()
    print(f"backfills on schema {args.schema} may continue")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from liveshift.demo import run_demo

    return run_demo(args, _settings(args))


def cmd_embedded(args: argparse.Namespace) -> int:
    from liveshift.embedded import embedded_directory, running_server, stop_embedded

    directory = embedded_directory(args.dir)
    if args.action == "stop":
        stopped = stop_embedded(directory)
        print(
            f"stopped the embedded PostgreSQL in {directory}"
            if stopped
            else f"no embedded PostgreSQL is running in {directory}"
        )
        return EXIT_OK
    server = running_server(directory)
    if server is None:
        print(f"no embedded PostgreSQL is running in {directory}")
    else:
        print(
            f"the embedded PostgreSQL in {directory} is running: pid {server.pid}, port "
            f"{server.port}, socket directory {server.socket_dir}, since {server.started:%Y-%m-%d %H:%M:%S}"
        )
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from liveshift.migration.jsonschema import schema_text

    sys.stdout.write(schema_text())
    return EXIT_OK


# -- parser ------------------------------------------------------------------------------------


def _database_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("database (before or after the command)")
    group.add_argument(
        "--database-url",
        help="postgresql://... (default: $LIVESHIFT_DATABASE_URL, $DATABASE_URL, else the "
        "embedded PostgreSQL in ./.liveshift/)",
    )
    group.add_argument("--schema", default="public", help="schema the migration changes")


def _tuning_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("tuning (before or after the command)")
    group.add_argument(
        "--lock-timeout",
        default=None,
        help="fix each try's wait for a lock (default: 50 ms tries, escalating only after 5 s "
        "without the lock; see docs/design.md)",
    )
    group.add_argument(
        "--lock-retry-deadline", default="10min", help="give up retrying a lock after this long"
    )
    group.add_argument("--statement-timeout", default=None, help="bound on each statement")
    group.add_argument("--batch-size", default="auto", help="rows per backfill batch, or auto")
    group.add_argument("--batch-target", default="20ms", help="target duration of an auto batch")
    group.add_argument(
        "--workers",
        default="1",
        help="backfill this many slices of the table at once, one connection each (1)",
    )
    group.add_argument(
        "--batch-pause",
        default="0",
        help="rest after each batch, as a fraction of its duration (0.25: 20%% of the time)",
    )
    group.add_argument(
        "--batch-commit",
        choices=["sync", "async"],
        default="sync",
        help="async: batches do not wait for their WAL flush (a crash redoes the last few)",
    )
    group.add_argument(
        "--load-pause",
        default="0",
        help="rest up to this fraction of each batch's duration while other sessions of the "
        "database wait on IO, LWLocks or locks; decays to 0 when none do (0: off)",
    )
    group.add_argument(
        "--max-load",
        default="off",
        help="wait while more than this many other sessions of the database are active (off)",
    )
    group.add_argument(
        "--reconnect-timeout",
        default="1min",
        help="after a lost connection, reconnect and resume for this long (0: exit at once)",
    )
    group.add_argument(
        "--max-replication-lag", default="1s", help="pause the backfill above this lag (0: off)"
    )
    group.add_argument(
        "--replica-url", action="append", help="also watch this replica's lag (repeatable)"
    )
    group.add_argument("--throttle-query", help="SQL returning true while the backfill should wait")
    group.add_argument(
        "--progress",
        choices=["auto", "plain", "json", "quiet"],
        default="auto",
        help="progress display (auto: a live bar on a terminal)",
    )


def build_parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="liveshift",
        description="Zero-downtime schema changes: expand, backfill, constrain, contract or roll back.",
        epilog="The options commands share (--database-url, --schema, --debug, the tuning "
        "options) go before or after the command; `liveshift COMMAND --help` lists them. "
        "Exit codes: 0 done; 1 lint findings or verification failed; 2 bad input, or another "
        "runner holds the schema's lock; 3 database refused or lost. A closed output pipe ends "
        "a command by SIGPIPE (141).",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str, *, runner: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _database_options(p)
        _tuning_options(p)
        if runner:
            p.add_argument(
                "--wait",
                default=None,
                metavar="DURATION",
                help="when another runner holds the schema's runner lock, wait up to this long "
                "for it, saying who it is (default: a grace wait of a few seconds, for a runner "
                "that has just died, then exit 2)",
            )
        return p

    p = command("init", "create the liveshift state schema in the target database")
    p.set_defaults(func=cmd_init)
    p = command("plan", "show every step a migration would run; changes nothing")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_plan)
    p = command("start", "expand and backfill: the new version's schema goes live", runner=True)
    p.add_argument("file")
    p.add_argument("--complete", action="store_true", help="complete straight after start")
    p.add_argument("--verify", action="store_true", help="recompute every backfilled value")
    p.set_defaults(func=cmd_start)
    p = command("complete", "contract the active migration", runner=True)
    p.set_defaults(func=cmd_complete)
    p = command("rollback", "undo the active migration", runner=True)
    p.set_defaults(func=cmd_rollback)
    p = command("migrate", "start and complete every pending file in a directory", runner=True)
    p.add_argument("directory")
    p.set_defaults(func=cmd_migrate)
    p = command("status", "the active migration, its phase and backfill progress")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)
    p = command("history", "every migration recorded in the database")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_history)
    p = command("pause", "pause running backfills (from any terminal or host)")
    p.add_argument("--reason", default=None)
    p.set_defaults(func=cmd_pause)
    p = command("resume", "let paused backfills continue")
    p.set_defaults(func=cmd_resume)
    p = command("demo", "add a NOT NULL column to a busy 1M-row table and report")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--writers", type=int, default=2)
    p.add_argument("--readers", type=int, default=2)
    p.add_argument(
        "--demo-database",
        default="liveshift_demo",
        help="database the demo drops and creates on the server (default: liveshift_demo)",
    )
    p.add_argument(
        "--long-transaction",
        default="2s",
        help="a report holds the table in an open transaction this long as start begins (0: none)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("json-schema", help="print the JSON Schema of migration files")
    p.set_defaults(func=cmd_schema)
    p = sub.add_parser(
        "embedded",
        help="status or stop of the embedded PostgreSQL (it keeps running after a command exits)",
        description="The embedded PostgreSQL that commands start when no database is given "
        "(demo, lint --trace, ...) keeps running after they exit, so the next command finds it "
        "warm. `status` says whether it runs; `stop` stops it (its data stays).",
    )
    p.add_argument("action", choices=["status", "stop"])
    p.add_argument(
        "--dir",
        default=None,
        help="its data directory (default: $LIVESHIFT_EMBEDDED_DIR, else ./.liveshift/pgdata)",
    )
    p.set_defaults(func=cmd_embedded)
    try:
        from liveshift.linter.arguments import add_parser as add_lint_parser

        add_lint_parser(sub)
    except ImportError:  # pragma: no cover - the linter ships with the package
        pass
    try:
        from liveshift.convert import add_parser as add_convert_parser

        add_convert_parser(sub)
    except ImportError:  # pragma: no cover - convert ships with the package
        pass
    return parser


def _lint_only_parser() -> argparse.ArgumentParser:
    """The parser with just `lint`: linting skips building (and importing) every other command."""
    import argparse

    from liveshift.linter.arguments import HelpFormatter
    from liveshift.linter.arguments import add_parser as add_lint_parser

    parser = argparse.ArgumentParser(prog="liveshift", formatter_class=HelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    add_lint_parser(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    return parser


def _is_lint(argv: Sequence[str]) -> bool:
    words = [arg for arg in argv if arg != "--debug"]
    return bool(words) and words[0] == "lint"


# Options without a value that may be written before the command: every other option there takes
# one (`--database-url URL`).
_FLAGS = ("--debug", "--json", "--complete", "--verify", "--no-cache", "--trace")


def command_first(argv: Sequence[str]) -> list[str]:
    """The command line with the options written before the command moved after it, where its
    parser reads them (`liveshift --database-url URL status` = `liveshift status --database-url
    URL`); `--debug` is read anywhere. Help (-h) before the command is left to the top level."""
    words = list(argv)
    end = words.index("--") if "--" in words else len(words)
    debug = "--debug" in words[:end]
    words = [w for i, w in enumerate(words) if w != "--debug" or i >= end]
    i = 0
    while i < len(words) and words[i].startswith("-") and words[i] not in ("-h", "--help", "--"):
        i += 1 if words[i] in _FLAGS or "=" in words[i] else 2
    if 0 < i < len(words):
        words = [words[i], *words[:i], *words[i + 1 :]]
    return ["--debug", *words] if debug else words


# A write to a closed pipe (`liveshift history | head -1`) ends the command quietly, as it ends
# other Unix tools: console() then dies of SIGPIPE (status 141 in a shell); main() returns this.
EXIT_CLOSED_PIPE = 141


def _closed_pipe() -> int:
    """stdout's reader went away: send what is left to /dev/null, so that nothing fails again
    at exit, and end with the closed pipe's status."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_CLOSED_PIPE


def _quiet_libraries(debug: bool) -> None:
    """Database drivers log (at WARNING) the errors they meet closing a pipeline or a COPY on a
    connection that was lost, pgserver the failures of the pg_ctl it runs; liveshift reports
    the lost connection or the failed start itself, once, in its own words. Without a handler,
    Python would print each record to stderr. --debug shows them."""
    import logging

    from liveshift.engines import ENGINES
    from liveshift.engines.state import MigratingEngine

    if not debug:
        drivers = [
            name
            for engine in ENGINES.values()
            if isinstance(engine, MigratingEngine)
            for name in engine.driver_loggers
        ]
        for library in (*dict.fromkeys(drivers), "pgserver"):
            logging.getLogger(library).addHandler(logging.NullHandler())


def _interrupted_hint(command: str | None) -> str:
    """What to run after a second Ctrl-C stopped `command` at once. Only start can always be
    rolled back: a complete may have passed the point where rollback is still accepted."""
    if command == "start":
        return (
            "Every finished step and batch is saved; run the same command again to resume, or "
            "`liveshift rollback` to undo the migration it was running."
        )
    if command in ("complete", "rollback", "migrate"):
        return (
            "Every finished step and batch is saved; run the same command again to finish "
            "(`liveshift status` shows where it stopped)."
        )
    return "Nothing was left half-done; run the same command again."


def main(argv: Sequence[str] | None = None) -> int:
    argv = command_first(sys.argv[1:] if argv is None else argv)
    # `liveshift lint` runs in pre-commit hooks and CI on every change: its start-up time counts.
    args: Any = None
    lint = _is_lint(argv)
    if lint:
        from liveshift.linter.argv import parse_lint_argv

        args = parse_lint_argv(argv)  # None: help or an error, which argparse prints
    if args is None:
        parser = _lint_only_parser() if lint else build_parser()
        try:
            args = parser.parse_args(argv)
        except BrokenPipeError:  # --help into a closed pipe
            return _closed_pipe()
        except SystemExit as done:  # --help, or a usage error argparse printed
            return done.code if isinstance(done.code, int) else EXIT_BAD_INPUT
    debug = args.debug or bool(os.environ.get("LIVESHIFT_DEBUG"))
    if not lint:
        _quiet_libraries(debug)
    try:
        code: int = args.func(args)
        return code
    except BrokenPipeError:
        return _closed_pipe()
    except LiveshiftError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        _error(f"liveshift: {exc.paragraph()}")
        return exc.exit_code
    except KeyboardInterrupt:
        _error(f"liveshift: interrupted. {_interrupted_hint(getattr(args, 'command', None))}")
        return EXIT_DATABASE
    except Exception as exc:  # a bug: say so plainly, with the traceback under --debug
        if debug:
            import traceback

            traceback.print_exc()
        _error(
            f"liveshift: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in liveshift; run again with --debug for the traceback and report it."
        )
        return EXIT_BAD_INPUT if isinstance(exc, ValueError) else EXIT_DATABASE


def _error(text: str) -> None:
    """Print to stderr; a closed stderr loses the message but changes nothing else."""
    import contextlib

    with contextlib.suppress(BrokenPipeError, ValueError):
        print(text, file=sys.stderr, flush=True)


def _die_of_sigpipe() -> None:
    """End as a Unix tool whose reader went away ends: killed by SIGPIPE (Python ignores it)."""
    import signal

    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGPIPE)


def _collector_off() -> None:
    """Turn the cyclic garbage collector off for the rest of a lint process.

    linter.command.run turns it off for the run and back on after, for callers that go on; in a
    process that exits right after the lint, turning it back on only made the next allocation
    scan every object the run had made and kept (about 3 million instructions, 3% of the
    start-up of a one-file lint), just before exiting.
    """
    import gc

    gc.disable()


def console() -> None:
    """The `liveshift` program (its console script): main() with this process's arguments, then
    exit; a lint ends without tearing down the interpreter (see linter.command.exit_now)."""
    lint = _is_lint(command_first(sys.argv[1:]))
    if lint:
        _collector_off()
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = _closed_pipe()
    if code == EXIT_CLOSED_PIPE:
        _die_of_sigpipe()
    if lint:
        from liveshift.linter.command import exit_now

        exit_now(code)
    raise SystemExit(code)


if __name__ == "__main__":
    console()
