"""`liveshift convert`: turn a plain SQL migration into a liveshift migration file (YAML)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pglast
import yaml
from pglast import ast
from pglast.enums import AlterTableType, ConstrType, DropBehavior, ObjectType, SortByDir
from pglast.enums.parsenodes import SortByNulls
from pglast.stream import RawStream

from liveshift.errors import EXIT_OK, MigrationFileError

_FK_ACTIONS = {
    "a": "no action",
    "r": "restrict",
    "c": "cascade",
    "n": "set null",
    "d": "set default",
}
# Target types any value converts to without loss or surprise: no hand-written `up` needed.
_SAFE_TARGETS = {"text", "bigint", "numeric", "double precision", "varchar", "character varying"}
_TRANSACTION_KINDS = {"BEGIN", "START", "COMMIT", "ROLLBACK", "END"}


class ConvertSyntaxError(MigrationFileError):
    """The SQL file does not parse as PostgreSQL."""


class _Unmapped(Exception):
    """This statement or sub-command has no operation: it becomes raw_sql."""


@dataclass
class _Entry:
    op: dict[str, Any]
    todo: str | None = None
    comment: str | None = None


def _storage_value(node: Any) -> bool | int | float | str:
    """A storage parameter's value as the file writes it (`fillfactor: 70`, `fastupdate: false`)."""
    if isinstance(node, ast.Integer):
        return int(node.ival or 0)  # pglast leaves 0 as None
    if isinstance(node, ast.Float):
        return float(node.fval or 0)
    if isinstance(node, ast.Boolean):
        return bool(node.boolval)
    if isinstance(node, ast.String):
        return str(node.sval)
    names = node.names or () if isinstance(node, ast.TypeName) else ()
    if len(names) == 1:  # an unquoted word: off, auto
        word = str(names[0].sval)
        return {"on": True, "off": False, "true": True, "false": False}.get(word.lower(), word)
    raise _Unmapped


def _sql(node: Any) -> str:
    return str(RawStream()(node))


def _name(parts: Any) -> tuple[str | None, str]:
    names = [p.sval for p in parts]
    return (names[-2] if len(names) > 1 else None), names[-1]


def _with_schema(op: dict[str, Any], schema: str | None) -> dict[str, Any]:
    if schema:
        op["schema"] = schema
    return op


