"""The static lock model: which lock each statement takes on which table, and whether it rewrites.

The modes themselves (names, order, what they block) are liveshift.locks, shared with plans.

Rules ask it instead of re-deriving PostgreSQL's lock levels, and the trace mode is tested against
it (tests/linter/test_agreement.py), so the model and the server cannot drift apart unnoticed.
"""

from __future__ import annotations

from liveshift.linter.context import Context
from liveshift.linter.nodes import (
    SERIAL_TYPES,
    ColumnType,
    column_type,
    constraints,
    def_elem_names,
    relation_name,
    strings,
)
from liveshift.linter.record import Record
from liveshift.linter.rule import AddedColumn, added_columns
from liveshift.linter.source import Statement
from liveshift.locks import (
    ACCESS_EXCLUSIVE,
    PG_NAMES,
    ROW_EXCLUSIVE,
    SHARE,
    SHARE_ROW_EXCLUSIVE,
    SHARE_UPDATE_EXCLUSIVE,
    strongest,
)


class Effect(Record):
    """One statement's hold on one relation: the lock mode and whether the table is rewritten."""

    __slots__ = ("relation", "mode", "rewrite")  # noqa: RUF023 - field order

    def __init__(self, relation: str, mode: str, rewrite: bool = False) -> None:
        self.relation = relation
        self.mode = mode
        self.rewrite = rewrite


def effects(statement: Statement, ctx: Context) -> list[Effect]:
    """The locks a statement takes on named relations, cached on the statement."""
    cached = statement.effects
    if cached is None:
        handler = _EFFECTS.get(statement.kind)
        cached = handler(statement, ctx) if handler else []
        statement.effects = cached
    return list(cached)


def add_column_rewrite(added: AddedColumn, ctx: Context) -> str | None:
    """Why adding this column rewrites the table, or None when PostgreSQL only edits the catalog."""
    kind = added.type
    if kind.name in SERIAL_TYPES:
        return f"a {kind.name} column fills every existing row from a sequence"
    for constraint in added.constraints:
        contype = constraint.get("contype")
        if contype == "CONSTR_IDENTITY":
            return "an identity column fills every existing row from a sequence"
        if contype == "CONSTR_GENERATED" and constraint.get("generated_kind", "s") == "s":
            return "a stored generated column is computed and written for every existing row"
        if contype == "CONSTR_DEFAULT":
            expression = constraint.get("raw_expr")
            if not expression or ("A_Const" in expression and expression["A_Const"].get("isnull")):
                continue
            if ctx.pg_version < 11:
                return f"before PostgreSQL 11 any default is written into every row (target: {ctx.pg_version})"
            call = ctx.volatile_call(expression)
            if call is not None:
                name, volatility = call
                if volatility == "volatile":
                    return (
                        f"the default calls the volatile function {name}(), evaluated for each row"
                    )
                return f"the default calls {name}(), which liveshift cannot prove is not volatile"
    return None


# Binary-coercible widenings PostgreSQL applies without rewriting: from base type -> target types.
_TEXT_LIKE = frozenset({"text", "varchar"})
_PRECISION_TYPES = frozenset({"timestamp", "timestamptz", "time", "timetz", "interval"})


def type_change_rewrites(old: ColumnType | None, new: ColumnType, has_using: bool) -> bool | None:
    """True if ALTER COLUMN TYPE rewrites, False if provably not, None if the old type is unknown."""
    if old is None:
        return None
    if has_using:
        return True
    if old.array != new.array:
        return True
    if old == new:
        return False
    if old.name in _TEXT_LIKE and new.name in _TEXT_LIKE:
        if new.name == "text" or not new.mods:
            return False
        # varchar(n) -> varchar(m): only a widening is free; text/varchar -> varchar(m) checks rows
        return not (old.name == "varchar" and old.mods and new.mods[0] >= old.mods[0])
    if old.name == new.name == "numeric":
        if not new.mods:
            return False
        if not old.mods:
            return True
        old_scale = old.mods[1] if len(old.mods) > 1 else 0
        new_scale = new.mods[1] if len(new.mods) > 1 else 0
        return not (new_scale == old_scale and new.mods[0] >= old.mods[0])
    if old.name == new.name and old.name in _PRECISION_TYPES | {"varbit", "bit varying"}:
        if not new.mods:
            return False
        return not (old.mods and new.mods[0] >= old.mods[0])
    return not (old.name == "cidr" and new.name == "inet")


