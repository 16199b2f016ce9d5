"""`liveshift lint`: what it does (run); its options are in linter.arguments."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from argparse import Namespace
    from typing import Any

    from liveshift.linter.argv import LintArguments


def exit_now(code: int) -> None:
    """End the process after a lint, without tearing the interpreter down.

    Python's exit frees every module and object one by one (5-8 ms after a cold lint of 1,000
    files, more than reading them) for nothing a finished lint needs. The output is flushed
    first; when something registered an exit handler or started a thread (a trace, say), or a
    stream cannot be flushed (a closed pipe), Python exits as usual instead.
    """
    import atexit

    threading = sys.modules.get("threading")
    if atexit._ncallbacks() == 0 and (threading is None or threading.active_count() == 1):
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass  # reported by the ordinary exit below, as without this shortcut
        else:
            os._exit(code)
    raise SystemExit(code)


def run(args: Namespace | LintArguments) -> int:
    """Lint the paths named in `args`; returns the exit code."""
    import gc

    from liveshift.errors import EXIT_BAD_INPUT, LiveshiftError

    # Parse trees are plain dicts and lists without cycles: reference counting frees them, and
    # the cyclic collector only rescans them as they pile up (a third of the JSON decoding time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _run(args)
    except LiveshiftError as exc:
        print(f"liveshift lint: {exc.paragraph()}", file=sys.stderr)
        return int(getattr(exc, "exit_code", EXIT_BAD_INPUT))
    finally:
        if collecting:
            gc.enable()


def _run(args: Namespace | LintArguments) -> int:
    from liveshift.errors import EXIT_BAD_INPUT, EXIT_FINDINGS, EXIT_OK, ConfigError
    from liveshift.linter.config import load_config
    from liveshift.linter.inputs import lint_paths, normal_path
    from liveshift.linter.options import DEFAULT_PG_VERSION, LintOptions

    if args.list_rules:
        from liveshift.linter.registry import all_rules

        for rule in all_rules():
            print(f"{rule.id:40} {rule.severity.value:8} {rule.summary}")
        return EXIT_OK
    config = load_config(args.config)
    exclude = set(config.exclude)
    for item in args.exclude:
        exclude.update(part.strip() for part in item.split(",") if part.strip())
    options = LintOptions(
        pg_version=args.pg_version or config.pg_version or DEFAULT_PG_VERSION,
        assume_in_transaction=bool(
            args.assume_in_transaction
            if args.assume_in_transaction is not None
            else config.assume_in_transaction
        ),
        exclude=frozenset(exclude),
    )
    paths = list(args.paths) or [normal_path(os.path.join(config.root, p)) for p in config.paths]
    if not paths:
        raise ConfigError(
            "Nothing to lint: give files or directories (or - for stdin).",
            hint="Or set `paths` under [tool.liveshift.lint] in pyproject.toml.",
        )
    if args.database_url and not args.trace:
        raise ConfigError("--database-url is only used with --trace.")
    from liveshift.linter.registry import check_excluded, rule_ids_without_import

    # Checked here too: when the cache answers for every file, no Linter is made.
    check_excluded(options.exclude, rule_ids_without_import())
    if args.diff:
        return _show_fixes(paths, options, config.exclude_paths)
    if args.fix and not _write_fixes(paths, options, config.exclude_paths):
        return EXIT_BAD_INPUT  # an input could not be read: nothing was written

    def make_linter() -> Any:
        from liveshift.linter.engine import Linter

        return Linter(options)

    cache = None
    if not args.no_cache:
        from liveshift.linter.cache import LintCache

        cache = LintCache.for_options(options)
    result = lint_paths(paths, make_linter, config.exclude_paths, cache, args.jobs)
    if cache is not None:
        cache.save()
    for error in result.input_errors:
        print(f"liveshift lint: {error.paragraph()}", file=sys.stderr)
    traces = None
    if args.trace and not result.input_errors:
        from liveshift.linter.trace import trace_paths

        _say_trace_server(args.database_url)
        traces = trace_paths(paths, args.database_url)
    _print_findings(
        args, result.findings, result.files, result.statements, traces, len(result.input_errors)
    )
    if result.input_errors:
        return EXIT_BAD_INPUT
    return EXIT_FINDINGS if any(f.is_error for f in result.findings) else EXIT_OK


def _with_unreadable(summary: str, files: int, unreadable: int) -> str:
    """A summary that does not read as a success next to inputs that could not be read."""
    if not unreadable:
        return summary
    inputs = f"{unreadable} input{'s' if unreadable != 1 else ''} could not be read"
    return f"Nothing linted: {inputs}." if not files else f"{summary} {inputs}."


def _say_trace_server(database_url: str | None) -> None:
    """--trace runs the SQL's DDL on a scratch database it creates on a server, and lint runs in
    hooks and CI where $DATABASE_URL often names a production database: it reads only an explicit
    --database-url, never those variables. Say so when one is set and left alone."""
    if database_url:
        return
    for variable in ("LIVESHIFT_DATABASE_URL", "DATABASE_URL"):
        if os.environ.get(variable):
            print(
                f"liveshift lint: --trace uses the embedded PostgreSQL, not ${variable}: it "
                "creates a scratch database on the server it runs on, so it goes to another "
                "server only when --database-url names it",
                file=sys.stderr,
            )
            return


def _show_fixes(paths: list[str], options: Any, exclude_paths: tuple[str, ...]) -> int:
    """--diff: the fixes as a unified diff on stdout; exit 1 when there are any."""
    from liveshift.errors import EXIT_BAD_INPUT, EXIT_FINDINGS, EXIT_OK
    from liveshift.linter.fix import fix_paths, render_diff, summary

    results, errors = fix_paths(paths, options, exclude_paths)
    for error in errors:
        print(f"liveshift lint: {error.paragraph()}", file=sys.stderr)
    sys.stdout.write(render_diff(results))
    print(
        _with_unreadable(summary(results, applied=False), len(results), len(errors)),
        file=sys.stderr,
    )
    if errors:
        return EXIT_BAD_INPUT
    return EXIT_FINDINGS if any(result.changed for result in results) else EXIT_OK


def _write_fixes(paths: list[str], options: Any, exclude_paths: tuple[str, ...]) -> bool:
    """--fix: rewrite the .sql files, then the caller reports what is left.

    When an input cannot be read (missing, not UTF-8), its errors are printed, nothing is
    written and False is returned: a rewrite in place is all or nothing.
    """
    from liveshift.errors import ConfigError
    from liveshift.linter.fix import fix_paths, summary, write_fixes

    if "-" in paths:
        raise ConfigError(
            "--fix rewrites files in place and cannot rewrite standard input.",
            hint="Use --diff to see the fixes for standard input.",
        )
    results, errors = fix_paths(paths, options, exclude_paths)
    if errors:
        for error in errors:
            print(f"liveshift lint: {error.paragraph()}", file=sys.stderr)
        return False
    write_fixes(results)
    print(summary(results), file=sys.stderr)
    return True


def _print_findings(
    args: Namespace | LintArguments,
    findings: list[Any],
    files: int,
    count: int,
    traces: Any,
    unreadable: int = 0,
) -> None:
    from liveshift.linter import report
    from liveshift.linter.registry import all_rules

    if traces is not None and args.format == "json":
        import json

        from liveshift.linter.trace import trace_to_dict

        document = json.loads(report.render_json(findings, files, count))
        document["trace"] = [trace_to_dict(t) for t in traces]
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        return
    if args.format == "json":
        out = report.render_json(findings, files, count)
    elif args.format == "sarif":
        out = report.render_sarif(findings, all_rules())
    elif args.format == "github":
        out = report.render_github(findings)
    else:
        out = report.render_text(findings, files, color=_use_color(args.color))
        if unreadable:
            listed, _, summary = out.rstrip("\n").rpartition("\n")
            out = (
                (listed + "\n" if listed else "")
                + _with_unreadable(summary, files, unreadable)
                + "\n"
            )
    sys.stdout.write(out)
    if traces is not None:
        from liveshift.linter.trace import render_trace_text

        # Other formats keep stdout machine-readable; the trace goes to stderr for them.
        stream = sys.stdout if args.format == "text" else sys.stderr
        stream.write(render_trace_text(traces))


def _use_color(choice: str) -> bool:
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"