class _Converter:
    def __init__(self) -> None:
        # (table, column) -> (nullable, has default) for columns this file defines.
        self.columns: dict[tuple[str, str], tuple[bool, bool]] = {}

    # --- column definitions -------------------------------------------------------------

    def column(self, table: str, coldef: Any) -> tuple[dict[str, Any], list[_Entry]]:
        """A Column dict, and add_constraint entries for what a Column cannot hold."""
        if (
            coldef.collClause is not None
            or coldef.identity.strip("\x00")
            or (coldef.generated.strip("\x00"))
        ):
            raise _Unmapped
        col: dict[str, Any] = {"name": coldef.colname, "type": _sql(coldef.typeName)}
        if coldef.is_not_null:
            col["nullable"] = False
        extra: list[_Entry] = []
        for con in coldef.constraints or ():
            kind = con.contype
            if kind == ConstrType.CONSTR_NOTNULL:
                col["nullable"] = False
            elif kind == ConstrType.CONSTR_NULL:
                col["nullable"] = True
            elif kind == ConstrType.CONSTR_DEFAULT:
                col["default"] = _sql(con.raw_expr)
            elif kind == ConstrType.CONSTR_UNIQUE and not con.nulls_not_distinct:
                col["unique"] = {"name": con.conname} if con.conname else True
            elif kind == ConstrType.CONSTR_PRIMARY:
                col["primary_key"] = {"name": con.conname} if con.conname else True
            elif kind == ConstrType.CONSTR_CHECK and "check" not in col:
                check: dict[str, Any] = {"constraint": _sql(con.raw_expr)}
                if con.conname:
                    check["name"] = con.conname
                col["check"] = check
            elif kind == ConstrType.CONSTR_FOREIGN and "references" not in col:
                col["references"] = self.references(con)
            else:
                raise _Unmapped
        self.columns[(table, coldef.colname)] = (
            col.get("nullable", True) and not col.get("primary_key", False),
            "default" in col,
        )
        return col, extra

    def references(self, con: Any, width: int = 1) -> dict[str, Any]:
        """The `references:` of a foreign key whose referencing side has `width` columns."""
        if con.pktable is None or not con.pk_attrs or len(con.pk_attrs) != width:
            raise _Unmapped  # no column list (the referenced primary key) or a width mismatch
        if con.fk_matchtype == "f" or con.deferrable:
            raise _Unmapped
        targets = [a.sval for a in con.pk_attrs]
        ref: dict[str, Any] = {"table": con.pktable.relname}
        # One column keeps the single-column form, so files converted before read the same.
        ref |= {"column": targets[0]} if width == 1 else {"columns": targets}
        if con.conname:
            ref["name"] = con.conname
        for key, action in (("on_delete", con.fk_del_action), ("on_update", con.fk_upd_action)):
            if action in _FK_ACTIONS and action != "a":
                ref[key] = _FK_ACTIONS[action]
        return ref

    def constraint(self, table: str, schema: str | None, con: Any) -> _Entry:
        """add_constraint from a table-level CHECK / UNIQUE / FOREIGN KEY."""
        op: dict[str, Any] = {"table": table}
        if con.contype == ConstrType.CONSTR_CHECK:
            op |= {"name": con.conname or f"{table}_check"[:63], "type": "check"}
            op["check"] = _sql(con.raw_expr)
        elif con.contype in (ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_PRIMARY):
            if con.indexname or con.nulls_not_distinct or con.deferrable:
                raise _Unmapped
            columns = [k.sval for k in con.keys]
            if con.contype == ConstrType.CONSTR_PRIMARY:
                op["name"] = con.conname or f"{table}_pkey"[:63]
                op |= {"type": "primary_key", "columns": columns}
            else:
                op["name"] = con.conname or f"{table}_{'_'.join(columns)}_key"[:63]
                op |= {"type": "unique", "columns": columns}
            if con.including:
                op["include"] = [k.sval for k in con.including]
        elif con.contype == ConstrType.CONSTR_EXCLUSION:
            return self.exclusion(table, schema, con)
        elif con.contype == ConstrType.CONSTR_FOREIGN:
            columns = [k.sval for k in con.fk_attrs or ()]
            if not columns:
                raise _Unmapped
            ref = self.references(con, len(columns))
            ref.pop("name", None)
            op["name"] = con.conname or f"{table}_{'_'.join(columns)}_fkey"[:63]
            op |= {"type": "foreign_key", "columns": columns, "references": ref}
        else:
            raise _Unmapped
        return _Entry({"add_constraint": _with_schema(op, schema)})

    def exclusion(self, table: str, schema: str | None, con: Any) -> _Entry:
        """add_constraint `type: exclude`; the file must consent to its blocking build."""
        if con.indexname or con.deferrable or con.options or con.indexspace:
            raise _Unmapped
        elements = []
        for elem, operator in con.exclusions:
            key = self.index_key(elem)
            element: dict[str, str] = (
                dict(key)
                if isinstance(key, dict)
                else {"column" if elem.name else "expression": key}
            )
            if set(element) - {"column", "expression", "opclass"}:
                raise _Unmapped  # order, nulls, collation
            names = [str(part.sval) for part in operator]
            element["operator"] = names[0] if len(names) == 1 else f"OPERATOR({'.'.join(names)})"
            elements.append(element)
        op: dict[str, Any] = {
            "table": table,
            "name": con.conname or f"{table}_excl"[:63],
            "type": "exclude",
        }
        if con.access_method and con.access_method != "gist":
            op["using"] = con.access_method
        op["elements"] = elements
        if con.where_clause is not None:
            op["where"] = _sql(con.where_clause)
        return _Entry(
            {"add_constraint": _with_schema(op, schema)},
            todo="add build_under_lock: true if the table may have rows: PostgreSQL builds an "
            "exclusion constraint under ACCESS EXCLUSIVE (reads and writes wait)",
        )

    # --- statements ---------------------------------------------------------------------

    def statement(self, stmt: Any, text: str) -> list[_Entry]:
        try:
            if isinstance(stmt, ast.TransactionStmt):
                return []
            if isinstance(stmt, ast.AlterTableStmt) and stmt.objtype == ObjectType.OBJECT_TABLE:
                return self.alter_table(stmt, text)
            if isinstance(stmt, ast.RenameStmt):
                return [self.rename(stmt)]
            if isinstance(stmt, ast.IndexStmt):
                return [self.create_index(stmt)]
            if isinstance(stmt, ast.DropStmt):
                return self.drop(stmt)
            if isinstance(stmt, ast.CreateStmt):
                return self.create_table(stmt)
        except _Unmapped:
            pass
        return [_raw(text)]

    def alter_table(self, stmt: Any, text: str) -> list[_Entry]:
        table, schema = stmt.relation.relname, stmt.relation.schemaname
        entries: list[_Entry] = []
        for cmd in stmt.cmds:
            try:
                entries.extend(self.alter_cmd(table, schema, cmd))
            except _Unmapped:
                if len(stmt.cmds) == 1:
                    raise
                single = ast.AlterTableStmt(
                    relation=stmt.relation, cmds=(cmd,), objtype=stmt.objtype
                )
                entries.append(_raw(_sql(single).strip()))
        return entries

    def alter_cmd(self, table: str, schema: str | None, cmd: Any) -> list[_Entry]:
        kind = cmd.subtype
        base: dict[str, Any] = {"table": table}
        if kind == AlterTableType.AT_AddColumn:
            column, extra = self.column(table, cmd.def_)
            entry = _Entry({"add_column": _with_schema(base | {"column": column}, schema)})
            if column.get("nullable") is False and "default" not in column:
                entry.todo = (
                    f"write up: {column['name']} is NOT NULL without a default; `up` gives "
                    "its value for existing rows and for rows old clients write"
                )
            return [entry, *extra]
        if kind == AlterTableType.AT_DropColumn:
            if cmd.behavior == DropBehavior.DROP_CASCADE:
                raise _Unmapped
            entry = _Entry({"drop_column": _with_schema(base | {"column": cmd.name}, schema)})
            nullable, has_default = self.columns.get((table, cmd.name), (False, False))
            if not nullable and not has_default:
                entry.todo = (
                    f"write down if {cmd.name} is NOT NULL without a default: its value for "
                    "rows new clients write until complete"
                )
            return [entry]
        alter = base | {"column": cmd.name}
        todo: str | None = None
        if kind == AlterTableType.AT_AlterColumnType:
            coldef: Any = cmd.def_
            if coldef.collClause is not None:
                raise _Unmapped
            alter["type"] = _sql(coldef.typeName)
            if coldef.raw_default is not None:
                alter["up"] = _sql(coldef.raw_default)
                todo = f"write down: convert {cmd.name} from {alter['type']} back to the old type"
            elif alter["type"].split("(")[0].strip() not in _SAFE_TARGETS:
                todo = (
                    f"write up/down: {cmd.name} may not cast to {alter['type']} and back "
                    "implicitly; `up` converts old values, `down` converts new ones back"
                )
        elif kind == AlterTableType.AT_SetNotNull:
            alter["nullable"] = False
            todo = f"write up: the value for rows where {cmd.name} is NULL"
        elif kind == AlterTableType.AT_DropNotNull:
            alter["nullable"] = True
            todo = f"write down: the value old clients see when new clients write a NULL {cmd.name}"
        elif kind == AlterTableType.AT_ColumnDefault:
            if cmd.def_ is None:
                alter["drop_default"] = True
            else:
                alter["default"] = _sql(cmd.def_)
        elif kind == AlterTableType.AT_AddConstraint:
            return [self.constraint(table, schema, cmd.def_)]
        elif kind == AlterTableType.AT_ReplicaIdentity:
            identity: Any = _IDENTITIES.get(cmd.def_.identity_type) or {"index": cmd.def_.name}
            op = _with_schema(base | {"identity": identity}, schema)
            return [_Entry({"set_replica_identity": op})]
        elif kind == AlterTableType.AT_DropConstraint:
            if cmd.behavior == DropBehavior.DROP_CASCADE:
                raise _Unmapped
            op = _with_schema(base | {"name": cmd.name}, schema)
            return [_Entry({"drop_constraint": op})]
        else:
            raise _Unmapped
        return [_Entry({"alter_column": _with_schema(alter, schema)}, todo=todo)]

    def rename(self, stmt: Any) -> _Entry:
        if stmt.relation is None or stmt.missing_ok:
            raise _Unmapped
        table, schema = stmt.relation.relname, stmt.relation.schemaname
        if stmt.renameType == ObjectType.OBJECT_COLUMN and (
            stmt.relationType == ObjectType.OBJECT_TABLE
        ):
            op = {"table": table, "from": stmt.subname, "to": stmt.newname}
            return _Entry({"rename_column": _with_schema(op, schema)})
        if stmt.renameType == ObjectType.OBJECT_TABCONSTRAINT:
            op = {"table": table, "from": stmt.subname, "to": stmt.newname}
            return _Entry({"rename_constraint": _with_schema(op, schema)})
        if stmt.renameType == ObjectType.OBJECT_TABLE:
            op = {"from": table, "to": stmt.newname}
            return _Entry({"rename_table": _with_schema(op, schema)})
        raise _Unmapped

    def create_index(self, stmt: Any) -> _Entry:
        if stmt.primary or stmt.isconstraint or stmt.tableSpace:
            raise _Unmapped
        if stmt.nulls_not_distinct or not stmt.relation.inh:
            raise _Unmapped
        table = stmt.relation.relname
        columns = [self.index_key(elem) for elem in stmt.indexParams]
        include = [self.index_key(elem) for elem in stmt.indexIncludingParams or ()]
        if not all(isinstance(c, str) and c.isidentifier() for c in include):
            raise _Unmapped
        plain = [c for c in columns if isinstance(c, str) and c.isidentifier()]
        name = stmt.idxname or f"{table}_{'_'.join(plain)}_idx"
        op: dict[str, Any] = {"name": name[:63], "table": table, "columns": columns}
        if stmt.unique:
            op["unique"] = True
        method = stmt.accessMethod or "btree"
        if method not in ("btree", "hash", "gist", "gin", "spgist", "brin"):
            raise _Unmapped
        if method != "btree":
            op["method"] = method
        if stmt.whereClause is not None:
            op["where"] = _sql(stmt.whereClause)
        if include:
            op["include"] = include
        if stmt.options:
            op["with"] = {o.defname: _storage_value(o.arg) for o in stmt.options}
        return _Entry({"create_index": _with_schema(op, stmt.relation.schemaname)})

    @staticmethod
    def index_key(elem: Any) -> str | dict[str, str]:
        """A plain column or expression as a string; with options, a key mapping."""
        if elem.opclassopts or len(elem.collation or ()) > 1:
            raise _Unmapped
        key: dict[str, str] = (
            {"column": str(elem.name)} if elem.name else {"expression": _sql(elem.expr)}
        )
        if elem.opclass:
            key["opclass"] = ".".join(str(part.sval) for part in elem.opclass)
        if elem.collation:
            key["collate"] = str(elem.collation[0].sval)
        if elem.ordering != SortByDir.SORTBY_DEFAULT:
            if elem.ordering not in (SortByDir.SORTBY_ASC, SortByDir.SORTBY_DESC):
                raise _Unmapped  # USING <operator>
            key["order"] = "asc" if elem.ordering == SortByDir.SORTBY_ASC else "desc"
        if elem.nulls_ordering != SortByNulls.SORTBY_NULLS_DEFAULT:
            first = elem.nulls_ordering == SortByNulls.SORTBY_NULLS_FIRST
            key["nulls"] = "first" if first else "last"
        if len(key) == 1:
            return next(iter(key.values()))
        return key

    def drop(self, stmt: Any) -> list[_Entry]:
        cascade = stmt.behavior == DropBehavior.DROP_CASCADE
        if stmt.removeType == ObjectType.OBJECT_INDEX and not cascade:
            entries = []
            for parts in stmt.objects:
                schema, name = _name(parts)
                entries.append(_Entry({"drop_index": _with_schema({"name": name}, schema)}))
            return entries
        if stmt.removeType == ObjectType.OBJECT_TABLE:
            entries = []
            for parts in stmt.objects:
                schema, name = _name(parts)
                op: dict[str, Any] = {"table": name}
                if cascade:
                    op["cascade"] = True
                entries.append(_Entry({"drop_table": _with_schema(op, schema)}))
            return entries
        raise _Unmapped

    def create_table(self, stmt: Any) -> list[_Entry]:
        rel = stmt.relation
        if rel.relpersistence != "p" or stmt.inhRelations or stmt.partspec or stmt.partbound:
            raise _Unmapped
        if stmt.ofTypename or stmt.options or stmt.tablespacename or stmt.if_not_exists:
            raise _Unmapped
        table, schema = rel.relname, rel.schemaname
        columns: list[dict[str, Any]] = []
        extra: list[_Entry] = []
        table_constraints: list[Any] = []
        for elt in stmt.tableElts or ():
            if isinstance(elt, ast.ColumnDef):
                column, more = self.column(table, elt)
                columns.append(column)
                extra.extend(more)
            elif isinstance(elt, ast.Constraint):
                table_constraints.append(elt)
            else:
                raise _Unmapped
        by_name = {c["name"]: c for c in columns}
        for con in table_constraints:
            keys = [k.sval for k in con.keys or ()]
            if con.contype == ConstrType.CONSTR_PRIMARY:
                if not keys or set(keys) - set(by_name) or con.including or con.indexname:
                    raise _Unmapped
                if [c["name"] for c in columns if c["name"] in keys] != keys:
                    raise _Unmapped  # a key in another order than the columns'
                for position, key in enumerate(keys):
                    named = con.conname and position == 0
                    by_name[key]["primary_key"] = {"name": con.conname} if named else True
                    self.columns[(table, key)] = (False, "default" in by_name[key])
            else:
                extra.append(self.constraint(table, schema, con))
        if not columns:
            raise _Unmapped
        create = _with_schema({"table": table, "columns": columns}, schema)
        return [_Entry({"create_table": create}), *extra]


