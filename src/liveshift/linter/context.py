"""What the linter knows at each statement: server version, transaction state, earlier objects."""

from __future__ import annotations

from liveshift.linter.nodes import ColumnType, Node, column_type, const_value, strings, walk
from liveshift.linter.options import DEFAULT_PG_VERSION
from liveshift.linter.rule import added_columns, alter_commands
from liveshift.linter.source import Statement

# Functions whose value is fixed for the statement (immutable or stable): a default calling only
# these is evaluated once and stored in the catalog ("fast default", PostgreSQL 11+).
NON_VOLATILE_FUNCTIONS = frozenset(
    {
        "now", "statement_timestamp", "transaction_timestamp", "current_date", "current_setting",
        "lower", "upper", "length", "char_length", "concat", "concat_ws", "btrim", "ltrim",
        "rtrim", "replace", "substring", "substr", "lpad", "rpad", "md5", "abs", "round",
        "trunc", "floor", "ceil", "date_trunc", "date_part", "extract", "make_date",
        "make_time", "make_timestamp", "make_timestamptz", "make_interval", "to_char",
        "to_date", "to_timestamp", "to_number", "timezone", "jsonb_build_object",
        "jsonb_build_array", "json_build_object", "json_build_array", "to_json", "to_jsonb",
        "array_fill", "string_to_array", "array_to_string", "inet", "int4range", "int8range",
        "numrange", "tsrange", "tstzrange", "daterange", "point", "pg_catalog", "format",
        "left", "right", "repeat", "initcap", "nullif", "coalesce", "greatest", "least",
    }
)  # fmt: skip

# Functions known to be volatile: a default calling one is computed per row, rewriting the table.
VOLATILE_FUNCTIONS = frozenset(
    {
        "random", "random_normal", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc",
        "uuid_generate_v4", "uuidv4", "uuidv7", "clock_timestamp", "timeofday", "nextval",
        "currval", "lastval", "setval", "gen_random_bytes", "txid_current",
    }
)  # fmt: skip


class Context:
    """The state of the file up to (not including) the statement being checked."""

    __slots__ = (  # noqa: RUF023 - in the order of __init__
        "pg_version", "assume_in_transaction", "in_transaction", "transaction",
        "created_tables", "created_indexes", "columns", "not_null_proofs", "not_valid",
        "lock_timeout", "lock_timeout_local", "functions",
    )  # fmt: skip

    def __init__(
        self, pg_version: int = DEFAULT_PG_VERSION, assume_in_transaction: bool = False
    ) -> None:
        self.pg_version = pg_version
        self.assume_in_transaction = assume_in_transaction
        self.in_transaction = assume_in_transaction
        self.transaction = 0  # id of the current transaction (a block, or one statement outside)
        self.created_tables: set[str] = set()
        self.created_indexes: dict[str, str] = {}  # index -> table
        self.columns: dict[tuple[str, str], ColumnType] = {}
        self.not_null_proofs: set[tuple[str, str]] = set()
        self.not_valid: dict[tuple[str, str], tuple[int, tuple[str, ...]]] = {}
        self.lock_timeout = False
        self.lock_timeout_local = False
        self.functions: dict[str, str] = {}  # volatility of functions created in the file

    def is_new_table(self, table: str) -> bool:
        """Whether the table was created earlier in this file (nobody else can be using it)."""
        return table in self.created_tables

    def function_volatility(self, name: str) -> str:
        """'volatile', 'stable' (or immutable) or 'unknown' for a function name."""
        if name in self.functions:
            return self.functions[name]
        if name in VOLATILE_FUNCTIONS:
            return "volatile"
        if name in NON_VOLATILE_FUNCTIONS:
            return "stable"
        return "unknown"

    def volatile_call(self, expression: Node | None) -> tuple[str, str] | None:
        """The first function in an expression that is volatile or not known to be stable."""
        unknown: tuple[str, str] | None = None
        for kind, inner in walk(expression):
            if kind != "FuncCall":
                continue
            names = strings(inner.get("funcname"))
            if not names:
                continue
            volatility = self.function_volatility(names[-1].lower())
            if volatility == "volatile":
                return names[-1].lower(), "volatile"
            if volatility == "unknown" and unknown is None:
                unknown = names[-1].lower(), "unknown"
        return unknown

    # -- state changes, applied after the rules have seen a statement -----------------------

    def advance(self, statement: Statement) -> None:
        handler = _HANDLERS.get(statement.kind)
        if handler is not None:
            handler(self, statement)
        if not self.in_transaction:
            self.transaction += 1

    def _end_transaction(self) -> None:
        self.in_transaction = self.assume_in_transaction
        if self.lock_timeout_local:
            self.lock_timeout = False
            self.lock_timeout_local = False

    def _set_lock_timeout(self, value: object, local: bool) -> None:
        enabled = value is not None and str(value).strip() not in ("0", "", "0ms", "0s")
        if local and not self.in_transaction:
            return  # SET LOCAL outside a transaction block has no effect
        self.lock_timeout = enabled
        self.lock_timeout_local = local and enabled


