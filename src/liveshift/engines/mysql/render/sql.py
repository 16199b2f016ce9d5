"""Names, literals and expressions as MySQL/MariaDB writes them: backtick-quoted identifiers,
`db`.`t` from the PostgreSQL-style qualified names actions carry, expressions converted token by
token."""

from __future__ import annotations

import re

from liveshift.errors import ValidationError
from liveshift.operations.actions import Action
from liveshift.sqlexpr import referenced_columns

# The backfill session sets this user variable (SET @liveshift_backfill = 1): the sync triggers
# leave its writes alone, as PostgreSQL's skip those made under `liveshift.backfill = on`.
BACKFILL_VARIABLE = "@liveshift_backfill"
SKIP_BACKFILL = f"not ({BACKFILL_VARIABLE} <=> 1)"
# A new-version client sets this at connect (its driver's init command) to its version
# database's name: the sync triggers tell the versions' writes apart by it (DATABASE() inside a
# trigger is the trigger's database, whichever the client uses).
VERSION_VARIABLE = "@liveshift_version"

INSTANT = "algorithm=instant"
ONLINE = "algorithm=inplace, lock=none"


def refuse(action: Action | object, why: str, hint: str) -> ValidationError:
    """The error for an action this engine cannot run online (raised by the caller)."""
    return ValidationError(
        f"MySQL/MariaDB cannot run the action {type(action).__name__} online: {why}", hint=hint
    )


def quote(name: str) -> str:
    """A backtick-quoted identifier (always quoted: MySQL's reserved words differ by version)."""
    return "`" + name.replace("`", "``") + "`"


def literal(value: str) -> str:
    """A string literal. Backslashes are doubled: the server's default sql_mode reads them as
    escapes (a session with NO_BACKSLASH_ESCAPES would keep both)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def split_qualified(name: str) -> tuple[str, ...]:
    """The parts of a PostgreSQL-style qualified name (`Table.qualified`: `"My Schema".t`), as
    the names themselves: double quotes removed, "" undoubled."""
    parts: list[str] = []
    i = 0
    while i <= len(name):
        if i < len(name) and name[i] == '"':
            j = i + 1
            part = []
            while True:
                if j >= len(name):
                    raise ValueError(f"unterminated quoted name in {name!r}")
                if name[j] == '"':
                    if j + 1 < len(name) and name[j + 1] == '"':
                        part.append('"')
                        j += 2
                        continue
                    break
                part.append(name[j])
                j += 1
            parts.append("".join(part))
            i = j + 1
        else:
            end = name.find(".", i)
            end = len(name) if end == -1 else end
            parts.append(name[i:end])
            i = end
        if i < len(name) and name[i] != ".":
            raise ValueError(f"not a qualified name: {name!r}")
        i += 1
    return tuple(parts)


def table(qualified: str) -> str:
    """`db`.`t` from an action's `"schema".table` (a schema is a database here)."""
    return ".".join(quote(part) for part in split_qualified(qualified))


def qualified(schema: str, name: str) -> str:
    return f"{quote(schema)}.{quote(name)}"


def names(columns: tuple[str, ...]) -> str:
    return ", ".join(quote(c) for c in columns)


_TOKEN = re.compile(
    r"""
    (?P<string>'(?:[^'\\]|''|\\.)*')
    | (?P<quoted>"(?:[^"]|"")*")
    | (?P<cast>::)
    | (?P<word>[A-Za-z_][A-Za-z_0-9$]*)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


def expression(text: str, *, qualifier: str | None = None, what: str = "SQL") -> str:
    """A PostgreSQL expression from a migration file as MySQL reads it: "quoted" names in
    backticks, column names (those the expression reads, found by PostgreSQL's parser) quoted
    and, with `qualifier`, qualified (NEW.`x` in a trigger). Syntax only PostgreSQL has (`::`
    casts) is refused rather than guessed."""
    columns = referenced_columns(text, what)
    out: list[str] = []
    previous = ""
    for match in _TOKEN.finditer(text):
        kind, token = match.lastgroup, match.group()
        if kind == "cast":
            raise ValidationError(
                f"the {what} expression `{text}` uses a PostgreSQL cast (::), which MySQL "
                "does not read",
                hint="Write the cast as CAST(x AS type), which both servers read.",
            )
        if kind in ("word", "quoted"):
            name = token[1:-1].replace('""', '"') if kind == "quoted" else token.lower()
            following = text[match.end() :].lstrip()[:1]
            is_column = name in columns and previous != "." and following not in ("(", ".")
            if is_column:
                token = quote(name) if qualifier is None else f"{qualifier}.{quote(name)}"
            elif kind == "quoted":
                token = quote(name)
        out.append(token)
        if not token.isspace():
            previous = token
    return "".join(out)


_CONSTANT_DEFAULT = re.compile(
    r"""^\s*(?:[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?|'(?:[^'\\]|''|\\.)*'|null|true|false
    |current_timestamp(?:\s*\(\s*\d?\s*\))?)\s*$""",
    re.IGNORECASE | re.VERBOSE,
)

# Functions whose value differs per row: as a column default, MySQL either copies the table
# (uuid()) or, instantly, gives every existing row the same value (rand()): issue 17's traps.
_VOLATILE = re.compile(
    r"\b(rand|random|uuid|uuid_short|sys_guid|sysdate|gen_random_uuid)\s*\(", re.I
)


def default(text: str, what: str = "default") -> str:
    """A column default: a constant as it is, an expression in parentheses (MySQL's syntax)."""
    if _CONSTANT_DEFAULT.match(text):
        return text.strip()
    if _VOLATILE.search(text):
        raise ValidationError(
            f"the {what} `{text}` is volatile: MySQL would either copy the table or give every "
            "existing row the same value",
            hint="Add the column without a default and fill it with `up` (a backfill).",
        )
    return f"({expression(text, what=what)})"


def split_statements(text: str) -> list[str]:
    """The statements of a rendered text (the planner joins a step's with ";\\n"): split at
    semicolons outside quotes, since the server takes one statement per call."""
    statements: list[str] = []
    start = 0
    quote_char: str | None = None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote_char is not None:
            if ch == "\\" and quote_char == "'":
                i += 2
                continue
            if ch == quote_char:
                if i + 1 < len(text) and text[i + 1] == quote_char:
                    i += 2
                    continue
                quote_char = None
        elif ch in ("'", '"', "`"):
            quote_char = ch
        elif ch == ";":
            statements.append(text[start:i])
            start = i + 1
        i += 1
    statements.append(text[start:])
    return [s.strip() for s in statements if s.strip()]
