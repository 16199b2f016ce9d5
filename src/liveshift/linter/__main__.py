"""`python -m liveshift.linter PATH...`: the lint command on its own, same options as `liveshift lint`."""

from __future__ import annotations

import argparse
import sys

from liveshift.linter.command import add_parser, exit_now, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="liveshift")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_parser(subparsers)
    args = parser.parse_args(["lint", *(sys.argv[1:] if argv is None else argv)])
    return run(args)


if __name__ == "__main__":
    exit_now(main())