# ALTER TABLE sub-commands that take less than ACCESS EXCLUSIVE (PostgreSQL's AlterTableGetLockLevel).
_SUBCOMMAND_LOCKS = {
    "AT_ValidateConstraint": SHARE_UPDATE_EXCLUSIVE,
    "AT_SetStatistics": SHARE_UPDATE_EXCLUSIVE,
    "AT_SetOptions": SHARE_UPDATE_EXCLUSIVE,
    "AT_ResetOptions": SHARE_UPDATE_EXCLUSIVE,
    "AT_ClusterOn": SHARE_UPDATE_EXCLUSIVE,
    "AT_DropCluster": SHARE_UPDATE_EXCLUSIVE,
    "AT_SetRelOptions": SHARE_UPDATE_EXCLUSIVE,
    "AT_ResetRelOptions": SHARE_UPDATE_EXCLUSIVE,
    "AT_AttachPartition": SHARE_UPDATE_EXCLUSIVE,
    "AT_EnableTrig": SHARE_ROW_EXCLUSIVE,
    "AT_EnableAlwaysTrig": SHARE_ROW_EXCLUSIVE,
    "AT_EnableReplicaTrig": SHARE_ROW_EXCLUSIVE,
    "AT_EnableTrigAll": SHARE_ROW_EXCLUSIVE,
    "AT_EnableTrigUser": SHARE_ROW_EXCLUSIVE,
    "AT_DisableTrig": SHARE_ROW_EXCLUSIVE,
    "AT_DisableTrigAll": SHARE_ROW_EXCLUSIVE,
    "AT_DisableTrigUser": SHARE_ROW_EXCLUSIVE,
}
_REWRITING_SUBCOMMANDS = frozenset(
    {"AT_SetTableSpace", "AT_SetLogged", "AT_SetUnLogged", "AT_SetAccessMethod"}
)


def _alter_table(statement: Statement, ctx: Context) -> list[Effect]:
    node = statement.node
    table = relation_name(node.get("relation"))
    mode = ""
    rewrite = False
    extra: list[Effect] = []
    added = iter(added_columns(statement))  # the ADD COLUMNs below, in the same order
    for item in node.get("cmds") or ():
        cmd = item.get("AlterTableCmd", {})
        subtype = cmd.get("subtype", "")
        definition = cmd.get("def") or {}
        cmd_mode = _SUBCOMMAND_LOCKS.get(subtype, ACCESS_EXCLUSIVE)
        if subtype == "AT_AddConstraint" and "Constraint" in definition:
            constraint = definition["Constraint"]
            if constraint.get("contype") == "CONSTR_FOREIGN":
                cmd_mode = SHARE_ROW_EXCLUSIVE
                extra.append(Effect(relation_name(constraint.get("pktable")), SHARE_ROW_EXCLUSIVE))
        elif subtype == "AT_DetachPartition":
            partition = definition.get("PartitionCmd", {})
            if partition.get("concurrent"):
                cmd_mode = SHARE_UPDATE_EXCLUSIVE
        elif subtype == "AT_AddColumn" and "ColumnDef" in definition:
            column = next(added)  # its type and constraints, worked out once for the rules
            rewrite = rewrite or add_column_rewrite(column, ctx) is not None
            for constraint in column.constraints:
                if constraint.get("contype") == "CONSTR_FOREIGN":
                    extra.append(
                        Effect(relation_name(constraint.get("pktable")), SHARE_ROW_EXCLUSIVE)
                    )
        elif subtype == "AT_AlterColumnType" and "ColumnDef" in definition:
            column = definition["ColumnDef"]
            old = ctx.columns.get((table, cmd.get("name", "")))
            verdict = type_change_rewrites(
                old, column_type(column.get("typeName")), bool(column.get("raw_default"))
            )
            rewrite = rewrite or verdict is not False
        elif subtype in _REWRITING_SUBCOMMANDS:
            rewrite = True
        mode = strongest(mode, cmd_mode) if mode else cmd_mode
    if not mode:
        return extra
    return [Effect(table, mode, rewrite), *extra]


def _index(statement: Statement, ctx: Context) -> list[Effect]:
    node = statement.node
    mode = SHARE_UPDATE_EXCLUSIVE if node.get("concurrent") else SHARE
    return [Effect(relation_name(node.get("relation")), mode)]


