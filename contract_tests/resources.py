"""Where the suite's own copies of the specs live: beside the source tree, or inside an installed wheel. The suite
checks any deployment from a bare install, so it never asks the mock where its files are."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_INSTALLED = _PACKAGE / "_resources"  # filled by the wheel build (pyproject: force-include)
_ROOT = _INSTALLED if _INSTALLED.is_dir() else _PACKAGE.parent


def spec_path(api: str = "xentree") -> Path:
    return _ROOT / "openapi" / f"{api}.yaml"
