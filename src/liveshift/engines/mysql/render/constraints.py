"""MySQL/MariaDB's text for the actions on constraints and indexes: indexes built with
ALGORITHM=INPLACE, LOCK=NONE (writes go on), constraints InnoDB would add by copying refused."""

from __future__ import annotations

from liveshift.engines.mysql.render import render
from liveshift.engines.mysql.render.sql import (
    ONLINE,
    literal,
    quote,
    refuse,
    split_qualified,
    table,
)
from liveshift.operations.actions.constraints import (
    AddCheck,
    AddConstraintDefinition,
    AddConstraintUsingIndex,
    AddExclusion,
    AddForeignKey,
    AddNotNullCheck,
    ClusterOn,
    CopySequencePosition,
    CreateIndex,
    CreateIndexDefinition,
    DropConstraint,
    DropIndex,
    IndexKey,
    RecreateIdentity,
    RenameConstraint,
    RenameConstraintIfPresent,
    RenameIndex,
    RenameSequence,
    ReplicaIdentityUsingIndex,
    RepointForeignKey,
    SetSequenceOwner,
    SetSequenceType,
    ValidateConstraint,
)

_NOT_VALID = (
    "MySQL has no NOT VALID constraints: ADD CHECK and ADD FOREIGN KEY with checks on scan and "
    "copy the table with writes blocked (measured 1.7 s and 4.9-6.7 s on 1M rows), and with "
    "foreign_key_checks=0 existing rows are never checked"
)
_NOT_VALID_HINT = (
    "Plan the constraint in a maintenance window, or wait for the shadow-copy route (issue "
    '"Online table rebuild").'
)
_CATALOG_TEXT = (
    "it carries PostgreSQL catalog text (carry-over), not a definition MySQL reads",
    "The carry-over of constraints and indexes is PostgreSQL's; on MySQL the operation must "
    "rebuild them from typed actions.",
)


def _refuse_not_valid(action: object) -> str:
    raise refuse(action, _NOT_VALID, _NOT_VALID_HINT)


for _type in (ValidateConstraint, AddCheck, AddNotNullCheck, AddForeignKey):
    render.register(_type, _refuse_not_valid)


@render.register
def _add_exclusion(action: AddExclusion) -> str:
    raise refuse(action, "MySQL has no exclusion constraints", "Use a unique index instead.")


@render.register
def _add_constraint_definition(action: AddConstraintDefinition) -> str:
    raise refuse(action, *_CATALOG_TEXT)


@render.register
def _repoint_foreign_key(action: RepointForeignKey) -> str:
    raise refuse(action, *_CATALOG_TEXT)


@render.register
def _create_index_definition(action: CreateIndexDefinition) -> str:
    raise refuse(action, *_CATALOG_TEXT)


@render.register
def _add_using_index(action: AddConstraintUsingIndex) -> str:
    if action.primary:
        raise refuse(
            action,
            "InnoDB clusters rows by the primary key: adding one rebuilds the table",
            "Create the table with its primary key.",
        )
    if action.deferrable:
        raise refuse(action, "MySQL has no deferrable constraints", "Drop `deferrable`.")
    # The unique index is the constraint: it only takes the constraint's name.
    if action.index == action.name:
        return "do 0"
    return (
        f"alter table {table(action.table)} rename index {quote(action.index)} to "
        f"{quote(action.name)}, {ONLINE}"
    )


@render.register
def _drop_constraint(action: DropConstraint) -> str:
    # MariaDB's DROP CONSTRAINT drops a check, a foreign key or a unique key alike; INPLACE
    # covers all three (a unique key's index cannot be dropped INSTANT). ALTER TABLE IF EXISTS
    # and DROP CONSTRAINT IF EXISTS: MariaDB 10.5+.
    table_exists = "if exists " if action.table_if_exists else ""
    exists = "if exists " if action.if_exists else ""
    return (
        f"alter table {table_exists}{table(action.table)} drop constraint {exists}"
        f"{quote(action.name)}, {ONLINE}"
    )


@render.register
def _rename_constraint(action: RenameConstraint) -> str:
    # Only an index (a unique key) can be renamed in place; a check or a foreign key cannot.
    exists = "if exists " if action.if_exists else ""
    return (
        f"alter table {exists}{table(action.table)} rename index {quote(action.old)} to "
        f"{quote(action.new)}, {ONLINE}"
    )


