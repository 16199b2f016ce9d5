"""What each operation needs from a database engine, read from its spec alone (no connection).

The planner compares these needs with the engine's Capabilities before anything runs, so an
engine that cannot do what an operation's recipe relies on is refused up front with the missing
capability named and why, instead of failing halfway through a migration. Needs that depend on
the live schema (a retyped column that other tables reference, say) are found by the engine when
it plans; this table holds what the migration file alone decides.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from liveshift.engines.base import Capabilities
from liveshift.migration import models


class Need(NamedTuple):
    """One capability an operation relies on, and why, in words a user understands."""

    flag: str
    why: str


# Every migration publishes a version schema of views for new clients (planner.version_views).
VERSION_SCHEMA = Need(
    "updatable_views",
    "new clients read and write through a version schema of views over the tables, so those "
    "views must accept INSERT, UPDATE and DELETE",
)

_CONCURRENT_UNIQUE = Need(
    "concurrent_index",
    "the unique index behind the key is built while the table takes writes",
)
_NOT_VALID_CHECK = Need(
    "not_valid_constraints",
    "the CHECK is added for new writes only and validated later, without blocking writes",
)
_NOT_VALID_NOT_NULL = Need(
    "not_valid_constraints",
    "NOT NULL stands as a CHECK added for new writes only and validated after the backfill, "
    "without blocking writes",
)
_NOT_VALID_REFERENCES = Need(
    "not_valid_constraints",
    "the foreign key is added for new writes only and validated later, without blocking writes",
)
_IDENTITY = Need(
    "identity_columns",
    "an identity column (GENERATED ... AS IDENTITY) takes its values from its own sequence",
)


def _column_needs(column: models.Column) -> list[Need]:
    """The needs of a new column's own clauses (add_column)."""
    needs: list[Need] = []
    if column.unique or column.primary_key:
        needs.append(_CONCURRENT_UNIQUE)
    if not column.nullable or column.primary_key:
        needs.append(_NOT_VALID_NOT_NULL)
    if column.check is not None:
        needs.append(_NOT_VALID_CHECK)
    if column.references is not None:
        needs.append(_NOT_VALID_REFERENCES)
    if column.identity is not None:
        needs.append(_IDENTITY)
    return needs


def _index_needs(spec: models.CreateIndex) -> list[Need]:
    needs: list[Need] = []
    if spec.where is not None:
        needs.append(Need("partial_indexes", "the index has a WHERE clause (a partial index)"))
    if spec.include:
        needs.append(
            Need(
                "covering_indexes", "the index stores extra columns with INCLUDE (a covering index)"
            )
        )
    if spec.method != "btree":
        needs.append(Need("index_methods", f"the index uses the {spec.method} index method"))
    return needs


def required(name: str, spec: Any) -> list[Need]:
    """The capabilities operation `name` with `spec` (its model from the migration file) relies
    on, each with why; the same flag may appear twice for two reasons."""
    needs: list[Need] = []
    if isinstance(spec, models.AddColumn):
        needs += _column_needs(spec.column)
    elif isinstance(spec, models.CreateTable):
        # A new table is empty: its keys and constraints need no online recipe, only its types.
        if any(c.identity is not None for c in spec.columns):
            needs.append(_IDENTITY)
    elif isinstance(spec, models.AlterColumn):
        if spec.unique:
            needs.append(_CONCURRENT_UNIQUE)
        if spec.nullable is False:
            needs.append(_NOT_VALID_NOT_NULL)
        if spec.check is not None:
            needs.append(_NOT_VALID_CHECK)
        if spec.references is not None:
            needs.append(_NOT_VALID_REFERENCES)
    elif isinstance(spec, models.CreateIndex):
        needs.append(
            Need(
                "concurrent_index",
                "the index is built while the table takes writes (CREATE INDEX CONCURRENTLY)",
            )
        )
        needs += _index_needs(spec)
    elif isinstance(spec, models.AddConstraint):
        needs += _constraint_needs(spec)
    elif isinstance(spec, models.SetReplicaIdentity):
        needs.append(
            Need(
                "replica_identity",
                "it sets what logical replication sends of an updated or deleted row "
                "(REPLICA IDENTITY)",
            )
        )
    elif isinstance(spec, models.RawSql):
        needs.append(
            Need(
                "transactional_ddl",
                "its SQL runs in one transaction with liveshift's journal: a statement that "
                "fails undoes the ones before it, so the step can simply run again",
            )
        )
    return needs


def _constraint_needs(spec: models.AddConstraint) -> list[Need]:
    if spec.type == "check":
        return [_NOT_VALID_CHECK]
    if spec.type == "foreign_key":
        return [_NOT_VALID_REFERENCES]
    if spec.type in ("unique", "primary_key"):
        needs = [_CONCURRENT_UNIQUE]
        if spec.type == "primary_key":
            needs.append(_NOT_VALID_NOT_NULL)
        if spec.include:
            needs.append(
                Need("covering_indexes", "the key's index stores extra columns with INCLUDE")
            )
        return needs
    needs = [
        Need(
            "exclusion_constraints",
            "an exclusion constraint (EXCLUDE USING ...) refuses rows that conflict with "
            "another row under an operator",
        )
    ]
    if not spec.build_under_lock:
        needs.append(
            Need("concurrent_index", "the constraint's index is built while the table takes writes")
        )
    if spec.where is not None:
        needs.append(Need("partial_indexes", "the exclusion constraint has a WHERE clause"))
    return needs


def lacks(capabilities: Capabilities, need: Need, spec: Any) -> bool:
    """Whether the engine cannot meet `need` of `spec`; `index_methods` is the set of index
    methods the engine has rather than a yes or no."""
    if need.flag == "index_methods":
        return str(getattr(spec, "method", "btree")) not in capabilities.index_methods
    return not bool(getattr(capabilities, need.flag))


# What a user can do when the engine lacks a flag: one sentence each, shown as the refusal's hint.
HINTS: dict[str, str] = {
    "transactional_ddl": "Without transactional DDL a failing statement leaves the ones before it "
    "applied; run such SQL by hand for now: the engine's journaled route is coming (issue 17).",
    "concurrent_index": "This engine cannot build an index while the table takes writes; the "
    "online-rebuild route is coming (issue 18).",
    "not_valid_constraints": "This engine checks a new constraint by copying the table under a "
    "lock; the online-rebuild route is coming (issue 18).",
    "updatable_views": "New clients need a version schema of writable views; this engine cannot "
    "serve one.",
    "exclusion_constraints": "Enforce the rule in a unique key or in the application instead.",
    "partial_indexes": "Index every row (drop `where:`), or index a generated column that is NULL "
    "for the rows to leave out.",
    "covering_indexes": "Drop `include:`, or list those columns as keys of the index.",
    "index_methods": "Use `method: btree`, the method every engine has.",
    "identity_columns": "Use the engine's own auto-increment column type instead of `identity:`.",
    "replica_identity": "This engine sets what replication sends of a row for the whole server, "
    "not per table.",
}
