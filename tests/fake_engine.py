"""A fake engine for planner unit tests: typed probe answers from an in-memory schema, and a render
that names each action instead of writing SQL, so plans are checked as actions with no server."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from liveshift.engines.probe import ColumnType
from liveshift.engines.probe_constraints import ConstraintQuestions, RelyingForeignKey
from liveshift.engines.probe_objects import (
    ColumnFacts,
    Dependent,
    IndexShape,
    ObjectQuestions,
    ReplicaIdentityFacts,
    TableDependent,
)
from liveshift.errors import ValidationError
from liveshift.operations.actions import Action
from liveshift.schema import Schema, Table

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe
    from liveshift.operations.actions.constraints import AddExclusion, CreateIndex

# The server's spelling of a few type names (format_type), enough for plans of common columns.
TYPES = {
    "int": "integer",
    "int4": "integer",
    "integer": "integer",
    "int8": "bigint",
    "bigint": "bigint",
    "int2": "smallint",
    "smallint": "smallint",
    "text": "text",
    "bool": "boolean",
    "boolean": "boolean",
    "timestamptz": "timestamp with time zone",
    "timestamp with time zone": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
    "date": "date",
    "uuid": "uuid",
    "jsonb": "jsonb",
    "numeric": "numeric",
}
SERIALS = {"serial": "integer", "bigserial": "bigint", "smallserial": "smallint"}
# Defaults PostgreSQL evaluates per row (ADD COLUMN ... DEFAULT would rewrite the table).
VOLATILE = ("random(", "nextval(", "gen_random_uuid(", "clock_timestamp(")


def render(action: Action) -> str:
    """An action as its type and fields: plans compare as actions, engine-free."""
    fields = ", ".join(f"{f.name}={getattr(action, f.name)!r}" for f in dataclasses.fields(action))
    return f"{type(action).__name__}({fields})"


def actions_of(text: str) -> list[str]:
    """The action type names in a step's text as `render` wrote it (joined with ';\\n')."""
    return [part.split("(", 1)[0] for part in text.split(";\n") if part]