def _drop(statement: Statement, ctx: Context) -> list[Effect]:
    node = statement.node
    remove_type = node.get("removeType")
    if remove_type not in ("OBJECT_TABLE", "OBJECT_INDEX", "OBJECT_MATVIEW", "OBJECT_VIEW"):
        return []
    mode = SHARE_UPDATE_EXCLUSIVE if node.get("concurrent") else ACCESS_EXCLUSIVE
    out = []
    for item in node.get("objects") or ():
        names = strings(item.get("List", {}).get("items"))
        if names:
            out.append(Effect(names[-1], mode))
    return out


def _rename(statement: Statement, ctx: Context) -> list[Effect]:
    node = statement.node
    rename_type = node.get("renameType")
    relation = relation_name(node.get("relation"))
    if not relation:
        return []
    if rename_type == "OBJECT_INDEX":
        return [Effect(relation, SHARE_UPDATE_EXCLUSIVE)]
    return [Effect(relation, ACCESS_EXCLUSIVE)]


def _truncate(statement: Statement, ctx: Context) -> list[Effect]:
    node = statement.node
    return [Effect(relation_name(r), ACCESS_EXCLUSIVE, True) for r in node.get("relations") or ()]


def _vacuum(statement: Statement, ctx: Context) -> list[Effect]:
    node = statement.node
    full = "full" in def_elem_names(node.get("options"))
    mode = ACCESS_EXCLUSIVE if full else SHARE_UPDATE_EXCLUSIVE
    return [
        Effect(relation_name(r.get("VacuumRelation", {}).get("relation")), mode, full)
        for r in node.get("rels") or ()
    ]


def _cluster(statement: Statement, ctx: Context) -> list[Effect]:
    node = statement.node
    relation = relation_name(node.get("relation"))
    if not relation:
        return []
    concurrent = "concurrently" in def_elem_names(node.get("params"))
    return [Effect(relation, SHARE_UPDATE_EXCLUSIVE if concurrent else ACCESS_EXCLUSIVE, True)]


def _lock(statement: Statement, ctx: Context) -> list[Effect]:
    node = statement.node
    mode = PG_NAMES[int(node.get("mode", 8)) - 1]
    return [Effect(relation_name(r), mode) for r in node.get("relations") or ()]


def _reindex(statement: Statement, ctx: Context) -> list[Effect]:
    node = statement.node
    relation = relation_name(node.get("relation"))
    if not relation:
        return []
    concurrent = "concurrently" in def_elem_names(node.get("params"))
    if concurrent:
        return [Effect(relation, SHARE_UPDATE_EXCLUSIVE)]
    if node.get("kind") == "REINDEX_OBJECT_INDEX":
        return [Effect(relation, ACCESS_EXCLUSIVE)]
    return [Effect(relation, SHARE)]


def _dml(statement: Statement, ctx: Context) -> list[Effect]:
    node = statement.node
    return [Effect(relation_name(node.get("relation")), ROW_EXCLUSIVE)]


def _create_table(statement: Statement, ctx: Context) -> list[Effect]:
    node = statement.node
    out = []
    for element in node.get("tableElts") or ():
        found = [element["Constraint"]] if "Constraint" in element else []
        if "ColumnDef" in element:
            found = constraints(element["ColumnDef"])
        for constraint in found:
            if constraint.get("contype") == "CONSTR_FOREIGN":
                out.append(Effect(relation_name(constraint.get("pktable")), SHARE_ROW_EXCLUSIVE))
    return out


def _create_trigger(statement: Statement, ctx: Context) -> list[Effect]:
    node = statement.node
    return [Effect(relation_name(node.get("relation")), SHARE_ROW_EXCLUSIVE)]


_EFFECTS = {
    "AlterTableStmt": _alter_table,
    "IndexStmt": _index,
    "DropStmt": _drop,
    "RenameStmt": _rename,
    "TruncateStmt": _truncate,
    "VacuumStmt": _vacuum,
    "ClusterStmt": _cluster,
    "LockStmt": _lock,
    "ReindexStmt": _reindex,
    "UpdateStmt": _dml,
    "DeleteStmt": _dml,
    "InsertStmt": _dml,
    "CreateStmt": _create_table,
    "CreateTrigStmt": _create_trigger,
}
