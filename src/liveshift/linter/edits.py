"""Text edits for automatic fixes, placed by the parser's statement spans and tokens.

Fixes never search the file with regular expressions: a rule's fix function gets the statement
(its byte span, from the parser), and these helpers find keywords and clause ends among the
statement's own tokens (pglast's scanner), so comments and string literals cannot mislead them.
"""

from __future__ import annotations

from liveshift.linter.pgparse import scan
from liveshift.linter.record import Record
from liveshift.linter.source import Source, Statement

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from liveshift.linter.context import Context
    from liveshift.linter.rule import Hit

_COMMENTS = frozenset({"SQL_COMMENT", "C_COMMENT"})
_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyz_")
_NAME_CHARACTERS = _NAME_START | frozenset("0123456789$")


class Edit(Record):
    """Replace bytes [start, end) of the source with `text`; start == end inserts."""

    __slots__ = ("start", "end", "text")  # noqa: RUF023 - field order

    def __init__(self, start: int, end: int, text: str) -> None:
        self.start = start
        self.end = end
        self.text = text


class FixInput:
    """What a fix function may look at besides its statement: the source and all its statements."""

    __slots__ = ("source", "statements")

    def __init__(self, source: Source, statements: Sequence[Statement]) -> None:
        self.source = source
        self.statements = statements


class Token:
    """One token of a statement, with byte offsets into the source; `end` is exclusive."""

    __slots__ = ("start", "end", "name")  # noqa: RUF023 - field order

    def __init__(self, start: int, end: int, name: str) -> None:
        self.start = start
        self.end = end
        self.name = name


def tokens(source: Source, statement: Statement) -> list[Token]:
    """The statement's tokens without comments, computed once per statement."""
    cached = statement.tokens
    if cached is not None:
        return cached
    text = source.data[statement.start : statement.end].decode("utf-8")
    found = []
    for token in scan(text):
        if token.name in _COMMENTS:
            continue
        start, end = token.start, token.end + 1  # the scanner's end is inclusive
        if not source.ascii:  # character offsets of the text -> byte offsets
            start, end = len(text[:start].encode()), len(text[:end].encode())
        found.append(Token(statement.start + start, statement.start + end, token.name))
    statement.tokens = found
    return found


def insert_after_keyword(
    source: Source, statement: Statement, keywords: Iterable[str], text: str
) -> Edit | None:
    """Insert `text` after the first top-level token of the statement named one of `keywords`."""
    wanted = set(keywords)
    depth = 0
    for token in tokens(source, statement):
        if token.name == "ASCII_40":
            depth += 1
        elif token.name == "ASCII_41":
            depth -= 1
        elif depth == 0 and token.name in wanted:
            written = source.data[token.start : token.end]
            return Edit(token.end, token.end, text.lower() if written.islower() else text)
    return None


def keywords_like(source: Source, statement: Statement) -> Callable[[str], str]:
    """A function spelling SQL keywords in the case the statement's first keyword is written in."""
    found = tokens(source, statement)
    lower = bool(found) and source.data[found[0].start : found[0].end].islower()
    return str.lower if lower else str.upper


def clause_end(source: Source, statement: Statement, offset: int) -> int | None:
    """Where the clause starting at byte `offset` ends: before the next top-level `,` of the
    statement, or at its last token. Used to append to one ALTER TABLE sub-command."""
    depth = 0
    last = None
    for token in tokens(source, statement):
        if token.start < offset:
            continue
        if token.name == "ASCII_40":
            depth += 1
        elif token.name == "ASCII_41":
            depth -= 1
            if depth < 0:
                break
        elif depth == 0 and token.name in ("ASCII_44", "ASCII_59"):
            break
        last = token.end
    return last


def after_statement(source: Source, statement: Statement, text: str) -> Edit:
    """Insert statements (`text`, each ending in `;`) on a new line after `statement`'s `;`."""
    data = source.data
    code_end = statement.start + len(data[statement.start : statement.end].rstrip())
    position = code_end
    while position < len(data) and data[position : position + 1] in (b" ", b"\t"):
        position += 1
    if data[position : position + 1] == b";":
        return Edit(position + 1, position + 1, "\n" + text)
    return Edit(code_end, code_end, ";\n" + text.removesuffix(";"))  # the last, unterminated


