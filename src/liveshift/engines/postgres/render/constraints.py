"""PostgreSQL's text for the actions on constraints and indexes."""

from __future__ import annotations

from liveshift.engines.postgres.render import render
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
    StorageParameter,
    ValidateConstraint,
)
from liveshift.schema import quote_ident, quote_literal


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(quote_ident(n) for n in names)


def _opclass(opclass: str) -> str:
    # A schema-qualified operator class is quoted part by part.
    return ".".join(quote_ident(part) for part in opclass.split("."))


@render.register
def _validate(action: ValidateConstraint) -> str:
    return f"alter table only {action.table} validate constraint {quote_ident(action.name)}"


@render.register
def _add_check(action: AddCheck) -> str:
    return (
        f"alter table only {action.table} add constraint {quote_ident(action.name)} "
        f"check ({action.condition}) not valid"
    )


@render.register
def _add_not_null_check(action: AddNotNullCheck) -> str:
    return (
        f"alter table only {action.table} add constraint {quote_ident(action.name)} "
        f"check ({quote_ident(action.column)} is not null) not valid"
    )


@render.register
def _add_foreign_key(action: AddForeignKey) -> str:
    return (
        f"alter table only {action.table} add constraint {quote_ident(action.name)} "
        f"foreign key ({_names(action.columns)}) references "
        f"{action.target} ({_names(action.target_columns)}) "
        f"on delete {action.on_delete} on update {action.on_update} not valid"
    )


def exclusion_clause(action: AddExclusion) -> str:
    """EXCLUDE USING method (element WITH operator, ...) [WHERE (predicate)]."""
    elements = []
    for element in action.elements:
        if element.column is not None:
            key = quote_ident(element.column)
        else:
            key = f"({element.expression})"
        if element.opclass is not None:
            key += " " + _opclass(element.opclass)
        elements.append(f"{key} with {element.operator}")
    clause = f"exclude using {action.using} ({', '.join(elements)})"
    if action.where is not None:
        clause += f" where ({action.where})"
    return clause


@render.register
def _add_exclusion(action: AddExclusion) -> str:
    return (
        f"alter table only {action.table} add constraint {quote_ident(action.name)} "
        f"{exclusion_clause(action)}"
    )


@render.register
def _add_using_index(action: AddConstraintUsingIndex) -> str:
    kind = "primary key" if action.primary else "unique"
    deferrable = ""
    if action.deferrable:
        deferrable = " deferrable initially " + ("deferred" if action.deferred else "immediate")
    return (
        f"alter table only {action.table} add constraint {quote_ident(action.name)} {kind} "
        f"using index {quote_ident(action.index)}{deferrable}"
    )


@render.register
def _drop_constraint(action: DropConstraint) -> str:
    table = "if exists " if action.table_if_exists else ""
    constraint = "if exists " if action.if_exists else ""
    return (
        f"alter table {table}only {action.table} drop constraint {constraint}"
        f"{quote_ident(action.name)}"
    )


@render.register
def _rename_constraint(action: RenameConstraint) -> str:
    exists = "if exists " if action.if_exists else ""
    return (
        f"alter table {exists}only {action.table} "
        f"rename constraint {quote_ident(action.old)} to {quote_ident(action.new)}"
    )


@render.register
def _rename_constraint_if_present(action: RenameConstraintIfPresent) -> str:
    # PostgreSQL has no RENAME CONSTRAINT IF EXISTS: a DO block asks the catalog first.
    rename = _rename_constraint(
        RenameConstraint(table=action.table, old=action.old, new=action.new, if_exists=True)
    )
    return (
        "do $liveshift$ begin\n"
        f"  if exists (select from pg_constraint where conname = {quote_literal(action.old)}\n"
        f"      and conrelid = to_regclass({quote_literal(action.table)})) then\n"
        f"    {rename};\n"
        "  end if;\n"
        "end $liveshift$"
    )


@render.register
def _add_constraint_definition(action: AddConstraintDefinition) -> str:
    return f"alter table only {action.table} {action.definition}"


