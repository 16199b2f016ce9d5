"""Small readers for pglast's JSON parse tree: names, types, constants, expression walks."""

from __future__ import annotations

from liveshift.linter.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

Node = dict[str, "Any"]  # a JSON parse-tree node

SERIAL_TYPES = frozenset({"serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"})


def strings(items: list[Any] | None) -> list[str]:
    """The `sval`s of a list of String nodes (qualified names, column lists)."""
    out = []
    for item in items or ():
        value = item.get("String")
        if value is not None:
            out.append(value.get("sval", ""))
    return out


def relation_name(range_var: Node | None) -> str:
    """The table name of a RangeVar; the schema is dropped, so `public.t` and `t` match."""
    if not range_var:
        return ""
    inner = range_var.get("RangeVar", range_var)
    return str(inner.get("relname", ""))


def const_value(node: Node | None) -> Any:
    """The Python value of an A_Const (zero and false are omitted by the JSON output)."""
    if not node:
        return None
    const = node.get("A_Const")
    if const is None:
        return None
    if const.get("isnull"):
        return None
    for key in ("ival", "sval", "fval", "boolval", "bsval"):
        if key in const:
            inner = const[key]
            value = inner.get(key) if isinstance(inner, dict) else inner
            if value is None:
                return {"ival": 0, "sval": "", "boolval": False, "fval": "0", "bsval": ""}[key]
            return value
    return None


def is_null_const(node: Node | None) -> bool:
    return bool(node) and bool(node.get("A_Const", {}).get("isnull"))  # type: ignore[union-attr]


class ColumnType(Record):
    """A column type as written: base name (pg_catalog names), modifiers and array-ness."""

    __slots__ = ("name", "mods", "array")  # noqa: RUF023 - field order

    def __init__(self, name: str, mods: tuple[int, ...] = (), array: bool = False) -> None:
        self.name = name
        self.mods = mods
        self.array = array

    def __str__(self) -> str:
        text = _DISPLAY_NAMES.get(self.name, self.name)
        if self.mods:
            text += "(" + ",".join(str(m) for m in self.mods) + ")"
        return text + ("[]" if self.array else "")


_DISPLAY_NAMES = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "float4": "real",
    "float8": "double precision",
    "bpchar": "char",
    "bool": "boolean",
    "timestamptz": "timestamptz",
}


def column_type(type_name: Node | None) -> ColumnType:
    if not type_name:
        return ColumnType("")
    names = strings(type_name.get("names"))
    name = names[-1].lower() if names else ""
    mods = []
    for mod in type_name.get("typmods") or ():
        value = const_value(mod)
        if isinstance(value, int):
            mods.append(value)
    return ColumnType(name, tuple(mods), bool(type_name.get("arrayBounds")))


def constraints(column_def: Node) -> list[Node]:
    return [c["Constraint"] for c in column_def.get("constraints") or () if "Constraint" in c]


def walk(node: Any) -> Iterator[tuple[str, Node]]:
    """Every (node type, node) pair under a JSON node, depth first."""
    # `type(x) is` rather than isinstance: a parse tree holds plain dicts and lists only, and
    # isinstance against `dict | list` goes through the union's own check (this loop runs over
    # every node of the expressions that defaults and SELECTs hold).
    stack = [node]
    while stack:
        current = stack.pop()
        kind = type(current)
        if kind is dict:
            for key, value in current.items():
                inner = type(value)
                if inner is dict:
                    if key[:1].isupper():
                        yield key, value
                    stack.append(value)
                elif inner is list:
                    stack.append(value)
        elif kind is list:
            stack.extend(current)


def function_calls(node: Any) -> Iterator[str]:
    """Lower-case names (without schema) of the functions an expression calls."""
    for kind, inner in walk(node):
        if kind == "FuncCall":
            names = strings(inner.get("funcname"))
            if names:
                yield names[-1].lower()


def def_elem_names(items: list[Any] | None) -> set[str]:
    return {d["DefElem"].get("defname", "") for d in items or () if "DefElem" in d}
