"""SQL expressions from migration files, read with PostgreSQL's own parser (pglast)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import pglast
from pglast import ast, visitors
from pglast.stream import RawStream

from liveshift.errors import ValidationError


def _parse(expression: str, what: str) -> Any:
    try:
        statements = pglast.parse_sql(f"SELECT {expression}")
    except pglast.parser.ParseError as exc:
        raise ValidationError(
            f"the {what} expression does not parse: {exc.args[0]} (in `{expression}`)",
            hint="Write a single SQL expression, as it would appear after SELECT.",
        ) from None
    statement = statements[0].stmt if len(statements) == 1 else None
    if (
        not isinstance(statement, ast.SelectStmt)
        or statement.fromClause
        or statement.whereClause
        or not statement.targetList
        or len(statement.targetList) != 1
    ):
        raise ValidationError(
            f"the {what} expression must be one SQL expression, not a statement: `{expression}`",
            hint="Write a single SQL expression, as it would appear after SELECT.",
        )
    return statement.targetList[0].val


# Clauses that make a SELECT a query over rows rather than one value computed from the row.
_QUERY_CLAUSES = {
    "fromClause": "FROM",
    "whereClause": "WHERE",
    "groupClause": "GROUP BY",
    "havingClause": "HAVING",
    "windowClause": "WINDOW",
    "sortClause": "ORDER BY",
    "limitCount": "LIMIT",
    "limitOffset": "OFFSET",
    "distinctClause": "DISTINCT",
    "withClause": "WITH",
    "intoClause": "INTO",
    "lockingClause": "FOR UPDATE",
    "valuesLists": "VALUES",
    "larg": "UNION/INTERSECT/EXCEPT",
}


def unwrap_select(expression: str, what: str) -> str:
    """`SELECT <expression>` (one value, no FROM) as `<expression>`, the form `up`/`down` take:
    many tools accept `up: SELECT CASE WHEN x IS NULL THEN 0 ELSE x END`. Any other text is
    returned as it is (check_expression judges it). A SELECT that reads rows (FROM, WHERE, ...)
    is refused: `up`/`down` are computed from one row's own columns, in a trigger as well as in
    the backfill, where a query's columns would mean another table's."""
    if not re.match(r"\s*select\b", expression, re.IGNORECASE):
        return expression
    try:
        statements = pglast.parse_sql(expression)
    except pglast.parser.ParseError:
        return expression
    statement = statements[0].stmt if len(statements) == 1 else None
    if not isinstance(statement, ast.SelectStmt):
        return expression
    clauses = [shown for c, shown in _QUERY_CLAUSES.items() if getattr(statement, c, None)]
    if clauses or not statement.targetList or len(statement.targetList) != 1:
        shown = ", ".join(clauses) or "several values"
        raise ValidationError(
            f"the {what} expression is a query ({shown}), not one value computed from the row: "
            f"`{expression}`",
            hint=f"Write `{what}` as one SQL expression over the row's columns, as it would "
            "appear after SELECT, e.g. `CASE WHEN x IS NULL THEN 0 ELSE x END` (a leading "
            "SELECT with one value and no FROM is accepted too).",
        )
    return str(RawStream()(statement.targetList[0].val))


def check_expression(expression: str, what: str) -> None:
    """Refuse text that is not exactly one SQL expression."""
    _parse(expression, what)


def referenced_columns(expression: str, what: str = "SQL") -> set[str]:
    """The unqualified column names an expression reads."""
    found: set[str] = set()

    class Collect(visitors.Visitor):
        def visit_ColumnRef(self, ancestors: Any, node: ast.ColumnRef) -> None:
            name = _single_name(node)
            if name is not None:
                found.add(name)

    Collect()(_parse(expression, what))
    return found


def _single_name(node: ast.ColumnRef) -> str | None:
    fields = node.fields or ()
    if len(fields) == 1 and isinstance(fields[0], ast.String):
        return str(fields[0].sval)
    return None


def rewrite_columns(
    expression: str,
    renames: Mapping[str, str] | None = None,
    *,
    qualifier: str | None = None,
    what: str = "SQL",
) -> str:
    """The expression with its column references renamed and/or qualified (e.g. with `new`)."""
    mapping: Mapping[str, str] = renames or {}
    tree = _parse(expression, what)

    class Rewrite(visitors.Visitor):
        def visit_ColumnRef(self, ancestors: Any, node: ast.ColumnRef) -> ast.ColumnRef | None:
            name = _single_name(node)
            if name is None:
                return None
            fields: tuple[ast.String, ...] = (ast.String(sval=mapping.get(name, name)),)
            if qualifier:
                fields = (ast.String(sval=qualifier), *fields)
            return ast.ColumnRef(fields=fields)

    rewrite = Rewrite()
    if isinstance(tree, ast.ColumnRef):
        # The visitor replaces nodes inside their parent: a bare column has none.
        tree = rewrite.visit_ColumnRef(None, tree) or tree
    else:
        rewrite(tree)
    return str(RawStream()(tree))


def is_constant(expression: str) -> bool:
    """True for a literal, optionally cast (`0`, `'x'::text`, `true`): safe to copy anywhere."""
    node = _parse(expression, "default")
    while isinstance(node, ast.TypeCast):
        node = node.arg
    return isinstance(node, ast.A_Const)


def iter_statements(script: str) -> Iterator[str]:
    """Split a SQL script into statements with PostgreSQL's own scanner."""
    for raw in pglast.split(script):
        text = raw.strip()
        if text:
            yield text
