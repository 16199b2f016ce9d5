"""SQL text parsed into statements (JSON parse tree), with byte offsets mapped to lines and columns."""

from __future__ import annotations

import bisect

from liveshift.linter.nodes import Node
from liveshift.linter.pgparse import ParseError, parse_sql_json, scan

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from liveshift.linter.edits import Token
    from liveshift.linter.locks import Effect
    from liveshift.linter.nodes import ColumnType
    from liveshift.linter.rule import AddedColumn


class _JSONOptions:
    """The settings json.JSONDecoder gives its C scanner: plain dicts, floats and ints."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {
        "-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")
    }.__getitem__  # fmt: skip


def _json_decoder() -> Callable[[str, int], tuple[Any, int]]:
    """`json.JSONDecoder().raw_decode` without its type checks and two whitespace matches per call
    (the parser's JSON has none around it), and without importing the json package, which
    imports `re`: the C scanner json uses, built with the same settings."""
    make_scanner: Any
    try:
        from _json import make_scanner
    except ImportError:  # pragma: no cover - a Python without the C accelerator
        from json.scanner import make_scanner
    scanner: Callable[[str, int], tuple[Any, int]] = make_scanner(_JSONOptions())
    return scanner


_scan_json = _json_decoder()


class Statement:
    """One top-level statement: its node type, its JSON parse tree and its byte span in the source.

    The other fields hold what rules derive from the tree and share, computed on first use:
    ALTER TABLE sub-commands (rule.alter_commands), added columns (rule.added_columns),
    declared columns (rule.declared_columns),
    locks (locks.effects) and tokens (edits.tokens). Slots rather than a dict per statement:
    most statements need none of them, and the dict was 1% of a cold run.
    """

    __slots__ = (  # noqa: RUF023 - field order
        "index", "kind", "node", "start", "end", "cmds", "added", "declared", "effects",
        "tokens",
    )  # fmt: skip

    def __init__(self, index: int, kind: str, node: Node, start: int, end: int) -> None:
        self.index = index
        self.kind = kind
        self.node = node
        self.start = start
        self.end = end
        self.cmds: list[tuple[str, str, Node]] | None = None
        self.added: list[AddedColumn] | None = None
        self.declared: list[tuple[str, str, Node, ColumnType, bool]] | None = None
        self.effects: list[Effect] | None = None
        self.tokens: list[Token] | None = None


class SyntaxProblem:
    """Where the parser gave up, as a character offset into the text."""

    __slots__ = ("message", "offset")

    def __init__(self, message: str, offset: int) -> None:
        self.message = message
        self.offset = offset


class Source:
    """A SQL text, with conversions from parser byte offsets to 1-based line and column."""

    def __init__(
        self,
        text: str,
        name: str | None = None,
        line_offset: int = 0,
        column_offset: int = 0,
        data: bytes | None = None,
    ) -> None:
        self.text = text
        self.name = name
        # Where the text sits in its file, for SQL embedded in a migration file's YAML.
        self.line_offset = line_offset
        self.column_offset = column_offset
        self.data = text.encode("utf-8") if data is None else data  # data: the UTF-8 of text
        self.ascii = len(self.data) == len(text)
        self._newlines: list[int] | None = None

    def _newline_offsets(self) -> list[int]:
        if self._newlines is None:
            data = self.data
            offsets = []
            position = data.find(b"\n")
            while position != -1:
                offsets.append(position)
                position = data.find(b"\n", position + 1)
            self._newlines = offsets
        return self._newlines

    def position(self, byte_offset: int) -> tuple[int, int]:
        """1-based (line, column) of a byte offset; the column counts characters."""
        newlines = self._newline_offsets()
        line_index = bisect.bisect_left(newlines, byte_offset)
        line_start = newlines[line_index - 1] + 1 if line_index else 0
        if self.ascii:
            column = byte_offset - line_start + 1
        else:
            column = len(self.data[line_start:byte_offset].decode("utf-8", "replace")) + 1
        return line_index + 1 + self.line_offset, column + self.column_offset

    def char_to_byte(self, char_offset: int) -> int:
        if self.ascii:
            return char_offset
        return len(self.text[:char_offset].encode("utf-8"))

    def snippet(self, statement: Statement) -> str:
        return self.data[statement.start : statement.end].decode("utf-8", "replace")

    def parse(self) -> tuple[list[Statement], SyntaxProblem | None]:
        """Every statement the parser accepts; on a syntax error, those before it and the error."""
        try:
            return self._statements(self.text), None
        except ParseError as exc:
            problem = self._locate(exc)
        # Lint what precedes the error: cut the text after the last `;` before it.
        statements: list[Statement] = []
        cut = self._last_semicolon_before(problem.offset)
        if cut is not None:
            try:
                statements = self._statements(self.text[: cut + 1])
            except ParseError:
                statements = []
        return statements, problem

    def _statements(self, text: str) -> list[Statement]:
        tree, _end = _scan_json(parse_sql_json(text), 0)
        total = len(text) if self.ascii else len(text.encode("utf-8"))
        statements = []
        for index, raw in enumerate(tree.get("stmts", ())):
            ((kind, node),) = raw["stmt"].items()
            start = raw.get("stmt_location", 0)
            length = raw.get("stmt_len", 0)
            end = start + length if length else total
            statements.append(Statement(index, kind, node, start, end))
        return statements

    def _locate(self, exc: ParseError) -> SyntaxProblem:
        message = str(exc.args[0]) if exc.args else str(exc)
        offset = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
        if not self.ascii:
            # pglast maps the error offset to a character index wrongly for multi-byte text, so
            # parse an ASCII stand-in of the same length in characters to find the position.
            try:
                parse_sql_json("".join(c if c < "\x80" else "x" for c in self.text))
            except ParseError as ascii_exc:
                if len(ascii_exc.args) > 1 and isinstance(ascii_exc.args[1], int):
                    offset = ascii_exc.args[1]
        return SyntaxProblem(message, max(0, min(offset, len(self.text))))

    def _last_semicolon_before(self, char_offset: int) -> int | None:
        try:
            tokens = scan(self.text)
        except ParseError:
            return None
        last = None
        for token in tokens:
            if token.start >= char_offset:
                break
            if token.name == "ASCII_59":
                last = token.end
        return last