def before_statement(fix_input: FixInput, statement: Statement, text: str) -> Edit:
    """Insert a statement (`text`, ending in `;`) before `statement`, above the comment lines
    directly over it, so that an ignore comment stays with the statement it was written for."""
    data = fix_input.source.data
    previous_end = 0
    if statement.index > 0:
        previous_end = fix_input.statements[statement.index - 1].end
    line_start = data.rfind(b"\n", 0, statement.start) + 1
    indent = data[line_start : statement.start]
    if indent.strip() or line_start < previous_end:
        return Edit(statement.start, statement.start, text + " ")  # it shares its line
    point = line_start
    while point > previous_end:
        above = data.rfind(b"\n", 0, point - 1) + 1
        if above < previous_end or not data[above:point].strip().startswith(b"--"):
            break
        point = above
    return Edit(point, point, indent.decode() + text + "\n")


def apply_edits(data: bytes, edits: Sequence[Edit]) -> bytes:
    """The bytes with every edit applied; insertions at one place keep their order."""
    ordered = sorted(enumerate(edits), key=lambda item: (item[1].start, item[0]))
    out = []
    position = 0
    for _order, edit in ordered:
        out.append(data[position : edit.start])
        out.append(edit.text.encode())
        position = max(position, edit.end)
    out.append(data[position:])
    return b"".join(out)


def overlaps(edit: Edit, others: Iterable[Edit]) -> bool:
    """Whether `edit` touches text another edit replaces (insertions at one point do not)."""
    for other in others:
        if edit.start < other.end and other.start < edit.end:
            return True
        if edit.start == edit.end and other.start < edit.start < other.end:
            return True
        if other.start == other.end and edit.start < other.start < edit.end:
            return True
    return False


def quote_ident(name: str) -> str:
    """An identifier as SQL must spell it: bare when it can be, else in double quotes."""
    from pglast.keywords import RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS

    # [a-z_][a-z0-9_$]*, without `re` (only fixes quote names; linting never imports re)
    simple = name[:1] in _NAME_START and _NAME_CHARACTERS.issuperset(name)
    if simple and name not in RESERVED_KEYWORDS | TYPE_FUNC_NAME_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def qualified_name(range_var: dict[str, object]) -> str:
    """`schema.table` of a RangeVar, quoted as needed."""
    parts = [range_var.get("schemaname"), range_var.get("relname")]
    return ".".join(quote_ident(str(part)) for part in parts if part)


def transaction_end(statements: Sequence[Statement], index: int) -> Statement | None:
    """The COMMIT that ends the transaction block statement `index` is in (None: a ROLLBACK,
    or no end in the file)."""
    for statement in statements[index + 1 :]:
        if statement.kind == "TransactionStmt":
            kind = statement.node.get("kind")
            if kind == "TRANS_STMT_COMMIT":
                return statement
            if kind in ("TRANS_STMT_ROLLBACK", "TRANS_STMT_PREPARE"):
                return None
    return None


def not_valid_then_validate(
    statement: Statement, ctx: Context, hit: Hit, fix_input: FixInput
) -> list[Edit] | None:
    """The fix of check-constraint-without-not-valid and foreign-key-without-not-valid: add the
    constraint NOT VALID, then VALIDATE it in its own transaction (right after the statement, or
    after the COMMIT of the transaction block the statement is in)."""
    from liveshift.linter.rule import added_constraints, offset_of

    if ctx.assume_in_transaction or hit.offset is None:
        return None  # the whole file is one transaction: no later transaction to validate in
    for _table, constraint in added_constraints(statement):
        if offset_of(constraint) == hit.offset:
            break
    else:
        return None
    name = constraint.get("conname")
    end = clause_end(fix_input.source, statement, hit.offset)
    if not name or end is None:
        return None  # VALIDATE needs the constraint's name; PostgreSQL makes up unnamed ones
    anchor = statement
    if ctx.in_transaction:
        commit = transaction_end(fix_input.statements, statement.index)
        if commit is None:
            return None
        anchor = commit
    node = statement.node
    relation = node.get("relation") or {}
    keyword = keywords_like(fix_input.source, statement)
    target = keyword("ALTER TABLE ")
    target += keyword("IF EXISTS ") if node.get("missing_ok") else ""
    target += "" if relation.get("inh") else keyword("ONLY ")  # the JSON leaves out false
    validate = (
        f"{target}{qualified_name(relation)} {keyword('VALIDATE CONSTRAINT')} {quote_ident(name)};"
    )
    return [
        Edit(end, end, keyword(" NOT VALID")),
        after_statement(fix_input.source, anchor, validate),
    ]
