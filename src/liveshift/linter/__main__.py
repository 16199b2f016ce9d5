"""`python -m liveshift.linter PATH...`: the lint command on its own, same options as `liveshift lint`."""

from __future__ import annotations

import sys

from liveshift.linter.argv import parse_lint_argv
from liveshift.linter.command import exit_now, run


def main(argv: list[str] | None = None) -> int:
    words = ["lint", *(sys.argv[1:] if argv is None else argv)]
    args = parse_lint_argv(words[1:], top_level=False)
    if args is None:  # help, or an error to print: argparse's parser
        import argparse

        from liveshift.linter.arguments import add_parser

        parser = argparse.ArgumentParser(prog="liveshift")
        subparsers = parser.add_subparsers(dest="command", required=True)
        add_parser(subparsers)
        return run(parser.parse_args(words))
    return run(args)


if __name__ == "__main__":
    import gc

    gc.disable()  # for the rest of the process, as in cli.console: see cli._collector_off
    exit_now(main())