# ALTER TABLE ... REPLICA IDENTITY: pg_class.relreplident -> the file's `identity:`
_IDENTITIES = {"d": "default", "f": "full", "n": "nothing"}


def _raw(text: str) -> _Entry:
    return _Entry({"raw_sql": {"up": text}})


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def _statement_texts(sql: str, raw: Any) -> list[str]:
    data = sql.encode()
    texts = []
    for stmt in raw:
        start = stmt.stmt_location or 0
        end = start + stmt.stmt_len if stmt.stmt_len else len(data)
        texts.append(data[start:end].decode().strip())
    return texts


def _syntax_error(sql: str, exc: pglast.parser.ParseError, source: str) -> ConvertSyntaxError:
    message = str(exc.args[0]) if exc.args else str(exc)
    offset = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
    line = column = None
    if offset is not None:
        before = sql.encode()[:offset].decode(errors="replace")
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
    return ConvertSyntaxError(
        f"SQL syntax error: {message}",
        hint="Fix the statement there; convert reads PostgreSQL SQL only.",
        file=source,
        line=line,
        column=column,
    )


def convert_sql(sql: str, source: str = "<stdin>") -> str:
    """The liveshift migration (YAML text) equivalent to the SQL script `sql`."""
    try:
        raw = pglast.parse_sql(sql)
    except pglast.parser.ParseError as exc:
        raise _syntax_error(sql, exc, source) from None
    converter = _Converter()
    entries: list[_Entry] = []
    for stmt, text in zip(raw, _statement_texts(sql, raw), strict=True):
        if isinstance(stmt.stmt, ast.TransactionStmt):
            entries.append(_Entry({}, comment=f"dropped `{text}`: liveshift runs its own steps"))
            continue
        entries.extend(converter.statement(stmt.stmt, text))
    if not any(e.op for e in entries):
        raise MigrationFileError(
            "nothing to convert: the SQL holds no statement",
            hint="Give a file with at least one SQL statement.",
            file=source,
        )
    lines = [f"# converted from {source} by `liveshift convert`; review before use", "operations:"]
    for entry in entries:
        if entry.comment:
            lines.append(f"  # {entry.comment}")
        if entry.todo:
            lines.append(f"  # TODO: {entry.todo}")
        if entry.op:
            dumped = yaml.dump(
                [entry.op], Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000
            )
            lines.extend(f"  {line}" for line in dumped.splitlines())
    return "\n".join(lines) + "\n"


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the `convert` subcommand."""
    parser = subparsers.add_parser(
        "convert",
        help="convert a plain SQL migration into a liveshift migration file",
        description="Parse a PostgreSQL SQL migration and print the equivalent liveshift "
        "migration (YAML). Statements without an operation become raw_sql; `# TODO` comments "
        "mark where `up`/`down` must be written by hand. Exit 2 on a syntax error.",
    )
    parser.add_argument("file", metavar="FILE", help="the .sql file, or - for stdin")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Convert `args.file`; returns the exit code (errors raise a LiveshiftError)."""
    if args.file == "-":
        sql, source = sys.stdin.read(), "<stdin>"
    else:
        try:
            sql, source = Path(args.file).read_text(encoding="utf-8"), args.file
        except (OSError, UnicodeDecodeError) as exc:
            raise MigrationFileError(
                f"cannot read {args.file}: {exc}", hint="Give a readable UTF-8 .sql file."
            ) from None
    text = convert_sql(sql, source)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK
