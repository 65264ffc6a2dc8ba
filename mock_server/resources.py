"""Where the spec files and the demo world live: beside the source tree, or inside an installed wheel; and how they
are read."""

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml

# libyaml's safe loader when PyYAML was built with it (it is in the wheels): the same documents, about 10x faster than
# the pure-Python one, which is most of a cold start.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_PACKAGE = Path(__file__).resolve().parent
_INSTALLED = _PACKAGE / "_resources"  # filled by the wheel build (pyproject: force-include)
_ROOT = _INSTALLED if _INSTALLED.is_dir() else _PACKAGE.parent

CACHE_DIR_ENV = "XENTREE_MOCK_CACHE_DIR"  # where parsed specs are kept; set to "" to keep none


def spec_path(api: str = "xentree") -> Path:
    return _ROOT / "openapi" / f"{api}.yaml"


def fixtures_dir() -> Path:
    return _ROOT / "fixtures"


def load_yaml(text: str) -> Any:
    """Parse YAML safely (no Python objects), in C when available."""
    return yaml.load(text, Loader=_LOADER)


def cache_dir() -> Path | None:
    """$XENTREE_MOCK_CACHE_DIR, else $XDG_CACHE_HOME/xentree-mock, else ~/.cache/xentree-mock; None when the
    variable is set empty or there is no home directory."""
    chosen = os.environ.get(CACHE_DIR_ENV)
    if chosen is not None:
        return Path(chosen) if chosen else None
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:  # no home directory to be found (a bare service account): keep nothing
            return None
    return Path(base) / "xentree-mock"


def load_yaml_once(text: str) -> Any:
    """`load_yaml(text)`, parsed once per content across processes: the Xentree spec takes ~0.1 s of every start to
    parse and its JSON copy ~2 ms to read (a test run starts ~40 servers). An entry is named by a SHA-256 of the
    parser's version and the text, so an edited spec is a new entry and a stale one is never read. An entry that
    cannot be read is parsed again and replaced; one that cannot be written is skipped; a document JSON cannot hold
    as it is (a YAML date, an integer key) is never kept."""
    folder = cache_dir()
    key = hashlib.sha256(f"{yaml.__version__}:{_LOADER.__name__}\0{text}".encode()).hexdigest()
    entry = folder / f"{key}.json" if folder is not None else None
    if entry is not None:
        try:
            return json.loads(entry.read_bytes())
        except (OSError, ValueError):
            pass
    document = load_yaml(text)
    if entry is not None:
        _keep(entry, document)
    return document


def _keep(entry: Path, document: Any) -> None:
    try:
        data = json.dumps(document)
        if json.loads(data) != document:
            return
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = entry.with_name(f"{entry.name}.{os.getpid()}.partial")
        partial.write_text(data, encoding="utf-8")
        os.replace(partial, entry)  # whole or not at all: a reader never sees half an entry
    except (OSError, TypeError, ValueError):
        return
