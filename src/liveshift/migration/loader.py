"""Read a YAML or JSON migration file into models, with file:line errors and suggestions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pydantic
import yaml

from liveshift.errors import MigrationFileError, suggest
from liveshift.migration.models import OPERATION_WRAPPERS, MigrationFile, Strict

Loc = tuple[int | str, ...]


def parse_text(text: str, path: str) -> tuple[Any, yaml.Node | None]:
    """The data in the file and its YAML node tree (for line numbers)."""
    if path.endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MigrationFileError(
                f"this is not valid JSON: {exc.msg}",
                file=path,
                line=exc.lineno,
                column=exc.colno,
                hint="Fix the syntax; a YAML file (.yaml) is accepted too.",
            ) from exc
    try:
        # JSON is (for our purposes) YAML: composing gives line numbers for both.
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if not path.endswith(".json"):
            data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise MigrationFileError(
            f"this is not valid YAML: {exc.problem or exc}",
            file=path,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
            hint="Fix the syntax (indentation and `key: value` pairs are the usual culprits).",
        ) from exc
    return data, node


def node_at(root: yaml.Node | None, loc: Loc, *, key: bool = False) -> yaml.Node | None:
    """The YAML node at a pydantic error location (the key node when `key` is set)."""
    node = root
    for i, part in enumerate(loc):
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return node
            node = node.value[part]
        elif isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == part:
                    node = key_node if key and i == len(loc) - 1 else value_node
                    break
            else:
                return node
        else:
            return node
    return node


def _clean_loc(loc: Sequence[int | str]) -> Loc:
    # A discriminated union repeats the tag: (operations, 0, add_column, add_column, column).
    cleaned: list[int | str] = []
    for part in loc:
        if cleaned and part == cleaned[-1] and isinstance(part, str) and part in OPERATION_WRAPPERS:
            continue
        cleaned.append(part)
    return tuple(cleaned)


def _field_names(model: type[pydantic.BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _model_at(loc: Loc) -> type[pydantic.BaseModel] | None:
    """The model that owns the last part of loc (to suggest a known key for an unknown one)."""
    model: Any = MigrationFile
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if model is MigrationFile and part == "operations":
            model = None
            continue
        if model is None and part in OPERATION_WRAPPERS:
            model = OPERATION_WRAPPERS[part].model_fields[part].annotation
            continue
        if model is None:
            return None
        fields = {(f.alias or n): f for n, f in model.model_fields.items()}
        field = fields.get(str(part))
        if field is None:
            return None
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        candidates = [a for a in (annotation, *args) if isinstance(a, type)]
        model = next((a for a in candidates if issubclass(a, pydantic.BaseModel)), None)
    return model if isinstance(model, type) else None


def _describe(error: Any, loc: Loc) -> tuple[str, str | None]:
    """A message and a hint for one pydantic error."""
    where = ".".join(str(p) for p in loc) or "the file"
    kind = error["type"]
    if kind == "extra_forbidden":
        unknown = str(loc[-1])
        model = _model_at(loc)
        known = _field_names(model) if model else []
        close = suggest(unknown, known)
        hint = f"Did you mean {close!r}?" if close else None
        if known and not hint:
            hint = "Known keys here: " + ", ".join(known) + "."
        return f"unknown key {unknown!r} at {where}", hint
    if kind == "union_tag_invalid":
        tag = error.get("ctx", {}).get("tag", "?")
        close = suggest(str(tag), OPERATION_WRAPPERS)
        hint = (
            f"Did you mean {close!r}?" if close else "Operations: " + ", ".join(OPERATION_WRAPPERS)
        )
        return f"unknown operation {tag!r} at {where}", hint
    if kind == "union_tag_not_found":
        return (
            f"{where} must be a mapping with exactly one key naming the operation",
            "For example `- add_column: {table: users, column: {name: x, type: text}}`.",
        )
    if kind == "missing":
        return f"missing required key {loc[-1]!r} at {where}", None
    if kind == "value_error" and "error" in error.get("ctx", {}):
        # Our own model checks: their text is the message, without pydantic's "Value error, ".
        return f"{where}: {error['ctx']['error']}", None
    return f"{where}: {error['msg']}", None


def validate_data(data: Any, path: str, node: yaml.Node | None) -> MigrationFile:
    if not isinstance(data, dict):
        raise MigrationFileError(
            "a migration file must be a mapping with an `operations:` list",
            file=path,
            line=1,
            hint="Start the file with `operations:` followed by a list of operations.",
        )
    try:
        return MigrationFile.model_validate(data)
    except pydantic.ValidationError as exc:
        # An unknown key usually explains a missing one (a typo): report it first.
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        first = errors[0]
        loc = _clean_loc(first["loc"])
        message, hint = _describe(first, loc)
        target = node_at(node, loc, key=first["type"] == "extra_forbidden")
        line = target.start_mark.line + 1 if target is not None else None
        column = target.start_mark.column + 1 if target is not None else None
        details = []
        for other in errors[1:6]:
            other_loc = _clean_loc(other["loc"])
            other_message, _ = _describe(other, other_loc)
            other_node = node_at(node, other_loc, key=other["type"] == "extra_forbidden")
            at = f"line {other_node.start_mark.line + 1}: " if other_node is not None else ""
            details.append(f"also, {at}{other_message}")
        raise MigrationFileError(
            message, hint=hint, file=path, line=line, column=column, details=details
        ) from None


def load_file(path: Path) -> tuple[MigrationFile, str]:
    """The validated model of a migration file and its text."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MigrationFileError(
            "no such migration file", file=str(path), hint="Check the path."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MigrationFileError(f"cannot read the migration file: {exc}", file=str(path)) from None
    if path.suffix not in (".yaml", ".yml", ".json"):
        raise MigrationFileError(
            f"unknown migration file type {path.suffix!r}",
            file=str(path),
            hint="Migration files end in .yaml, .yml or .json (for plain SQL, see `liveshift convert`).",
        )
    data, node = parse_text(text, str(path))
    return validate_data(data, str(path), node), text


def spec_model(wrapper: Strict) -> Strict:
    (name,) = type(wrapper).model_fields
    spec: Strict = getattr(wrapper, name)
    return spec
