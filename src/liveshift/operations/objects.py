"""Lookups shared by the table, index and constraint operations: model objects and catalog facts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveshift.engines.probe_objects import TableDependent
from liveshift.errors import ValidationError, did_you_mean
from liveshift.schema import Index, Schema, Table
from liveshift.sqlexpr import referenced_columns, rewrite_columns

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe


def refuse_reserved(name: str, kind: str) -> None:
    if name.startswith("_ls_"):
        raise ValidationError(
            f"{kind} names starting with _ls_ are reserved for liveshift ({name!r})",
            hint="Choose another name.",
        )


def physical_names(schema: Schema) -> set[str]:
    """Every relation name the model's tables and indexes occupy in the base schema now."""
    names = {t.physical for t in schema.tables.values()}
    for table in schema.tables.values():
        names.update(table.indexes)
    return names


def refuse_taken_relation_name(schema: Schema, probe: Probe, name: str, what: str) -> None:
    """Refuse `name` for a new table or index when the base schema already uses it: in the model
    (a table, a renamed table's old name kept until complete, an index) or in the catalog (a view,
    a sequence, a table this migration drops only at complete, ...)."""
    taken: str | None = None
    if name in schema.tables:
        taken = "a table"
    elif name in {t.physical for t in schema.tables.values()}:
        taken = "a table that keeps this name until complete renames it"
    elif name in physical_names(schema):
        taken = "an index"
    else:
        kind = probe.relation_kind(schema.name, name)
        if kind == "table":
            taken = "a table this migration drops only at complete"
        elif kind is not None:
            taken = f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"
    if taken is not None:
        raise ValidationError(
            f"{what} {name!r}: the name is already used by {taken} in schema {schema.name!r}",
            object=f"{schema.name}.{name}",
            hint="Choose another name.",
        )


def refuse_taken_constraint_name(
    schema: Schema, table: Table, probe: Probe, name: str, what: str
) -> None:
    """A name chosen for a unique or primary key constraint: free among the table's constraints
    and, since its index takes the name, among the schema's relations."""
    refuse_reserved(name, "constraint")
    if name in table.constraints:
        raise ValidationError(
            f"{what} {name!r}: table {table.name} already has a constraint of that name",
            object=f"{schema.name}.{table.name}.{name}",
            hint="Choose another name.",
        )
    refuse_taken_relation_name(schema, probe, name, what)


def refuse_taken_not_null_check(schema: Schema, table: Table, name: str) -> None:
    """The check that stands for NOT NULL until complete is named after the table and column
    (`users_email_not_null_check`): refuse when the table already has a constraint of that name."""
    if name in table.constraints:
        raise ValidationError(
            f"table {table.name} already has a constraint named {name!r}, the name liveshift gives "
            "the NOT NULL check it adds until complete",
            object=f"{schema.name}.{table.name}.{name}",
            hint="Rename that constraint first (a rename_constraint operation), or drop it.",
        )


def refuse_taken_version_schema(schema: Schema, probe: Probe, name: str) -> None:
    """A chosen `version_schema:` must be a new schema: rollback drops it with everything in it,
    and a previous version's schema of that name still serves that version's clients."""
    taken: str | None = None
    if name == schema.name:
        taken = "the migration's own schema"
    else:
        taken = "an existing schema" if probe.schema_exists(name) else None
    if taken is not None:
        raise ValidationError(
            f"`version_schema: {name}` names {taken}: the new version's views need a schema of "
            "their own, which rollback drops with everything in it",
            object=name,
            hint="Choose a name no schema has yet (one per migration, e.g. with the version in "
            "it), or leave `version_schema:` out for <schema>_<migration name>.",
        )


def find_index(schema: Schema, name: str) -> tuple[Table, Index]:
    """The index called `name` on any table of the model, or a ValidationError with a suggestion."""
    for table in schema.tables.values():
        if name in table.indexes:
            return table, table.indexes[name]
    every = [i for t in schema.tables.values() for i in t.indexes]
    raise ValidationError(
        f"there is no index {name!r} in schema {schema.name!r}",
        object=f"{schema.name}.{name}",
        hint=did_you_mean(name, every) or "Check the index name and the migration's `schema:`.",
    )


def physical_expression(table: Table, expression: str, what: str) -> str:
    """An expression over the new version's column names, rewritten to the base table's names;
    refuses unknown columns with a suggestion."""
    for column in sorted(referenced_columns(expression, what)):
        table.column(column)
    renames = {c.name: c.physical for c in table.columns.values() if c.name != c.physical}
    if not renames:
        return expression
    return rewrite_columns(expression, renames, what=what)


def model_references_to(schema: Schema, table: Table) -> list[TableDependent]:
    """Foreign keys in the model (e.g. of tables this migration creates) pointing at `table`."""
    targets = {table.name, table.physical, f"{table.schema}.{table.physical}", table.qualified}
    found = []
    for other in schema.tables.values():
        if other is table:
            continue
        for constraint in other.constraints.values():
            if constraint.kind == "f" and constraint.referenced_table in targets:
                found.append(TableDependent("foreign key", f"{constraint.name} on {other.name}"))
    return found
