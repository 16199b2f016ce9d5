"""alter_column's `comment:`: set at start, the old one put back by rollback."""

from __future__ import annotations

from liveshift.schema import quote_ident, quote_literal


def comment_sql(qualified: str, column: str, comment: str | None) -> str:
    text = "null" if comment is None else quote_literal(comment)
    return f"comment on column {qualified}.{quote_ident(column)} is {text}"
