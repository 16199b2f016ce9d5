"""`[tool.liveshift.lint]` in the nearest pyproject.toml: excluded rules, server version, paths."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from liveshift.errors import ConfigError, did_you_mean


class LintConfigError(ConfigError):
    """The lint section of pyproject.toml (or a --config file) is malformed."""


@dataclass(frozen=True)
class LintConfig:
    """Lint settings from the project; command-line options override them."""

    exclude: tuple[str, ...] = ()
    pg_version: int | None = None
    paths: tuple[str, ...] = ()
    exclude_paths: tuple[str, ...] = ()
    assume_in_transaction: bool = False
    source: Path | None = None  # the file they came from
    root: Path = field(default_factory=Path.cwd)  # paths are relative to its directory


_KEYS = {
    "exclude": "list of rule ids",
    "pg-version": "integer",
    "paths": "list of paths",
    "exclude-paths": "list of glob patterns",
    "assume-in-transaction": "boolean",
}


def find_pyproject(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_config(explicit: str | None = None, start: Path | None = None) -> LintConfig:
    """The settings from `explicit` (a pyproject.toml or a bare TOML table) or the nearest project."""
    path = Path(explicit) if explicit else find_pyproject((start or Path.cwd()).resolve())
    if path is None:
        return LintConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LintConfigError(f"Configuration file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LintConfigError(f"Cannot read {path}: {exc}", file=str(path)) from exc
    if not text.strip() or (not explicit and "liveshift" not in text):
        return LintConfig(source=path, root=path.parent)  # nothing for us: skip parsing the TOML
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LintConfigError(f"Cannot read {path}: {exc}", file=str(path)) from exc
    section: Any = data.get("tool", {}).get("liveshift", {}).get("lint")
    if section is None and explicit and "tool" not in data:
        section = data  # a standalone lint config file holds the keys at top level
    if section is None:
        return LintConfig(source=path, root=path.parent)
    if not isinstance(section, dict):
        raise LintConfigError("[tool.liveshift.lint] must be a table.", file=str(path))
    return _parse(section, path)


def _parse(section: dict[str, Any], path: Path) -> LintConfig:
    for key in section:
        normal = key.replace("_", "-")
        if normal not in _KEYS:
            raise LintConfigError(
                f"Unknown key {key!r} in [tool.liveshift.lint].",
                hint=did_you_mean(normal, _KEYS) or f"Known keys: {', '.join(_KEYS)}.",
                file=str(path),
            )
    values = {key.replace("_", "-"): value for key, value in section.items()}

    def strings(key: str) -> tuple[str, ...]:
        value = values.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise LintConfigError(
                f"[tool.liveshift.lint] {key} must be a {_KEYS[key]} (strings).", file=str(path)
            )
        return tuple(value)

    version = values.get("pg-version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise LintConfigError(
            "[tool.liveshift.lint] pg-version must be an integer major version, like 15.",
            file=str(path),
        )
    in_transaction = values.get("assume-in-transaction", False)
    if not isinstance(in_transaction, bool):
        raise LintConfigError(
            "[tool.liveshift.lint] assume-in-transaction must be true or false.", file=str(path)
        )
    return LintConfig(
        exclude=strings("exclude"),
        pg_version=version,
        paths=strings("paths"),
        exclude_paths=strings("exclude-paths"),
        assume_in_transaction=in_transaction,
        source=path,
        root=path.parent,
    )
