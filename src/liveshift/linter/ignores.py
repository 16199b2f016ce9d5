"""`-- liveshift: ignore <rule-id>` comments: which statement each one covers, and which went unused."""

from __future__ import annotations

import bisect

from liveshift.linter.pgparse import ParseError, scan
from liveshift.linter.source import Source, Statement

MARKER = "liveshift:"
_RULE_ID_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


class Ignore:
    """One directive: the rules it names, the statement it covers (None: whole file), where it is."""

    __slots__ = ("rules", "statement", "offset", "whole_file", "used")  # noqa: RUF023 - field order

    def __init__(
        self, rules: tuple[str, ...], statement: int | None, offset: int, whole_file: bool = False
    ) -> None:
        self.rules = rules
        self.statement = statement
        self.offset = offset  # byte offset of the comment
        self.whole_file = whole_file
        self.used: set[str] = set()  # the rules it suppressed a finding of


def parse_directive(comment: str) -> tuple[bool, tuple[str, ...]] | None:
    """(whole_file, rule ids) of a comment, or None when it is not a liveshift directive.

    The grammar, as a regular expression: `liveshift:\\s*(ignore-file|ignore)\\b(.*)`
    (first match), then the rest up to `--`, `:` or `*/` (the reason follows) holds rule ids
    (`[a-z0-9]+(-[a-z0-9]+)*`) separated by whitespace or commas; the list stops at the first
    token that is not one. Written with string methods: `re` would be a tenth of the start-up
    of `liveshift lint`. tests/linter/test_engine.py checks it against the expression.
    """
    position = comment.find(MARKER)
    while position != -1:
        index = position + len(MARKER)
        while index < len(comment) and comment[index].isspace():
            index += 1
        for keyword in ("ignore-file", "ignore"):
            end = index + len(keyword)
            if comment.startswith(keyword, index) and not _is_word(comment, end):
                return keyword == "ignore-file", _rule_ids(comment[end:])
        position = comment.find(MARKER, position + 1)
    return None


def _is_word(text: str, index: int) -> bool:
    """Whether text[index] is a word character (`\\w`); False past the end."""
    if index >= len(text):
        return False
    character = text[index]
    return character.isalnum() or character == "_"


def _rule_ids(body: str) -> tuple[str, ...]:
    body = body.removesuffix("*/")
    cuts = [at for at in (body.find("--"), body.find(":"), body.find("*/")) if at != -1]
    if cuts:
        body = body[: min(cuts)]  # after `--` or `:` comes the reason
    ids = []
    for token in body.replace(",", " ").split():
        if not all(part and _RULE_ID_CHARACTERS.issuperset(part) for part in token.split("-")):
            break
        ids.append(token)
    return tuple(ids)


def find_ignores(source: Source, statements: list[Statement]) -> list[Ignore]:
    """The ignore directives in a source, attached to the statement each one is on or above."""
    text = source.text
    if MARKER not in text:
        return []
    starts = [s.start for s in statements]
    ignores = []
    for region_start, region_end in _regions_with_marker(source, starts):
        try:
            tokens = scan(text[region_start:region_end])
        except ParseError:
            continue  # an unterminated literal after a syntax error: no comment to be found
        for token in tokens:
            if token.name not in ("SQL_COMMENT", "C_COMMENT"):
                continue
            start = region_start + token.start
            end = region_start + token.end + 1  # the scanner's end is inclusive
            directive = parse_directive(text[start:end])
            if directive is None:
                continue
            whole_file, ids = directive
            begin = source.char_to_byte(start)
            finish = source.char_to_byte(end)
            target = (
                None if whole_file else _statement_for(source, statements, starts, begin, finish)
            )
            ignores.append(Ignore(ids, target, begin, whole_file))
    return ignores


def _regions_with_marker(source: Source, starts: list[int]) -> list[tuple[int, int]]:
    """The stretches of text to scan for directives: those holding the marker, cut where
    statements start.

    A statement starts right after the `;` that ends the one before it, where the scanner is in
    its initial state, so scanning a stretch alone finds the comments a scan of the whole text
    would; scanning only the few stretches with a marker is what makes ignores cheap (the
    scanner builds a Python object per token). Offsets are characters: for text that is not
    ASCII, where statement offsets (bytes) differ from them, the whole text is one stretch.
    """
    text = source.text
    if not source.ascii:
        return [(0, len(text))]
    bounds = sorted({0, len(text), *starts})
    regions: list[tuple[int, int]] = []
    position = text.find(MARKER)
    while position != -1:
        index = bisect.bisect_right(bounds, position) - 1
        region = (bounds[index], bounds[index + 1])
        if not regions or regions[-1] != region:
            regions.append(region)
        position = text.find(MARKER, region[1])  # the next marker after this stretch
    return regions


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
