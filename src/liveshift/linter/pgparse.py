"""pglast's C parser, loaded without running pglast's Python AST classes and enums until used."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any


if TYPE_CHECKING:
    from types import ModuleType
else:
    # types.ModuleType without importing `types`, which nothing else on the lint path needs.
    ModuleType = type(sys)


class _Deferred(ModuleType):
    """A module whose code runs the first time one of its attributes is asked for."""

    def __getattr__(self, name: str) -> Any:
        spec = self.__spec__
        assert spec is not None and spec.loader is not None
        # Become an ordinary module first, so attribute lookups while the code runs are normal.
        self.__class__ = ModuleType  # type: ignore[assignment]
        spec.loader.exec_module(self)
        return getattr(self, name)


def _defer(name: str, location: str, package_dir: str | None = None) -> ModuleType:
    # importlib.util's two functions, from the import system's own modules, which the
    # interpreter loaded at start-up as _frozen_importlib and _frozen_importlib_external:
    # importlib.util imports contextlib and more, and even the `importlib` package imports
    # `warnings`.
    from _frozen_importlib import module_from_spec
    from _frozen_importlib_external import spec_from_file_location

    spec = spec_from_file_location(
        name, location, submodule_search_locations=[package_dir] if package_dir else None
    )
    if spec is None or spec.loader is None:
        raise ImportError(name)
    module = module_from_spec(spec)
    module.__class__ = _Deferred
    sys.modules[name] = module
    return module


def _import_parser_only() -> None:
    """Import pglast.parser with the pglast package itself, pglast.ast and pglast.enums deferred.

    The extension module imports ast and enums at load time, but only the Python-object API
    (pglast.parse_sql) uses them; the JSON parser the linter calls never does. Running them costs
    about 15 ms, a tenth of linting 1,000 migration files; the package's own code imports
    `typing` (2 ms) and needs nothing the parser uses but `Error`. The modules stay in
    sys.modules as placeholders that run their real code on first attribute access, so any later
    user of pglast, pglast.ast or pglast.enums in the same process gets the complete modules.
    """
    if "pglast" in sys.modules:
        return
    from _frozen_importlib_external import PathFinder  # see _defer

    spec = PathFinder.find_spec("pglast")
    if spec is None or not spec.submodule_search_locations or not spec.origin:
        return
    root = next(iter(spec.submodule_search_locations))
    try:
        package = vars(_defer("pglast", spec.origin, root))
        # Attributes set as the import system would, so that reading them runs nothing.
        package["enums"] = _defer("pglast.enums", f"{root}/enums/__init__.py", f"{root}/enums")
        package["ast"] = _defer("pglast.ast", f"{root}/ast.py")
        from pglast.error import Error

        package["Error"] = Error  # `from . import Error` in the parser
        import pglast.parser  # noqa: F401
    except Exception:
        # An unusual install (zip, different layout): import pglast the ordinary way.
        for name in [n for n in sys.modules if n == "pglast" or n.startswith("pglast.")]:
            del sys.modules[name]
        return


_import_parser_only()

from pglast.parser import ParseError, parse_sql_json, scan  # noqa: E402

__all__ = ["ParseError", "parse_sql_json", "scan"]
