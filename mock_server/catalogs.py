"""The static catalogs under fixtures/catalog/ (XEL modules, AI providers, plans, quests): reading them, and the
error a broken one raises.

A catalog is checked when it is loaded, by code that raises `CatalogError` naming the file and the entry; an
`assert` would vanish under `python -O` and let a broken fixture through to answer 500s later.
"""

from __future__ import annotations

from typing import Any

from mock_server.resources import fixtures_dir, load_yaml


class CatalogError(ValueError):
    """A catalog that breaks its rules (a missing field, an unknown level, a duplicate id, ...)."""


def load_catalog(filename: str) -> Any:
    """The parsed YAML of fixtures/catalog/<filename>."""
    return load_yaml((fixtures_dir() / "catalog" / filename).read_text(encoding="utf-8"))


def require(ok: bool, filename: str, problem: str) -> None:
    """Raise CatalogError("<filename>: <problem>") unless `ok`."""
    if not ok:
        raise CatalogError(f"{filename}: {problem}")
