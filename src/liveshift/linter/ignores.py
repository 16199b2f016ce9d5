"""`-- liveshift: ignore <rule-id>` comments: which statement each one covers, and which went unused."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from liveshift.linter.pgparse import ParseError, scan
from liveshift.linter.source import Source, Statement

MARKER = "liveshift:"
_DIRECTIVE = re.compile(r"liveshift:\s*(ignore-file|ignore)\b(.*)", re.DOTALL)
_RULE_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


@dataclass
class Ignore:
    """One directive: the rules it names, the statement it covers (None: whole file), where it is."""

    rules: tuple[str, ...]
    statement: int | None
    offset: int  # byte offset of the comment
    whole_file: bool = False
    used: set[str] = field(default_factory=set)


def parse_directive(comment: str) -> tuple[bool, tuple[str, ...]] | None:
    """(whole_file, rule ids) of a comment, or None when it is not a liveshift directive."""
    match = _DIRECTIVE.search(comment)
    if match is None:
        return None
    body = match.group(2)
    body = body.removesuffix("*/")
    body = re.split(r"--|:|\*/", body, maxsplit=1)[0]  # after `--` or `:` comes the reason
    ids = []
    for token in re.split(r"[\s,]+", body.strip()):
        if token and _RULE_ID.fullmatch(token):
            ids.append(token)
        elif token:
            break
    return match.group(1) == "ignore-file", tuple(ids)


def find_ignores(source: Source, statements: list[Statement]) -> list[Ignore]:
    """The ignore directives in a source, attached to the statement each one is on or above."""
    if MARKER not in source.text:
        return []
    try:
        tokens = scan(source.text)
    except ParseError:
        return []
    starts = [s.start for s in statements]
    ignores = []
    for token in tokens:
        if token.name not in ("SQL_COMMENT", "C_COMMENT"):
            continue
        text = source.text[token.start : token.end + 1]
        directive = parse_directive(text)
        if directive is None:
            continue
        whole_file, ids = directive
        begin = source.char_to_byte(token.start)
        finish = source.char_to_byte(token.end + 1)
        target = None if whole_file else _statement_for(source, statements, starts, begin, finish)
        ignores.append(Ignore(ids, target, begin, whole_file))
    return ignores


def _statement_for(
    source: Source, statements: list[Statement], starts: list[int], begin: int, finish: int
) -> int | None:
    position = bisect.bisect_right(starts, begin) - 1
    if position >= 0:
        previous = statements[position]
        if begin < previous.end:
            return previous.index  # inside the statement
        if b"\n" not in source.data[previous.end : begin]:
            return previous.index  # trailing comment on the statement's last line
    following = position + 1
    if following < len(statements):
        return statements[following].index
    return None
