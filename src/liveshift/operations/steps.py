"""Step builders that several operations share: a backfill and a concurrent index build."""

from __future__ import annotations

from liveshift.plan import Backfill, ConcurrentIndex, LockMode, Step
from liveshift.schema import Table, quote_ident


def backfill_step(
    table: Table, column: str, expression: str, *, description: str, operation: str
) -> Step:
    """Fill `column` (a physical name) from `expression` for rows where it is still NULL, in keyset
    batches on the primary key, else a unique NOT NULL key, else ctid."""
    key = table.primary_key() or table.unique_not_null_key()
    return Step(
        description,
        lock=LockMode.ROW_EXCLUSIVE,
        tables=(table.qualified,),
        estimated_rows=table.estimated_rows,
        transactional=False,
        backfill=Backfill(
            schema=table.schema,
            table=table.physical,
            column=column,
            expression=expression,
            where=f"{quote_ident(column)} is null",
            key=tuple(table.columns[k].physical for k in key) if key else None,
        ),
        operation=operation,
    )


def concurrent_index_step(
    table: Table,
    name: str,
    create_sql: str,
    *,
    description: str,
    operation: str,
    notes: tuple[str, ...] = (),
) -> Step:
    """CREATE INDEX CONCURRENTLY: SHARE UPDATE EXCLUSIVE, so reads and writes go on."""
    return Step(
        description,
        lock=LockMode.SHARE_UPDATE_EXCLUSIVE,
        tables=(table.qualified,),
        scans=True,
        transactional=False,
        estimated_rows=table.estimated_rows,
        concurrent_index=ConcurrentIndex(schema=table.schema, name=name, create_sql=create_sql),
        operation=operation,
        notes=notes,
    )
