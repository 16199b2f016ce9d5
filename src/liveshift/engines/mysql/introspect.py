"""MySQL / MariaDB: the live catalog (information_schema of one database) read into the schema
model.

Locks: every query here reads information_schema, which opens each table's definition under a
high-priority shared metadata lock (MDL_SHARED_HIGH_PRIO): it is granted next to a pending
exclusive lock instead of queueing behind it, so an ALTER that waits behind an open transaction
does not hold introspection up (tests/mysql/test_introspect.py measures it on MariaDB 10.11). The
one lock it can wait for is an exclusive one already granted (the brief moment an ALTER swaps the
definition in). MySQL 8 reads the data dictionary instead and takes row counts and sizes from
cached statistics (information_schema_stats_expiry, a day by default): MySQL not verified here.
"""

from __future__ import annotations

from typing import Any

from liveshift.engines.base import Connection
from liveshift.engines.mysql.server import ServerInfo, server_info
from liveshift.schema import Column, Constraint, Index, Schema, Table, Trigger

# Estimates, as ANALYZE TABLE or InnoDB's background statistics last saw them, like reltuples.
_TABLES = """
select TABLE_NAME, coalesce(TABLE_ROWS, 0), coalesce(DATA_LENGTH, 0), coalesce(INDEX_LENGTH, 0)
from information_schema.TABLES
where TABLE_SCHEMA = %(schema)s and TABLE_TYPE = 'BASE TABLE'
"""

_COLUMNS = """
select TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE = 'YES', COLUMN_DEFAULT, DATA_TYPE,
       EXTRA, coalesce(GENERATION_EXPRESSION, '')
from information_schema.COLUMNS
where TABLE_SCHEMA = %(schema)s
order by TABLE_NAME, ORDINAL_POSITION
"""

# COLLATION is 'D' for a descending key part (MariaDB 10.8, MySQL 8.0). EXPRESSION (MySQL 8.0.13
# functional key parts) is not read: MariaDB has no such column.
_INDEX_COLUMNS = """
select TABLE_NAME, INDEX_NAME, NON_UNIQUE = 0, INDEX_TYPE, COLUMN_NAME, SUB_PART,
       coalesce(COLLATION, 'A') = 'D'
from information_schema.STATISTICS
where TABLE_SCHEMA = %(schema)s
order by TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX
"""

_FOREIGN_KEYS = """
select k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_SCHEMA,
       k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE
from information_schema.KEY_COLUMN_USAGE k
join information_schema.REFERENTIAL_CONSTRAINTS r
  on r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA and r.CONSTRAINT_NAME = k.CONSTRAINT_NAME
 and r.TABLE_NAME = k.TABLE_NAME
where k.TABLE_SCHEMA = %(schema)s and k.REFERENCED_TABLE_NAME is not null
order by k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION
"""

# CHECK_CONSTRAINTS names no table on MySQL: TABLE_CONSTRAINTS does, on both. MariaDB's LEVEL says
# whether the check was written on a column (named after it, shown inline in SHOW CREATE TABLE).
_CHECKS_MARIADB = """
select TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE, LEVEL = 'Column', 'YES'
from information_schema.CHECK_CONSTRAINTS
where CONSTRAINT_SCHEMA = %(schema)s
"""

# MySQL 8.0.16+: NOT ENFORCED checks are kept but not checked (ENFORCED = 'NO').
_CHECKS_MYSQL = """
select t.TABLE_NAME, c.CONSTRAINT_NAME, c.CHECK_CLAUSE, 0, t.ENFORCED
from information_schema.CHECK_CONSTRAINTS c
join information_schema.TABLE_CONSTRAINTS t
  on t.CONSTRAINT_SCHEMA = c.CONSTRAINT_SCHEMA and t.CONSTRAINT_NAME = c.CONSTRAINT_NAME
 and t.CONSTRAINT_TYPE = 'CHECK'
where c.CONSTRAINT_SCHEMA = %(schema)s
"""

