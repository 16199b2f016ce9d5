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
    applied = _migrator(args).migrate(args.directory)
    print(f"{len(applied)} migration(s) applied" if applied else "nothing to apply")
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


def cmd_schema(args: argparse.Namespace) -> int:
    from liveshift.migration.jsonschema import schema_text

    sys.stdout.write(schema_text())
    return EXIT_OK


# -- parser ------------------------------------------------------------------------------------


def _database_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("database")
    group.add_argument(
        "--database-url",
        help="postgresql://... (default: $LIVESHIFT_DATABASE_URL, $DATABASE_URL, else the "
        "embedded PostgreSQL in ./.liveshift/)",
    )
    group.add_argument("--schema", default="public", help="schema the migration changes")


def _tuning_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("tuning")
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
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str, *, tuning: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _database_options(p)
        _tuning_options(p) if tuning else _tuning_defaults(p)
        return p

    p = command("init", "create the liveshift state schema in the target database")
    p.set_defaults(func=cmd_init)
    p = command("plan", "show every step a migration would run; changes nothing")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_plan)
    p = command("start", "expand and backfill: the new version's schema goes live", tuning=True)
    p.add_argument("file")
    p.add_argument("--complete", action="store_true", help="complete straight after start")
    p.add_argument("--verify", action="store_true", help="recompute every backfilled value")
    p.set_defaults(func=cmd_start)
    p = command("complete", "contract the active migration", tuning=True)
    p.set_defaults(func=cmd_complete)
    p = command("rollback", "undo the active migration", tuning=True)
    p.set_defaults(func=cmd_rollback)
    p = command("migrate", "start and complete every pending file in a directory", tuning=True)
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
    p = command("demo", "add a NOT NULL column to a busy 1M-row table and report", tuning=True)
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


def _tuning_defaults(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(
        lock_timeout=None,
        lock_retry_deadline="10min",
        statement_timeout=None,
        batch_size="auto",
        batch_target="20ms",
        workers="1",
        batch_pause="0",
        batch_commit="sync",
        load_pause="0",
        max_load="off",
        reconnect_timeout="1min",
        max_replication_lag="1s",
        replica_url=None,
        throttle_query=None,
        progress="auto",
    )


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


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `liveshift lint` runs in pre-commit hooks and CI on every change: its start-up time counts.
    args: Any = None
    if _is_lint(argv):
        from liveshift.linter.argv import parse_lint_argv

        args = parse_lint_argv(argv)  # None: help or an error, which argparse prints
    if args is None:
        parser = _lint_only_parser() if _is_lint(argv) else build_parser()
        args = parser.parse_args(argv)
    debug = args.debug or bool(os.environ.get("LIVESHIFT_DEBUG"))
    try:
        code: int = args.func(args)
        return code
    except LiveshiftError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        print(f"liveshift: {exc.paragraph()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(
            "liveshift: interrupted. Every finished step and batch is saved; run the same command "
            "again to resume, or `liveshift rollback`.",
            file=sys.stderr,
        )
        return EXIT_DATABASE
    except Exception as exc:  # a bug: say so plainly, with the traceback under --debug
        if debug:
            import traceback

            traceback.print_exc()
        print(
            f"liveshift: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in liveshift; run again with --debug for the traceback and report it.",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT if isinstance(exc, ValueError) else EXIT_DATABASE


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
    lint = _is_lint(sys.argv[1:])
    if lint:
        _collector_off()
    code = main()
    if lint:
        from liveshift.linter.command import exit_now

        exit_now(code)
    raise SystemExit(code)


if __name__ == "__main__":
    console()