def _transaction(ctx: Context, statement: Statement) -> None:
    node = statement.node
    kind = node.get("kind", "")
    if kind in ("TRANS_STMT_BEGIN", "TRANS_STMT_START"):
        ctx.in_transaction = True
    elif kind in ("TRANS_STMT_COMMIT", "TRANS_STMT_ROLLBACK", "TRANS_STMT_PREPARE"):
        ctx._end_transaction()
        ctx.transaction += 1


def _create_table(ctx: Context, statement: Statement) -> None:
    node = statement.node
    table = _relname(node.get("relation"))
    ctx.created_tables.add(table)
    for element in node.get("tableElts") or ():
        column = element.get("ColumnDef")
        if column and column.get("colname"):
            ctx.columns[(table, column["colname"])] = column_type(column.get("typeName"))


def _create_table_as(ctx: Context, statement: Statement) -> None:
    node = statement.node
    into = node.get("into", {}).get("IntoClause", node.get("into", {}))
    ctx.created_tables.add(_relname(into.get("rel")))


def _index(ctx: Context, statement: Statement) -> None:
    node = statement.node
    if node.get("idxname"):
        ctx.created_indexes[node["idxname"]] = _relname(node.get("relation"))


def _alter_table(ctx: Context, statement: Statement) -> None:
    added = iter(added_columns(statement))  # the ADD COLUMNs below, in the same order
    for table, subtype, cmd in alter_commands(statement):
        definition = cmd.get("def") or {}
        if subtype == "AT_AddColumn" and "ColumnDef" in definition:
            column = next(added)  # its type, worked out once for the rules
            ctx.columns[(table, column.column.get("colname", ""))] = column.type
        elif subtype == "AT_AlterColumnType" and "ColumnDef" in definition:
            ctx.columns[(table, cmd.get("name", ""))] = column_type(
                definition["ColumnDef"].get("typeName")
            )
        elif subtype == "AT_DropColumn":
            ctx.columns.pop((table, cmd.get("name", "")), None)
            ctx.not_null_proofs.discard((table, cmd.get("name", "")))
        elif subtype == "AT_AddConstraint" and "Constraint" in definition:
            constraint = definition["Constraint"]
            checked = not_null_check_columns(constraint)
            if checked:
                if constraint.get("skip_validation"):
                    name = constraint.get("conname", "")
                    ctx.not_valid[(table, name)] = (ctx.transaction, checked)
                else:
                    ctx.not_null_proofs.update((table, c) for c in checked)
            elif constraint.get("skip_validation") and constraint.get("conname"):
                ctx.not_valid[(table, constraint["conname"])] = (ctx.transaction, ())
        elif subtype == "AT_ValidateConstraint":
            pending = ctx.not_valid.get((table, cmd.get("name", "")))
            if pending is not None:
                ctx.not_null_proofs.update((table, c) for c in pending[1])