@render.register
def _rename_constraint_if_present(action: RenameConstraintIfPresent) -> str:
    # No conditional DDL outside stored programs: a prepared statement chosen by the catalog.
    schema, name = _parts(action.table)
    statement = (
        f"alter table {table(action.table)} rename index {quote(action.old)} to "
        f"{quote(action.new)}, {ONLINE}"
    )
    condition = (
        "select count(*) > 0 from information_schema.statistics where "
        f"table_schema = {literal(schema)} and table_name = {literal(name)} "
        f"and index_name = {literal(action.old)}"
    )
    return _prepared(f"if(({condition}), {literal(statement)}, 'do 0')")


def _parts(qualified: str) -> tuple[str, str]:
    parts = split_qualified(qualified)
    return parts[-2], parts[-1]


def _prepared(expression: str) -> str:
    """Run the statement `expression` computes (prepared: ALTER TABLE can be)."""
    return (
        f"set @liveshift_ddl = {expression};\n"
        "prepare liveshift_ddl from @liveshift_ddl;\n"
        "execute liveshift_ddl;\n"
        "deallocate prepare liveshift_ddl"
    )


# -- indexes -------------------------------------------------------------------------------------


def _key(action: CreateIndex, key: IndexKey) -> str:
    if key.column is None:
        raise refuse(
            action,
            "MariaDB has no expression indexes (MySQL 8.0.13+ builds them as hidden generated "
            "columns, with a copy)",
            "Index a stored generated column instead.",
        )
    if key.collate is not None or key.opclass is not None or key.nulls is not None:
        raise refuse(
            action,
            "MySQL index keys have no COLLATE, operator class or NULLS FIRST/LAST",
            "Index the plain column.",
        )
    text = quote(key.column)
    return text if key.order is None else f"{text} {key.order}"


@render.register
def _create_index(action: CreateIndex) -> str:
    # `concurrently` or not, INPLACE with LOCK=NONE: writes go on while InnoDB builds it.
    if action.where is not None or action.include or action.storage:
        raise refuse(
            action,
            "MySQL indexes have no WHERE (partial), INCLUDE or storage parameters",
            "Drop `where`, `include` and the storage parameters on MySQL/MariaDB.",
        )
    if action.method is not None and action.method.lower() != "btree":
        raise refuse(action, f"InnoDB builds only BTREE indexes, not {action.method}", "Use btree.")
    kind = "unique index" if action.unique else "index"
    name = f" {quote(action.name)}" if action.name is not None else ""
    keys = ", ".join(_key(action, k) for k in action.keys)
    using = " using btree" if action.method is not None else ""
    return f"alter table {table(action.table)} add {kind}{name}{using} ({keys}), {ONLINE}"


def _on_table_of_index(schema: str, index: str, statement: str) -> str:
    """`statement` (with {table} for the table) on the table of `schema` holding the index
    `index`: MySQL names an index per table, the action carries only its schema. None: nothing
    to do; several tables: an error naming the index."""
    head, tail = statement.split("{table}")
    table_name = "concat('`', replace(min(table_name), '`', '``'), '`')"
    ambiguous = literal(
        f"alter table `index {index} is on several tables of {schema}: liveshift needs the "
        "table` force"
    )
    computed = (
        f"(select case count(distinct table_name) when 0 then 'do 0' when 1 then "
        f"concat({literal(head)}, {table_name}, {literal(tail)}) else {ambiguous} end "
        "from information_schema.statistics "
        f"where table_schema = {literal(schema)} and index_name = {literal(index)})"
    )
    return _prepared(computed)


@render.register
def _drop_index(action: DropIndex) -> str:
    return _on_table_of_index(
        action.schema,
        action.name,
        f"alter table {quote(action.schema)}.{{table}} drop index {quote(action.name)}, {ONLINE}",
    )


@render.register
def _rename_index(action: RenameIndex) -> str:
    return _on_table_of_index(
        action.schema,
        action.old,
        f"alter table {quote(action.schema)}.{{table}} rename index {quote(action.old)} to "
        f"{quote(action.new)}, {ONLINE}",
    )


# -- a replaced column's sequence, identity and table marks: PostgreSQL's ----------------------


def _postgres_only(action: object) -> str:
    raise refuse(
        action,
        "it is a PostgreSQL catalog feature (sequences, identity, replica identity, CLUSTER) "
        "InnoDB has no counterpart for",
        "Change the column's type through the new column route, which does not carry these "
        "over on MySQL/MariaDB.",
    )


for _pg_type in (
    ReplicaIdentityUsingIndex,
    ClusterOn,
    SetSequenceOwner,
    SetSequenceType,
    RecreateIdentity,
    CopySequencePosition,
    RenameSequence,
):
    render.register(_pg_type, _postgres_only)
