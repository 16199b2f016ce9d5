"""Carry a column's indexes, constraints, foreign keys and sequence over to the column replacing it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pglast
from pglast import ast, visitors
from pglast.stream import RawStream

from liveshift.engines.probe_objects import (
    ColumnFacts,
    ConstraintFact,
    IndexFact,
    ReferencingKeyFact,
    SequenceFact,
)
from liveshift.errors import ValidationError
from liveshift.operations.actions import Action
from liveshift.operations.actions.columns import DropColumn
from liveshift.operations.actions.constraints import (
    AddConstraintDefinition,
    AddConstraintUsingIndex,
    ClusterOn,
    CopySequencePosition,
    CreateIndexDefinition,
    DropConstraint,
    RecreateIdentity,
    RenameConstraint,
    RenameIndex,
    RenameSequence,
    ReplicaIdentityUsingIndex,
    RepointForeignKey,
    SetSequenceOwner,
    SetSequenceType,
)
from liveshift.operations.steps import (
    concurrent_index_step,
    drop_index_concurrently_step,
    validate_constraint_step,
)
from liveshift.plan import LockMode, Step
from liveshift.schema import Schema, Table, quote_ident

if TYPE_CHECKING:
    from liveshift.engines.probe import Probe
    from liveshift.operations.base import Names

# What a replacement column can carry over; anything else that depends on the column is refused.
CARRIED_KINDS = frozenset(
    {"index", "primary key", "unique constraint", "check constraint", "foreign key"}
)

# The integer types an identity column may have, and their ranges.
INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}


class _RenameColumn(visitors.Visitor):
    """Renames one column wherever a statement names it: column references in expressions and
    predicates, index elements, and the column lists of a constraint (its own side only)."""

    def __init__(self, old: str, new: str, *, referenced_side: bool = False) -> None:
        super().__init__()
        self.old = old
        self.new = new
        self.referenced_side = referenced_side

    def visit_ColumnRef(self, ancestors: Any, node: ast.ColumnRef) -> None:
        fields = node.fields or ()
        if len(fields) == 1 and isinstance(fields[0], ast.String) and fields[0].sval == self.old:
            node.fields = (ast.String(sval=self.new),)

    def visit_IndexElem(self, ancestors: Any, node: ast.IndexElem) -> None:
        if node.name == self.old:
            node.name = self.new

    def visit_Constraint(self, ancestors: Any, node: ast.Constraint) -> None:
        lists = ("pk_attrs",) if self.referenced_side else ("keys", "fk_attrs", "fk_del_set_cols")
        for attribute in lists:
            names = getattr(node, attribute, None)
            if names:
                setattr(node, attribute, tuple(self._renamed(n) for n in names))

    def _renamed(self, name: Any) -> Any:
        if isinstance(name, ast.String) and name.sval == self.old:
            return ast.String(sval=self.new)
        return name


def _statement(sql: str) -> Any:
    return pglast.parse_sql(sql)[0].stmt


def _sql(node: Any) -> str:
    return str(RawStream()(node))


@dataclass
class CarriedIndex:
    """An index (or the index of a primary key / unique constraint) rebuilt on the new column."""

    name: str  # the existing index's name, which the new one takes at complete
    temp: str  # its name from start to complete
    create_sql: str  # CREATE [UNIQUE] INDEX CONCURRENTLY temp ON table (... new column ...)
    constraint: ConstraintFact | None = None  # the primary key or unique constraint it backs
    replica_identity: bool = False
    clustered: bool = False


@dataclass
class CarriedConstraint:
    """A check or a foreign key of the column, added NOT VALID on the new column."""

    fact: ConstraintFact
    temp: str
    add_clause: str  # ADD CONSTRAINT temp ... NOT VALID


@dataclass
class CarriedReference:
    """A foreign key that references the column, made again to reference the new column."""

    fact: ReferencingKeyFact
    temp: str
    add_sql: str  # ALTER TABLE referencing ADD CONSTRAINT temp ... REFERENCES (new) NOT VALID
    note: str | None = None


@dataclass
class CarryOver:
    """Everything a column's replacement takes over from it, planned in validate() and turned into
    steps for each phase. Start builds the indexes concurrently and adds the checks and foreign
    keys NOT VALID on the new column; complete validates them, re-points foreign keys of other
    tables at the new column, and in its final transaction drops the old objects explicitly (no
    CASCADE) and gives the new ones the old names."""

    table: Table
    old: str  # physical name of the column being replaced
    new: str  # physical name of the new column
    new_type: str
    names: Names
    operation: str
    indexes: list[CarriedIndex] = field(default_factory=list)
    checks: list[CarriedConstraint] = field(default_factory=list)
    foreign_keys: list[CarriedConstraint] = field(default_factory=list)
    referencing: list[CarriedReference] = field(default_factory=list)
    sequence: SequenceFact | None = None

    # -- planning (validate) ---------------------------------------------------------------------

    @classmethod
    def plan(
        cls,
        probe: Probe,
        schema: Schema,
        table: Table,
        *,
        old: str,
        new: str,
        new_type: str,
        names: Names,
        operation: str,
        drop_unique: str | None,
    ) -> CarryOver:
        """Find what depends on `table`.`old`, rewrite it onto `new` and have the server check
        every rewritten definition; refuse with a clear message what cannot be carried over."""
        carry = cls(table, old, new, new_type, names, operation)
        facts = probe.column_facts(table, old)
        carry._refuse_pending(schema, facts)
        for index in facts.indexes:
            carry._add_index(probe, index)
        dropped_index: str | None = None
        for constraint in facts.constraints:
            if constraint.kind in ("p", "u"):
                if constraint.name == drop_unique:
                    dropped_index = constraint.name
                    continue
                carry._add_key(probe, constraint)
            elif constraint.kind == "c":
                carry._add_check(probe, constraint)
            elif constraint.kind == "f" and old in constraint.key:
                carry._add_foreign_key(probe, constraint)
            elif constraint.kind == "f":
                continue  # it references the column from the table itself: in facts.referencing
            else:
                raise carry._refusal(
                    f"constraint {constraint.name}",
                    "liveshift carries over indexes, primary keys, unique, check and foreign key "
                    "constraints only",
                )
        for reference in facts.referencing:
            carry._add_reference(probe, reference, dropped_index)
        carry.sequence = facts.sequence
        if facts.sequence is not None and facts.sequence.identity:
            carry._check_identity(facts.sequence)
        return carry

    def _where(self) -> str:
        return f"{self.table.schema}.{self.table.name}.{self.old}"

    def _refusal(self, what: str, reason: str, hint: str | None = None) -> ValidationError:
        return ValidationError(
            f"cannot carry {what} over to the new column of {self.table.name}.{self.old}: {reason}",
            object=self._where(),
            hint=hint
            or "Drop it in an earlier migration and create it again after this one "
            "(drop_index / drop_constraint, then create_index / add_constraint), or use raw_sql.",
        )

    def _refuse_pending(self, schema: Schema, facts: ColumnFacts) -> None:
        """Objects an earlier operation of this migration makes exist only in the model: the
        catalog queries cannot see them, so they would be lost with the old column. Likewise an
        object that also uses a column an earlier operation replaces or drops."""
        table, old = self.table, self.old

        def mentions(definition: str) -> bool:
            return re.search(rf"\b{re.escape(old)}\b", definition) is not None

        present = {c.physical for c in table.columns.values()}
        indexes = {name for kind, name in facts.catalog_names if kind == "index"}
        constraints = {name for kind, name in facts.catalog_names if kind == "constraint"}
        pending = [
            f"index {index.name}"
            for index in table.indexes.values()
            if index.name not in indexes and (old in index.columns or mentions(index.definition))
        ]
        pending += [
            f"constraint {constraint.name}"
            for constraint in table.constraints.values()
            if constraint.name not in constraints
            and (old in constraint.columns or mentions(constraint.definition))
        ]
        referencing = {name for kind, name in facts.catalog_names if kind == "referencing"}
        targets = {table.name, table.physical, f"{table.schema}.{table.physical}", table.qualified}
        keyed = any(old in i.columns for i in table.indexes.values() if i.unique)
        pending += [
            f"foreign key {constraint.name} on {other.name}"
            for other in schema.tables.values()
            for constraint in other.constraints.values()
            if keyed
            and constraint.kind == "f"
            and constraint.referenced_table in targets
            and constraint.name not in referencing
        ]
        if pending:
            raise ValidationError(
                f"cannot change {table.name}.{old} through a new column in the migration that "
                "creates objects using it",
                object=self._where(),
                details=pending,
                hint="Change the column in a migration of its own, before or after this one.",
            )
        users = [(f"index {i.name}", i.uses) for i in facts.indexes]
        users += [(f"constraint {c.name}", c.uses) for c in facts.constraints]
        shared = [
            f"{what} (also uses {', '.join(missing)})"
            for what, uses in users
            if (missing := [c for c in uses if c != old and c not in present])
        ]
        if shared:
            raise ValidationError(
                f"cannot change {table.name}.{old} through a new column: objects using it also "
                "use columns an earlier operation of this migration replaces or drops",
                object=self._where(),
                details=shared,
                hint="Change those columns in separate migrations.",
            )

    def _rewrite_index(self, probe: Probe, name: str, definition: str, what: str) -> str:
        statement = _statement(definition)
        _RenameColumn(self.old, self.new)(statement)
        statement.idxname = self.names.object("ix", name)
        statement.concurrent = True
        definition = _sql(statement)
        self._server_accepts(
            lambda: probe.carried_index_fits(
                self.table, self.new, self.new_type, definition, self._tried()
            ),
            what,
        )
        return definition

    def _add_index(self, probe: Probe, index: IndexFact) -> None:
        if not index.valid:
            raise self._refusal(
                f"index {index.name}",
                "it is invalid (a failed concurrent build)",
                hint=f"Drop it (drop_index {index.name}) or rebuild it (REINDEX INDEX "
                "CONCURRENTLY) first.",
            )
        sql = self._rewrite_index(probe, index.name, index.definition, f"index {index.name}")
        self.indexes.append(
            CarriedIndex(
                index.name,
                self.names.object("ix", index.name),
                sql,
                replica_identity=index.replica_identity,
                clustered=index.clustered,
            )
        )

    def _add_key(self, probe: Probe, constraint: ConstraintFact) -> None:
        assert constraint.index_definition is not None
        kind = "primary key" if constraint.kind == "p" else "unique constraint"
        # The constraint's index has the constraint's name.
        sql = self._rewrite_index(
            probe, constraint.name, constraint.index_definition, f"{kind} {constraint.name}"
        )
        self.indexes.append(
            CarriedIndex(
                constraint.name,
                self.names.object("ix", constraint.name),
                sql,
                constraint,
                replica_identity=constraint.replica_identity,
                clustered=constraint.clustered,
            )
        )

    def _constraint_clause(self, constraint: ConstraintFact, temp: str) -> str:
        statement = _statement(
            f"alter table {self.table.qualified} add constraint {quote_ident(temp)} "
            f"{constraint.definition}"
        )
        _RenameColumn(self.old, self.new)(statement)
        node = statement.cmds[0].def_
        node.skip_validation = True
        node.initially_valid = False
        return _sql(statement.cmds[0])  # ADD CONSTRAINT ..., without ALTER TABLE

    def _add_check(self, probe: Probe, constraint: ConstraintFact) -> None:
        temp = self.names.object("ck", self.table.name, constraint.name)
        clause = self._constraint_clause(constraint, temp)
        what = f"check constraint {constraint.name}"
        self._server_accepts(
            lambda: probe.carried_check_fits(
                self.table, self.new, self.new_type, clause, self._tried()
            ),
            what,
        )
        self.checks.append(CarriedConstraint(constraint, temp, clause))

    def _add_foreign_key(self, probe: Probe, constraint: ConstraintFact) -> None:
        what = f"foreign key {constraint.name}"
        if constraint.references_itself:
            raise self._refusal(what, "it references the column itself")
        local = [
            self.new_type if c == self.old else self.table.columns_by_physical()[c].type
            for c in constraint.key
        ]
        self._probe_key_types(probe, local, list(constraint.referenced_types), what)
        temp = self.names.object("fk", self.table.name, constraint.name)
        self.foreign_keys.append(
            CarriedConstraint(constraint, temp, self._constraint_clause(constraint, temp))
        )

    def _probe_key_types(
        self, probe: Probe, referencing: list[str], referenced: list[str], what: str
    ) -> None:
        """Whether a foreign key from columns of the `referencing` types to a unique key of the
        `referenced` types is allowed (asked of two temporary tables)."""
        tried = f"a foreign key from ({', '.join(referencing)}) to ({', '.join(referenced)})"
        self._server_accepts(
            lambda: probe.foreign_key_types_fit(referencing, referenced, tried), what
        )

    def _tried(self) -> str:
        """What a refusal of a rewritten definition says was tried."""
        return f"its definition on the new type {self.new_type}"

    def _server_accepts(self, question: Callable[[], None], what: str) -> None:
        """Ask the server (in a rolled-back transaction); a refusal becomes one paragraph that
        names the object and gives the server's reason."""
        try:
            question()
        except ValidationError as exc:
            refusal = self._refusal(what, exc.message)
            refusal.sqlstate = exc.sqlstate
            raise refusal from None

    def _add_reference(
        self, probe: Probe, reference: ReferencingKeyFact, dropped_index: str | None
    ) -> None:
        what = f"foreign key {reference.name} on {reference.table}"
        if reference.index == dropped_index:
            raise ValidationError(
                f"cannot drop the unique constraint {dropped_index} of {self.table.name}."
                f"{self.old}: foreign key {reference.name} on {reference.table} references it",
                object=self._where(),
                hint="Drop the foreign key first (drop_constraint), or keep `unique`.",
            )
        if reference.index not in {i.name for i in self.indexes}:
            raise self._refusal(what, f"it relies on index {reference.index}, which is not carried")
        referenced_types = [
            self.new_type if c == self.old else self.table.columns_by_physical()[c].type
            for c in reference.referenced
        ]
        self._probe_key_types(probe, list(reference.key_types), referenced_types, what)
        temp = self.names.object("rk", reference.table, reference.name)
        statement = _statement(
            f"alter table {reference.qualified} add constraint {quote_ident(temp)} "
            f"{reference.definition}"
        )
        _RenameColumn(self.old, self.new, referenced_side=True)(statement)
        node = statement.cmds[0].def_
        node.skip_validation = True
        node.initially_valid = False
        statement.relation.inh = False  # ALTER TABLE ONLY
        note = None
        if self.old in reference.referenced:
            position = reference.referenced.index(self.old)
            own_type = reference.key_types[position]
            if own_type != self.new_type:
                note = (
                    f"{reference.table}.{reference.key[position]} stays {own_type} while it "
                    f"references {self.new_type}: PostgreSQL allows it, but widen it (its own "
                    "alter_column) before values outgrow it"
                )
        self.referencing.append(CarriedReference(reference, temp, _sql(statement), note))

    def _check_identity(self, sequence: SequenceFact) -> None:
        if self.new_type not in INTEGER_RANGES:
            raise ValidationError(
                f"{self.table.name}.{self.old} is an identity column: its new type must be "
                f"smallint, integer or bigint, not {self.new_type}",
                object=self._where(),
                hint="Use raw_sql to turn the identity into something else.",
            )
        low, high = INTEGER_RANGES[self.new_type]
        old_low, old_high = INTEGER_RANGES.get(sequence.type, (None, None))
        kept = [sequence.start]  # bounds the new identity keeps (see _identity)
        kept += [sequence.minimum] if sequence.minimum != old_low else []
        kept += [sequence.maximum] if sequence.maximum != old_high else []
        for value in kept:
            if not low <= value <= high:
                raise ValidationError(
                    f"the identity sequence {sequence.qualified} of {self.table.name}."
                    f"{self.old} has a bound ({value}) that does not fit {self.new_type}",
                    object=self._where(),
                    hint="Change the sequence's options first (raw_sql ALTER SEQUENCE).",
                )

    # -- names ---------------------------------------------------------------------------------

    def _identity(self, sequence: SequenceFact, temp: str) -> RecreateIdentity:
        """The new column's identity, with the old one's sequence options. A bound that was the
        old type's own limit becomes the new type's (an integer identity moved to bigint can go
        past 2^31 - 1); any other bound is kept as it was."""
        low, high = INTEGER_RANGES.get(sequence.type, (None, None))
        return RecreateIdentity(
            table=self.table.qualified,
            column=self.new,
            always=sequence.identity == "a",
            sequence_schema=sequence.schema,
            sequence_name=temp,
            increment=sequence.increment,
            minimum=None if sequence.minimum == low else sequence.minimum,
            maximum=None if sequence.maximum == high else sequence.maximum,
            start=sequence.start,
            cache=sequence.cache,
            cycle=sequence.cycle,
        )

    @property
    def identity(self) -> bool:
        """The old column is an identity column (the new one becomes one at complete)."""
        return self.sequence is not None and bool(self.sequence.identity)

    @property
    def referencing_tables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.fact.qualified for r in self.referencing))

    @property
    def referenced_tables(self) -> tuple[str, ...]:
        return tuple(
            dict.fromkeys(
                c.fact.referenced_table for c in self.foreign_keys if c.fact.referenced_table
            )
        )

    # -- start -----------------------------------------------------------------------------------

    def start_clauses(self) -> list[str]:
        """Clauses for the ALTER TABLE that adds the new column: the checks, NOT VALID."""
        return [check.add_clause for check in self.checks]

    def start_foreign_key_steps(self) -> list[Step]:
        qualified = self.table.qualified
        return [
            Step(
                f"add foreign key {fk.temp} (not valid) on the new column, for {fk.fact.name}",
                actions=(AddConstraintDefinition(table=qualified, definition=fk.add_clause),),
                lock=LockMode.SHARE_ROW_EXCLUSIVE,
                tables=(qualified, fk.fact.referenced_table or qualified),
                operation=self.operation,
            )
            for fk in self.foreign_keys
        ]

    def start_index_steps(self) -> list[Step]:
        return [
            concurrent_index_step(
                self.table,
                index.temp,
                CreateIndexDefinition(definition=index.create_sql),
                description=f"build {index.temp} concurrently on the new column, for "
                f"{_describe(index)}",
                operation=self.operation,
                notes=("reads and writes continue; waits for transactions older than the build",),
            )
            for index in self.indexes
        ]

    # -- complete --------------------------------------------------------------------------------

    def validate_on_table(self) -> list[tuple[str, tuple[str, ...]]]:
        """The carried checks and foreign keys that were valid: (constraint, tables it locks)."""
        qualified = self.table.qualified
        found: list[tuple[str, tuple[str, ...]]] = [
            (check.temp, (qualified,)) for check in self.checks if check.fact.validated
        ]
        found += [
            (fk.temp, (qualified, fk.fact.referenced_table or qualified))
            for fk in self.foreign_keys
            if fk.fact.validated
        ]
        return found

    def reference_steps(self) -> list[Step]:
        """Foreign keys of other tables re-made against the new column's unique index: NOT VALID
        (SHARE ROW EXCLUSIVE on both tables, briefly), then validated (no blocking)."""
        steps: list[Step] = []
        for reference in self.referencing:
            fact = reference.fact
            steps.append(
                Step(
                    f"add foreign key {reference.temp} on {fact.table} (not valid) referencing "
                    f"the new column, for {fact.name}",
                    actions=(RepointForeignKey(table=fact.qualified, statement=reference.add_sql),),
                    lock=LockMode.SHARE_ROW_EXCLUSIVE,
                    tables=(fact.qualified, self.table.qualified),
                    operation=self.operation,
                    notes=(reference.note,) if reference.note else (),
                )
            )
            if fact.validated:
                steps.append(
                    validate_constraint_step(
                        fact.qualified,
                        reference.temp,
                        operation=self.operation,
                        estimated_rows=fact.estimated_rows,
                    )
                )
        return steps

    def swap_before_not_null_actions(self) -> list[Action]:
        """Final transaction, first part: the old foreign keys referencing the column go (their
        replacements are in place and validated), a serial's sequence moves to the new column."""
        actions: list[Action] = [
            DropConstraint(table=r.fact.qualified, name=r.fact.name) for r in self.referencing
        ]
        sequence = self.sequence
        if sequence is not None and not sequence.identity:
            actions.append(
                SetSequenceOwner(
                    sequence=sequence.qualified, table=self.table.qualified, column=self.new
                )
            )
            if _wider(self.new_type, sequence.type):
                # A serial widened to bigint must be able to count past the old type's limit.
                actions.append(SetSequenceType(sequence=sequence.qualified, type=self.new_type))
        return actions

    def swap_drop_old_actions(self) -> list[Action]:
        """Final transaction, after SET NOT NULL on the new column: an identity moves to it,
        keeping its sequence's position; then the old column goes (RESTRICT: anything that still
        depends on it stops complete), its primary key first and explicitly."""
        qualified = self.table.qualified
        actions: list[Action] = []
        sequence = self.sequence
        temp = self.names.object("seq", sequence.name) if sequence is not None else ""
        if sequence is not None and sequence.identity:
            actions += [
                self._identity(sequence, temp),
                CopySequencePosition(
                    source=sequence.qualified, target_schema=sequence.schema, target_name=temp
                ),
            ]
        for index in self.indexes:
            if index.constraint is not None and index.constraint.kind == "p":
                actions.append(DropConstraint(table=qualified, name=index.name))
        actions.append(DropColumn(table=qualified, column=self.old, if_exists=False))
        if sequence is not None and sequence.identity:
            actions.append(RenameSequence(schema=sequence.schema, old=temp, new=sequence.name))
        return actions

    def swap_take_names_actions(self) -> list[Action]:
        """Final transaction, last part: the new objects take the old names (and the primary key
        and unique constraints their indexes)."""
        qualified = self.table.qualified
        actions: list[Action] = []
        for index in self.indexes:
            constraint = index.constraint
            if constraint is None:
                actions.append(
                    RenameIndex(schema=self.table.schema, old=index.temp, new=index.name)
                )
                continue
            actions.append(
                AddConstraintUsingIndex(
                    table=qualified,
                    name=index.name,
                    index=index.temp,
                    primary=constraint.kind == "p",
                    deferrable=constraint.deferrable,
                    deferred=constraint.deferred,
                )
            )
        for index in self.indexes:
            # Both marks went with the old index; they name the index by its final name.
            if index.replica_identity:
                actions.append(ReplicaIdentityUsingIndex(table=qualified, index=index.name))
            if index.clustered:
                actions.append(ClusterOn(table=qualified, index=index.name))
        for carried in [*self.checks, *self.foreign_keys]:
            actions.append(
                RenameConstraint(table=qualified, old=carried.temp, new=carried.fact.name)
            )
        for reference in self.referencing:
            actions.append(
                RenameConstraint(
                    table=reference.fact.qualified, old=reference.temp, new=reference.fact.name
                )
            )
        return actions

    def complete_tables(self) -> tuple[str, ...]:
        """The tables the final transaction locks, in the order application writes lock them:
        tables whose foreign keys reference this one, this one, the tables it references."""
        here = self.table.qualified
        return (
            *(t for t in self.referencing_tables if t != here),
            here,
            *(t for t in self.referenced_tables if t != here),
        )

    # -- rollback --------------------------------------------------------------------------------

    def rollback_steps(self) -> list[Step]:
        """Drop the indexes built for the new column, concurrently (its constraints go with it)."""
        return [
            drop_index_concurrently_step(
                self.table,
                index.temp,
                description=f"drop index {index.temp} concurrently",
                operation=self.operation,
            )
            for index in self.indexes
        ]


def _describe(index: CarriedIndex) -> str:
    if index.constraint is None:
        return f"index {index.name}"
    kind = "primary key" if index.constraint.kind == "p" else "unique constraint"
    return f"{kind} {index.name}"


def _wider(new_type: str, old_type: str) -> bool:
    new, old = INTEGER_RANGES.get(new_type), INTEGER_RANGES.get(old_type)
    return new is not None and old is not None and new[1] > old[1]