class FakeProbe:
    """Answers the planner's typed questions (engines/probe_objects.py, probe_constraints.py and
    PostgreSQL's Probe's own) from `live`, the database as it is before the migration, with simple
    rules: known types only, every expression and condition fits, tables have no rows unless
    named in `rows`, nothing depends on anything. `asked` records each question by name."""

    def __init__(
        self,
        live: Schema,
        *,
        rows: Sequence[str] = (),
        schemas: Sequence[str] = (),
        views: dict[str, set[str]] | None = None,
        refuse: dict[str, str] | None = None,
        comments: dict[tuple[str, str], str] | None = None,
    ) -> None:
        self.live = live.clone()  # what operations change is their model, not the database
        self.rows = set(rows)  # names of tables that have rows
        self.schemas = {live.name, *schemas}
        self.views = views or {}  # schema -> its views
        self.refuse = refuse or {}  # expression or condition text -> the server's refusal
        self.comments = comments or {}  # (table, column) -> comment
        self.asked: list[str] = []

    def as_probe(self) -> Probe:
        """This fake as the planner's engine-neutral Probe (mypy checks that it is one)."""
        return self

    def _ask(self, question: str) -> None:
        self.asked.append(question)

    def _live_table(self, table: Table) -> Table | None:
        return next(
            (t for t in self.live.tables.values() if t.qualified == table.qualified),
            None,
        )

    def _refused(self, text: str, what: str) -> None:
        if text in self.refuse:
            raise ValidationError(f"{what} is refused by the database: {self.refuse[text]}")

    # PostgreSQL's Probe's own questions (no protocol names them yet).
    def column_type(self, type_name: str) -> ColumnType:
        self._ask("column_type")
        text = type_name.strip().lower()
        if text in SERIALS:
            return ColumnType(name=SERIALS[text], serial=True)
        if text in TYPES:
            return ColumnType(name=TYPES[text])
        varchar = re.fullmatch(r"(?:varchar|character varying)\((\d+)\)", text)
        if varchar:
            return ColumnType(name=f"character varying({varchar.group(1)})")
        if text in self.live.types:
            return ColumnType(name=text)
        raise ValidationError(
            f"type {type_name!r} does not exist in the target database",
            hint="Create the type first, or fix its name.",
            sqlstate="42704",
        )

    def type_exists(self, type_name: str) -> str:
        resolved = self.column_type(type_name)
        if resolved.serial:
            raise ValidationError(f"{type_name!r} is not a type but a new column with a sequence")
        return resolved.name

    def expression_fits(
        self, table: Table, expression: str, type_name: str | None, what: str, column: str = ""
    ) -> None:
        self._ask("expression_fits")
        self._refused(expression, what)

    def condition_fits(
        self,
        table: Table,
        condition: str,
        extra: dict[str, str],
        what: str,
        internal: dict[str, str] | None = None,
    ) -> None:
        self._ask("condition_fits")
        self._refused(condition, what)

    def default_is_instant(self, type_name: str, default: str) -> bool:
        self._ask("default_is_instant")
        return not any(call in default.lower() for call in VOLATILE)

    def misfits(self, table: Table, expression: str, type_name: str, what: str) -> int:
        self._ask("misfits")
        return 0

    def column_comment(self, table: Table, column: str) -> str | None:
        self._ask("column_comment")
        return self.comments.get((table.name, column))

    def has_rows(self, table: Table) -> bool:
        self._ask("has_rows")
        return table.name in self.rows

    # ConstraintQuestions
    def table_in_catalog(self, table: Table) -> bool:
        self._ask("table_in_catalog")
        return self._live_table(table) is not None

    def holds_nulls(self, table: Table, columns: Sequence[str], what: str) -> bool:
        self._ask("holds_nulls")
        return False

    def constraint_exists(self, table: Table, name: str) -> bool:
        self._ask("constraint_exists")
        live = self._live_table(table)
        return live is not None and name in live.constraints

    def foreign_keys_relying_on(self, table: Table, name: str) -> list[RelyingForeignKey]:
        self._ask("foreign_keys_relying_on")
        return []

    def exclusion_fits(self, table: Table, exclusion: AddExclusion, what: str) -> None:
        self._ask("exclusion_fits")

    def index_fits(self, table: Table, index: CreateIndex, what: str) -> None:
        self._ask("index_fits")

    def identity_fits(self, type_name: str, what: str) -> None:
        self._ask("identity_fits")

    def carried_index_fits(
        self, table: Table, column: str, type_name: str, definition: str, what: str
    ) -> None:
        self._ask("carried_index_fits")

    def carried_check_fits(
        self, table: Table, column: str, type_name: str, clause: str, what: str
    ) -> None:
        self._ask("carried_check_fits")

    def foreign_key_types_fit(
        self, referencing: Sequence[str], referenced: Sequence[str], what: str
    ) -> None:
        self._ask("foreign_key_types_fit")

    def value_fits(
        self,
        row: dict[str, str],
        expression: str,
        type_name: str,
        target: tuple[str, str],
        what: str,
    ) -> None:
        self._ask("value_fits")
        self._refused(expression, what)

    def rechecked_by_type_change(self, table: Table, column: str) -> list[str]:
        self._ask("rechecked_by_type_change")
        return []

    def type_change_rewrites(self, old_type: str, new_type: str) -> bool:
        self._ask("type_change_rewrites")
        # Widening a varchar, or dropping its limit, is binary coercible; the rest rewrites.
        widened = old_type.startswith("character varying") and (
            new_type == "text" or new_type.startswith("character varying")
        )
        return old_type != new_type and not widened

    # ObjectQuestions
    def column_dependents(self, table: Table, physical: str) -> list[Dependent]:
        self._ask("column_dependents")
        return []

    def has_rows_where(self, table: Table, condition: str) -> bool:
        self._ask("has_rows_where")
        return False

    def column_facts(self, table: Table, physical: str) -> ColumnFacts:
        # The facts carry the catalog's own statements (pg_get_indexdef, pg_get_constraintdef):
        # an in-memory model has none to give, so a column here has nothing to carry over.
        self._ask("column_facts")
        return ColumnFacts(
            indexes=[], constraints=[], referencing=[], sequence=None, catalog_names=set()
        )

    def relation_kind(self, schema: str, name: str) -> str | None:
        self._ask("relation_kind")
        if schema != self.live.name:
            return None
        for table in self.live.tables.values():
            if table.physical == name:
                return "table"
            if name in table.indexes:
                return "index"
        return None

    def schema_exists(self, name: str) -> bool:
        self._ask("schema_exists")
        return name in self.schemas or name in self.views

    def table_dependents(self, table: Table) -> list[TableDependent]:
        self._ask("table_dependents")
        return []

    def views_in_schema(self, schema: str) -> set[str]:
        self._ask("views_in_schema")
        return set(self.views.get(schema, set()))

    def raw_sql_ran_before(self, schema: str, migration: str, sql: str) -> bool:
        self._ask("raw_sql_ran_before")
        return False

    def replica_identity(self, table: Table) -> ReplicaIdentityFacts | None:
        self._ask("replica_identity")
        return ReplicaIdentityFacts("default") if self._live_table(table) else None

    def index_shape(self, schema: str, name: str) -> IndexShape | None:
        self._ask("index_shape")
        if self.relation_kind(schema, name) != "index":
            return None
        return IndexShape(expression_key=False, deferrable=False)

    def check_trigger_skipping(self) -> None:
        self._ask("check_trigger_skipping")

    def accepts(
        self, actions: Sequence[Action], what: str, internal: dict[str, str] | None = None
    ) -> None:
        self._ask("accepts")


if TYPE_CHECKING:
    # mypy checks the fake against the engine-neutral questions (PostgreSQL's Probe's own, such
    # as column_type, have no protocol yet: as_probe casts for them).
    def _answers_every_question(probe: FakeProbe) -> tuple[ObjectQuestions, ConstraintQuestions]:
        return probe, probe
