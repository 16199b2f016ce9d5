"""`[tool.liveshift.lint]` in the nearest pyproject.toml: excluded rules, server version, paths."""

from __future__ import annotations

import os

from liveshift.errors import ConfigError, did_you_mean
from liveshift.linter.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any


class LintConfigError(ConfigError):
    """The lint section of pyproject.toml (or a --config file) is malformed."""


class LintConfig(Record):
    """Lint settings from the project; command-line options override them."""

    __slots__ = (  # noqa: RUF023 - field order
        "exclude", "pg_version", "paths", "exclude_paths", "assume_in_transaction", "source",
        "root",
    )  # fmt: skip

    def __init__(
        self,
        exclude: tuple[str, ...] = (),
        pg_version: int | None = None,
        paths: tuple[str, ...] = (),
        exclude_paths: tuple[str, ...] = (),
        assume_in_transaction: bool = False,
        source: str | None = None,
        root: str | None = None,
    ) -> None:
        self.exclude = exclude
        self.pg_version = pg_version
        self.paths = paths
        self.exclude_paths = exclude_paths
        self.assume_in_transaction = assume_in_transaction
        self.source = source  # the file they came from
        self.root = os.getcwd() if root is None else root  # `paths` are relative to it


_KEYS = {
    "exclude": "list of rule ids",
    "pg-version": "integer",
    "paths": "list of paths",
    "exclude-paths": "list of glob patterns",
    "assume-in-transaction": "boolean",
}


def find_pyproject(start: str) -> str | None:
    """The pyproject.toml in `start` (an absolute path) or the nearest directory above it."""
    directory = start
    while True:
        candidate = os.path.join(directory, "pyproject.toml")
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def load_config(
    explicit: str | None = None, start: str | os.PathLike[str] | None = None
) -> LintConfig:
    """The settings from `explicit` (a pyproject.toml or a bare TOML table) or the nearest project."""
    if explicit:
        from liveshift.linter.inputs import normal_path

        path: str | None = normal_path(explicit)  # as the user wrote it, tidied
    else:
        path = find_pyproject(os.path.realpath(os.getcwd() if start is None else start))
    if path is None:
        return LintConfig()
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise LintConfigError(f"Configuration file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LintConfigError(f"Cannot read {path}: {exc}", file=path) from exc
    root = os.path.dirname(path) or "."
    if not text.strip() or (not explicit and "liveshift" not in text):
        return LintConfig(source=path, root=root)  # nothing for us: skip parsing the TOML
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LintConfigError(f"Cannot read {path}: {exc}", file=path) from exc
    section: Any = data.get("tool", {}).get("liveshift", {}).get("lint")
    if section is None and explicit and "tool" not in data:
        section = data  # a standalone lint config file holds the keys at top level
    if section is None:
        return LintConfig(source=path, root=root)
    if not isinstance(section, dict):
        raise LintConfigError("[tool.liveshift.lint] must be a table.", file=path)
    return _parse(section, path, root)


def _parse(section: dict[str, Any], path: str, root: str) -> LintConfig:
    for key in section:
        normal = key.replace("_", "-")
        if normal not in _KEYS:
            raise LintConfigError(
                f"Unknown key {key!r} in [tool.liveshift.lint].",
                hint=did_you_mean(normal, _KEYS) or f"Known keys: {', '.join(_KEYS)}.",
                file=path,
            )
    values = {key.replace("_", "-"): value for key, value in section.items()}

    def strings(key: str) -> tuple[str, ...]:
        value = values.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise LintConfigError(
                f"[tool.liveshift.lint] {key} must be a {_KEYS[key]} (strings).", file=path
            )
        return tuple(value)

    version = values.get("pg-version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise LintConfigError(
            "[tool.liveshift.lint] pg-version must be an integer major version, like 15.",
            file=path,
        )
    in_transaction = values.get("assume-in-transaction", False)
    if not isinstance(in_transaction, bool):
        raise LintConfigError(
            "[tool.liveshift.lint] assume-in-transaction must be true or false.", file=path
        )
    return LintConfig(
        exclude=strings("exclude"),
        pg_version=version,
        paths=strings("paths"),
        exclude_paths=strings("exclude-paths"),
        assume_in_transaction=in_transaction,
        source=path,
        root=root,
    )