@render.register
def _repoint_foreign_key(action: RepointForeignKey) -> str:
    return action.statement


# -- indexes -------------------------------------------------------------------------------------


def _key(key: IndexKey) -> str:
    text = quote_ident(key.column) if key.column is not None else f"({key.expression})"
    if key.collate is not None:
        text += f" collate {quote_ident(key.collate)}"
    if key.opclass is not None:
        text += " " + _opclass(key.opclass)
    if key.order is not None:
        text += f" {key.order}"
    if key.nulls is not None:
        text += f" nulls {key.nulls}"
    return text


def _storage_value(value: bool | int | float | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return quote_literal(value)


def _storage(parameters: tuple[StorageParameter, ...]) -> str:
    return ", ".join(f"{quote_ident(p.name)} = {_storage_value(p.value)}" for p in parameters)


@render.register
def _create_index(action: CreateIndex) -> str:
    unique = "unique " if action.unique else ""
    concurrently = "concurrently " if action.concurrently else ""
    name = quote_ident(action.name) + " " if action.name is not None else ""
    using = f"using {action.method} " if action.method is not None else ""
    sql = (
        f"create {unique}index {concurrently}{name}on {action.table} "
        f"{using}({', '.join(_key(k) for k in action.keys)})"
    )
    if action.include:
        sql += f" include ({_names(action.include)})"
    if action.storage:
        sql += f" with ({_storage(action.storage)})"
    if action.where is not None:
        sql += f" where {action.where}"
    return sql


@render.register
def _create_index_definition(action: CreateIndexDefinition) -> str:
    return action.definition


@render.register
def _drop_index(action: DropIndex) -> str:
    concurrently = "concurrently " if action.concurrently else ""
    return f"drop index {concurrently}if exists {quote_ident(action.schema)}.{quote_ident(action.name)}"


@render.register
def _rename_index(action: RenameIndex) -> str:
    return (
        f"alter index {quote_ident(action.schema)}.{quote_ident(action.old)} "
        f"rename to {quote_ident(action.new)}"
    )


# -- a replaced column's sequence, identity and table marks ---------------------------------------


@render.register
def _replica_identity(action: ReplicaIdentityUsingIndex) -> str:
    return (
        f"alter table only {action.table} replica identity using index {quote_ident(action.index)}"
    )


@render.register
def _cluster_on(action: ClusterOn) -> str:
    return f"alter table only {action.table} cluster on {quote_ident(action.index)}"


@render.register
def _sequence_owner(action: SetSequenceOwner) -> str:
    return f"alter sequence {action.sequence} owned by {action.table}.{quote_ident(action.column)}"


@render.register
def _sequence_type(action: SetSequenceType) -> str:
    return f"alter sequence {action.sequence} as {action.type}"


def _sequence(schema: str, name: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(name)}"


@render.register
def _add_identity(action: RecreateIdentity) -> str:
    kind = "always" if action.always else "by default"
    minimum = "no minvalue" if action.minimum is None else f"minvalue {action.minimum}"
    maximum = "no maxvalue" if action.maximum is None else f"maxvalue {action.maximum}"
    cycle = "cycle" if action.cycle else "no cycle"
    options = (
        f"increment by {action.increment} {minimum} {maximum} start with {action.start} "
        f"cache {action.cache} {cycle}"
    )
    return (
        f"alter table only {action.table} alter column {quote_ident(action.column)} add generated "
        f"{kind} as identity (sequence name "
        f"{_sequence(action.sequence_schema, action.sequence_name)} {options})"
    )


@render.register
def _copy_sequence_position(action: CopySequencePosition) -> str:
    target = _sequence(action.target_schema, action.target_name)
    return f"select setval({quote_literal(target)}, last_value, is_called) from {action.source}"


@render.register
def _rename_sequence(action: RenameSequence) -> str:
    return (
        f"alter sequence {_sequence(action.schema, action.old)} rename to {quote_ident(action.new)}"
    )