# Triggers fire per event and timing in ACTION_ORDER (FOLLOWS / PRECEDES); they are always
# enabled and always per row, with no WHEN condition and no UPDATE OF list.
_TRIGGERS = """
select EVENT_OBJECT_TABLE, TRIGGER_NAME, lower(ACTION_TIMING), EVENT_MANIPULATION = 'UPDATE'
from information_schema.TRIGGERS
where EVENT_OBJECT_SCHEMA = %(schema)s
order by EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER
"""

_NUMERIC_TYPES = frozenset(
    {"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric"}
    | {"float", "double", "real", "bit"}
)


def quote_name(name: str) -> str:
    """An identifier quoted as SHOW CREATE TABLE quotes it."""
    return "`" + name.replace("`", "``") + "`"


def normalise_default(info: ServerInfo, default: Any, data_type: str, extra: str) -> str | None:
    """COLUMN_DEFAULT as an SQL expression, in MariaDB's form: None for no default and for
    DEFAULT NULL; string and date literals quoted (`'it''s'`), numbers bare (`1.50`), functions
    as the server prints them (`current_timestamp()`, `rand()`).

    MariaDB (10.2.7+, verified on 10.11) already shows this form, with the text 'NULL' for a
    nullable column without a default (and `'NULL'`, quoted, for the string NULL). MySQL 8 shows
    string literals unquoted, SQL NULL for DEFAULT NULL, and marks expression defaults with
    DEFAULT_GENERATED in EXTRA (MySQL from its manual; not verified here)."""
    if default is None:
        return None
    text = default.decode() if isinstance(default, bytes) else str(default)
    if info.mariadb:
        return None if text == "NULL" else text
    if "DEFAULT_GENERATED" in extra.upper():
        lowered = text.lower()
        if lowered.startswith("current_timestamp"):
            # MySQL prints CURRENT_TIMESTAMP / CURRENT_TIMESTAMP(6); MariaDB current_timestamp().
            return lowered if "(" in lowered else lowered + "()"
        return text
    if data_type.lower() in _NUMERIC_TYPES or text.lower().startswith("b'"):
        return text
    return "'" + text.replace("'", "''") + "'"


def introspect(conn: Connection, schema: str) -> Schema:
    """Read every base table of the database `schema` into the schema model (one round trip per
    catalog table)."""
    params = {"schema": schema}
    info = server_info(conn)
    model = Schema(name=schema, server_version=info.number)
    tables = model.tables
    for name, rows, data_bytes, index_bytes in conn.execute(_TABLES, params):
        tables[name] = Table(
            schema=schema,
            name=name,
            estimated_rows=int(rows),
            heap_bytes=int(data_bytes),
            index_bytes=int(index_bytes),
        )
    for row in conn.execute(_COLUMNS, params):
        table_name, name, type_, nullable, default, data_type, extra, expression = row
        table = tables.get(table_name)
        if table is None:
            continue  # a view's column
        generated = bool(expression)
        table.columns[name] = Column(
            name=name,
            type=type_,
            nullable=bool(nullable),
            default=None if generated else normalise_default(info, default, data_type, extra),
            generated=generated,
            identity="auto_increment" in extra.lower(),
        )
    _read_indexes(conn, params, tables)
    _read_foreign_keys(conn, params, tables, schema)
    _read_checks(conn, params, tables, info)
    for table_name, name, timing, on_update in conn.execute(_TRIGGERS, params):
        if table_name in tables:
            tables[table_name].triggers.append(
                Trigger(name, timing, row_level=True, on_update=bool(on_update), enabled="O")
            )
    return model


