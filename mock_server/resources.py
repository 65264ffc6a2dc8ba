"""Where the spec files and the demo world live: beside the source tree, or inside an installed wheel."""

from pathlib import Path
from typing import Any

import yaml

# libyaml's safe loader when PyYAML was built with it (it is in the wheels): the same documents, about 10x faster than
# the pure-Python one, which is most of a cold start.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_PACKAGE = Path(__file__).resolve().parent
_INSTALLED = _PACKAGE / "_resources"  # filled by the wheel build (pyproject: force-include)
_ROOT = _INSTALLED if _INSTALLED.is_dir() else _PACKAGE.parent


def spec_path(api: str = "xentree") -> Path:
    return _ROOT / "openapi" / f"{api}.yaml"


def fixtures_dir() -> Path:
    return _ROOT / "fixtures"


def load_yaml(text: str) -> Any:
    """Parse YAML safely (no Python objects), in C when available."""
    return yaml.load(text, Loader=_LOADER)
