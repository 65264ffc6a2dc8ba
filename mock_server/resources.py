"""Where the spec files and the demo world live: beside the source tree, or inside an installed wheel."""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_INSTALLED = _PACKAGE / "_resources"  # filled by the wheel build (pyproject: force-include)
_ROOT = _INSTALLED if _INSTALLED.is_dir() else _PACKAGE.parent


def spec_path(api: str = "xentree") -> Path:
    return _ROOT / "openapi" / f"{api}.yaml"


def fixtures_dir() -> Path:
    return _ROOT / "fixtures"
