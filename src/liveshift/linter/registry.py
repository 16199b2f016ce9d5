"""Discovers the rules: every module in liveshift.linter.rules that defines RULE."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Collection, Iterable

    from liveshift.linter.rule import Rule

RULES_DIRECTORY = os.path.join(os.path.dirname(__file__), "rules")


def _module_names() -> list[str]:
    names = []
    for entry in os.scandir(RULES_DIRECTORY):
        stem, suffix = os.path.splitext(entry.name)
        if suffix == ".py" and not stem.startswith("_"):
            names.append(stem)
    return sorted(names)


_all_rules: tuple[Rule, ...] | None = None


def all_rules() -> tuple[Rule, ...]:
    """Every rule, sorted by id (found once per process)."""
    global _all_rules
    if _all_rules is None:
        _all_rules = _find_rules()
    return _all_rules


def _find_rules() -> tuple[Rule, ...]:
    # `__import__` and sys.modules rather than functools and importlib: neither module is
    # otherwise on the lint path, and importing them (with `collections` and `warnings`, which
    # they import) costs about 1 ms of start-up.
    from liveshift.linter.rule import Rule

    found: dict[str, Rule] = {}
    for name in _module_names():
        qualified = f"liveshift.linter.rules.{name}"
        __import__(qualified)
        module = sys.modules[qualified]
        rule = getattr(module, "RULE", None)
        if isinstance(rule, Rule):
            if rule.id in found:
                raise RuntimeError(f"two lint rules share the id {rule.id!r}")
            found[rule.id] = rule
    return tuple(sorted(found.values(), key=lambda r: r.id))


def rules_by_id() -> dict[str, Rule]:
    return {rule.id: rule for rule in all_rules()}


def rule_ids_without_import() -> list[str]:
    """The rule ids, from the module names (rule `set-not-null` lives in `set_not_null.py`).

    Lets a run whose findings all come from the cache check its options without importing
    the rules and the parser; tests/linter/test_rules.py holds every module to this naming.
    """
    return [name.replace("_", "-") for name in _module_names()]


def check_excluded(excluded: Iterable[str], known: Collection[str]) -> None:
    """Raise a ConfigError naming the first excluded rule id that is not a rule."""
    unknown = sorted(set(excluded) - set(known))
    if unknown:
        from liveshift.errors import ConfigError, did_you_mean

        raise ConfigError(
            f"Unknown lint rule {unknown[0]!r} in the excluded rules.",
            hint=did_you_mean(unknown[0], known) or "See `docs/rules/` for the rule ids.",
        )