def _rename(ctx: Context, statement: Statement) -> None:
    node = statement.node
    rename_type = node.get("renameType")
    table = _relname(node.get("relation"))
    if rename_type == "OBJECT_TABLE" and table in ctx.created_tables:
        ctx.created_tables.add(node.get("newname", ""))
    elif rename_type == "OBJECT_COLUMN":
        old = ctx.columns.pop((table, node.get("subname", "")), None)
        if old is not None:
            ctx.columns[(table, node.get("newname", ""))] = old


def _drop(ctx: Context, statement: Statement) -> None:
    node = statement.node
    if node.get("removeType") != "OBJECT_TABLE":
        return
    for item in node.get("objects") or ():
        names = strings(item.get("List", {}).get("items"))
        if names:
            ctx.created_tables.discard(names[-1])


def _variable_set(ctx: Context, statement: Statement) -> None:
    node = statement.node
    if node.get("name") != "lock_timeout":
        return
    if node.get("kind") == "VAR_SET_VALUE":
        args = node.get("args") or [None]
        ctx._set_lock_timeout(const_value(args[0]), bool(node.get("is_local")))
    elif node.get("kind") in ("VAR_RESET", "VAR_SET_DEFAULT"):
        ctx.lock_timeout = False
        ctx.lock_timeout_local = False


def _select(ctx: Context, statement: Statement) -> None:
    node = statement.node
    # SELECT set_config('lock_timeout', '1s', is_local)
    for kind, inner in walk(node.get("targetList")):
        if kind == "FuncCall" and strings(inner.get("funcname"))[-1:] == ["set_config"]:
            args = inner.get("args") or []
            if len(args) == 3 and const_value(args[0]) == "lock_timeout":
                ctx._set_lock_timeout(const_value(args[1]), bool(const_value(args[2])))


def _create_function(ctx: Context, statement: Statement) -> None:
    node = statement.node
    names = strings(node.get("funcname"))
    if not names:
        return
    volatility = "volatile"  # PostgreSQL's default when the function does not say
    for option in node.get("options") or ():
        elem = option.get("DefElem", {})
        if elem.get("defname") == "volatility":
            value = elem.get("arg", {}).get("String", {}).get("sval", "volatile")
            volatility = "volatile" if value == "volatile" else "stable"
    ctx.functions[names[-1].lower()] = volatility


def not_null_check_columns(constraint: Node) -> tuple[str, ...]:
    """Columns a CHECK constraint proves NOT NULL (`c IS NOT NULL`, joined by AND)."""
    if constraint.get("contype") != "CONSTR_CHECK":
        return ()
    found: list[str] = []
    pending = [constraint.get("raw_expr") or {}]
    while pending:
        expression = pending.pop()
        if "NullTest" in expression:
            test = expression["NullTest"]
            fields = strings(test.get("arg", {}).get("ColumnRef", {}).get("fields"))
            if test.get("nulltesttype") == "IS_NOT_NULL" and fields:
                found.append(fields[-1])
        elif "BoolExpr" in expression and expression["BoolExpr"].get("boolop") == "AND_EXPR":
            pending.extend(expression["BoolExpr"].get("args") or ())
    return tuple(found)


def _relname(range_var: Node | None) -> str:
    return str((range_var or {}).get("relname", ""))


_HANDLERS = {
    "TransactionStmt": _transaction,
    "CreateStmt": _create_table,
    "CreateTableAsStmt": _create_table_as,
    "IndexStmt": _index,
    "AlterTableStmt": _alter_table,
    "RenameStmt": _rename,
    "DropStmt": _drop,
    "VariableSetStmt": _variable_set,
    "SelectStmt": _select,
    "CreateFunctionStmt": _create_function,
}
