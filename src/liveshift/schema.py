"""The in-memory schema model: what the tables look like, before and after each operation."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from liveshift.errors import ValidationError, did_you_mean


@dataclass
class Column:
    """A column as an application version sees it; `physical` is its name in the base table."""

    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    physical: str = ""
    generated: bool = False
    identity: bool = False

    def __post_init__(self) -> None:
        if not self.physical:
            self.physical = self.name


@dataclass
class Index:
    name: str
    columns: list[str]
    unique: bool = False
    primary: bool = False
    valid: bool = True
    partial: bool = False
    definition: str = ""


@dataclass
class Constraint:
    name: str
    kind: str  # 'p' primary key, 'u' unique, 'c' check, 'f' foreign key, 'x' exclusion
    columns: list[str]
    validated: bool = True
    definition: str = ""
    referenced_table: str | None = None


@dataclass
class Trigger:
    """A trigger on a table, as far as a backfill's UPDATE is concerned."""

    name: str
    timing: str  # 'before', 'after' or 'instead of'
    row_level: bool  # FOR EACH ROW, else FOR EACH STATEMENT
    on_update: bool  # UPDATE is one of its events
    enabled: str  # pg_trigger.tgenabled: 'O' origin (the default), 'A' always, 'R' replica, 'D'
    update_of: tuple[str, ...] = ()  # UPDATE OF these columns only
    condition: bool = False  # has a WHEN condition

    @property
    def liveshift(self) -> bool:
        """One of liveshift's own (every object it creates is named _ls_...)."""
        return self.name.startswith("_ls_")

    def fires_when_setting(self, column: str, *, replica: bool = False) -> bool:
        """Whether an UPDATE that sets only `column` fires it (its WHEN condition, if any, aside),
        in an ordinary session or, with `replica`, under session_replication_role = replica."""
        return (
            self.on_update
            and self.enabled in (("R", "A") if replica else ("O", "A"))
            and (not self.update_of or column in self.update_of)
        )

    def describe(self) -> str:
        level = "row" if self.row_level else "statement"
        when = ", with a WHEN condition" if self.condition else ""
        enabled = {"A": ", ENABLE ALWAYS", "R": ", ENABLE REPLICA"}.get(self.enabled, "")
        return f"{self.name} ({self.timing.upper()} UPDATE, per {level}{when}{enabled})"


@dataclass
class Table:
    schema: str
    name: str
    columns: dict[str, Column] = field(default_factory=dict)
    indexes: dict[str, Index] = field(default_factory=dict)
    constraints: dict[str, Constraint] = field(default_factory=dict)
    estimated_rows: int = 0
    heap_bytes: int = 0  # the table's pages, as of its last VACUUM or ANALYZE
    index_bytes: int = 0  # all its indexes' pages, likewise
    physical: str = ""  # the base table's name while a rename is pending
    triggers: list[Trigger] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.physical:
            self.physical = self.name

    @property
    def qualified(self) -> str:
        """The quoted schema-qualified name of the physical table."""
        return f"{quote_ident(self.schema)}.{quote_ident(self.physical)}"

    def column(self, name: str) -> Column:
        found = self.columns.get(name)
        if found is None:
            raise ValidationError(
                f"table {self.schema}.{self.name} has no column {name!r}",
                object=f"{self.schema}.{self.name}.{name}",
                hint=did_you_mean(name, self.columns)
                or f"Its columns: {', '.join(self.columns) or '(none)'}.",
            )
        return found

    def primary_key(self) -> list[str] | None:
        """Physical names of the primary key's columns."""
        for constraint in self.constraints.values():
            if constraint.kind == "p":
                return list(constraint.columns)
        return None

    def unique_not_null_key(self) -> list[str] | None:
        """Physical names of the columns of a valid, non-partial unique index whose columns are
        all NOT NULL."""
        for index in sorted(self.indexes.values(), key=lambda i: (not i.primary, len(i.columns))):
            if not index.unique or not index.valid or index.partial:
                continue
            columns = [self.columns_by_physical().get(c) for c in index.columns]
            if all(c is not None and not c.nullable for c in columns):
                return [c.physical for c in columns if c is not None]
        return None

    def backfill_key(self) -> tuple[str, ...] | None:
        """The key a backfill batches on (and a change log records): the primary key, else a
        unique NOT NULL key; None when there is neither."""
        key = self.primary_key() or self.unique_not_null_key()
        return tuple(key) if key else None

    def columns_by_physical(self) -> dict[str, Column]:
        return {c.physical: c for c in self.columns.values()}


@dataclass
class Schema:
    """Every table of one database schema, as the version being planned sees them."""

    name: str
    tables: dict[str, Table] = field(default_factory=dict)
    types: set[str] = field(default_factory=set)
    server_version: int = 0

    def table(self, name: str) -> Table:
        found = self.tables.get(name)
        if found is None:
            raise ValidationError(
                f"there is no table {name!r} in schema {self.name!r}",
                object=f"{self.name}.{name}",
                hint=did_you_mean(name, self.tables)
                or "Check the table name and the migration's `schema:`.",
            )
        return found

    def clone(self) -> Schema:
        return copy.deepcopy(self)


def quote_ident(name: str) -> str:
    """Quote an identifier the way PostgreSQL does: only when it must."""
    if name.isidentifier() and name == name.lower() and name.isascii() and name not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# Keywords that cannot be column or table names unquoted (a conservative subset).
_RESERVED = frozenset(
    [
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "both",
        "case",
        "cast",
        "check",
        "collate",
        "column",
        "constraint",
        "create",
        "current_catalog",
        "current_date",
        "current_role",
        "current_time",
        "current_timestamp",
        "current_user",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "fetch",
        "for",
        "foreign",
        "from",
        "grant",
        "group",
        "having",
        "in",
        "initially",
        "intersect",
        "into",
        "lateral",
        "leading",
        "limit",
        "localtime",
        "localtimestamp",
        "not",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "placing",
        "primary",
        "references",
        "returning",
        "select",
        "session_user",
        "some",
        "symmetric",
        "table",
        "then",
        "to",
        "trailing",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "variadic",
        "when",
        "where",
        "window",
        "with",
        "authorization",
        "binary",
        "collation",
        "concurrently",
        "cross",
        "current_schema",
        "freeze",
        "full",
        "ilike",
        "inner",
        "is",
        "isnull",
        "join",
        "left",
        "like",
        "natural",
        "notnull",
        "outer",
        "overlaps",
        "right",
        "similar",
        "tablesample",
        "verbose",
    ]
)
