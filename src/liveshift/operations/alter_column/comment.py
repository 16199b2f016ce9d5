"""alter_column's `comment:`: set at start, the old one put back by rollback."""

from __future__ import annotations

from liveshift.operations.actions.columns import CommentOnColumn


def set_comment(qualified: str, column: str, comment: str | None) -> CommentOnColumn:
    """Set the comment of `column` (physical) to `comment`; None removes it."""
    return CommentOnColumn(table=qualified, column=column, comment=comment)