def _read_indexes(conn: Connection, params: dict[str, str], tables: dict[str, Table]) -> None:
    """Indexes with their key parts in order; `definition` is the index's line of SHOW CREATE
    TABLE (prefix lengths and DESC included). A PRIMARY or UNIQUE index is also the constraint
    of that name (InnoDB has no unique constraint apart from its index)."""
    parts: dict[tuple[str, str], list[str]] = {}
    shape: dict[tuple[str, str], tuple[bool, str]] = {}
    columns: dict[tuple[str, str], list[str]] = {}
    for table_name, name, unique, index_type, column, sub_part, descending in conn.execute(
        _INDEX_COLUMNS, params
    ):
        if table_name not in tables:
            continue
        key = (table_name, name)
        part = quote_name(column) + (f"({sub_part})" if sub_part else "")
        parts.setdefault(key, []).append(part + (" DESC" if descending else ""))
        columns.setdefault(key, []).append(column)
        shape[key] = (bool(unique), str(index_type))
    for (table_name, name), key_parts in parts.items():
        unique, index_type = shape[(table_name, name)]
        primary = name == "PRIMARY"
        listed = "(" + ",".join(key_parts) + ")"
        if primary:
            definition = f"PRIMARY KEY {listed}"
        else:
            kind = {"FULLTEXT": "FULLTEXT ", "SPATIAL": "SPATIAL "}.get(index_type, "")
            kind = kind or ("UNIQUE " if unique else "")
            definition = f"{kind}KEY {quote_name(name)} {listed}"
        table = tables[table_name]
        index_columns = columns[(table_name, name)]
        table.indexes[name] = Index(
            name, list(index_columns), unique=unique, primary=primary, definition=definition
        )
        if unique:
            table.constraints[name] = Constraint(
                name,
                "p" if primary else "u",
                list(index_columns),
                definition=("PRIMARY KEY " if primary else "UNIQUE ") + listed,
            )


def _read_foreign_keys(
    conn: Connection, params: dict[str, str], tables: dict[str, Table], schema: str
) -> None:
    """Foreign keys; `definition` as SHOW CREATE TABLE writes it after `CONSTRAINT name`: ON
    DELETE / ON UPDATE only when not the default (RESTRICT on MariaDB, NO ACTION on MySQL: the
    same thing in InnoDB)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for row in conn.execute(_FOREIGN_KEYS, params):
        table_name, name, column, ref_schema, ref_table, ref_column, on_update, on_delete = row
        if table_name not in tables:
            continue
        fk = found.setdefault(
            (table_name, name),
            {
                "columns": [],
                "ref_columns": [],
                "ref": ref_table if ref_schema == schema else f"{ref_schema}.{ref_table}",
                "ref_quoted": quote_name(ref_table)
                if ref_schema == schema
                else f"{quote_name(ref_schema)}.{quote_name(ref_table)}",
                "rules": [(on_delete, "DELETE"), (on_update, "UPDATE")],
            },
        )
        fk["columns"].append(column)
        fk["ref_columns"].append(ref_column)
    for (table_name, name), fk in found.items():
        definition = (
            f"FOREIGN KEY ({','.join(map(quote_name, fk['columns']))})"
            f" REFERENCES {fk['ref_quoted']} ({','.join(map(quote_name, fk['ref_columns']))})"
        )
        for rule, event in fk["rules"]:
            if rule not in ("RESTRICT", "NO ACTION"):
                definition += f" ON {event} {rule}"
        tables[table_name].constraints[name] = Constraint(
            name, "f", list(fk["columns"]), definition=definition, referenced_table=fk["ref"]
        )


def _read_checks(
    conn: Connection, params: dict[str, str], tables: dict[str, Table], info: ServerInfo
) -> None:
    """CHECK constraints (MariaDB 10.2.1+, MySQL 8.0.16+); `definition` is `CHECK (clause)`. A
    check written on a column (MariaDB) names that column; a table check's columns are not
    listed (the server does not say which columns its expression reads)."""
    query = _CHECKS_MARIADB if info.mariadb else _CHECKS_MYSQL
    for table_name, name, clause, column_level, enforced in conn.execute(query, params):
        if table_name in tables:
            tables[table_name].constraints[name] = Constraint(
                name,
                "c",
                [name] if column_level else [],
                validated=enforced == "YES",
                definition=f"CHECK ({clause})",
            )
