"""The parsed-spec cache (`resources.load_yaml_once`): a spec is parsed once per content across processes, an entry is
never stale, and a damaged, unwritable or absent cache only costs a parse."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from mock_server import resources
from mock_server.resources import CACHE_DIR_ENV, load_yaml, load_yaml_once, spec_path
from mock_server.spec import load_spec
from tests.conftest import ROOT

SPEC = spec_path("xentree").read_text(encoding="utf-8")
SMALL = (
    "openapi: 3.1.0\ninfo: {title: Small, version: '1'}\npaths:\n  /a: {get: {responses: {'200': {description: ok}}}}\n"
)


@cache
def parsed() -> Any:
    """The spec parsed without the cache, once for the module (a parse costs ~0.1 s)."""
    return load_yaml(SPEC)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_DIR_ENV, str(folder))
    return folder


def no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(text: str) -> Any:
        raise AssertionError("parsed the YAML again")

    monkeypatch.setattr(resources, "load_yaml", refuse)


def test_the_spec_is_parsed_once_then_read_from_its_entry(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_yaml_once(SPEC)
    assert first == parsed()
    (entry,) = cache.iterdir()
    assert json.loads(entry.read_bytes()) == first
    no_parsing(monkeypatch)
    assert load_yaml_once(SPEC) == first


def test_another_process_reads_the_entry_instead_of_parsing(cache: Path) -> None:
    load_yaml_once(SPEC)
    code = (
        "import sys, mock_server.resources as r\n"
        "r.load_yaml = lambda text: sys.exit('parsed the YAML again')\n"
        "from mock_server.spec import load_spec\n"
        "print(len(load_spec(r.spec_path('xentree')).operations))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(load_spec(spec_path("xentree")).operations) > 0


def test_an_edited_spec_is_a_new_entry(cache: Path) -> None:
    edited = SMALL.replace("title:", "title: Edited", 1)
    assert load_yaml_once(SMALL)["info"]["title"] != load_yaml_once(edited)["info"]["title"]
    assert len(list(cache.iterdir())) == 2


@pytest.mark.parametrize("damage", [b"", b"\xff\xfe{", b'{"openapi": "3.1.0", "paths": {', b"[1, 2"])
def test_a_damaged_entry_is_parsed_again_and_replaced(cache: Path, damage: bytes) -> None:
    load_yaml_once(SMALL)
    (entry,) = cache.iterdir()
    entry.write_bytes(damage)
    assert load_yaml_once(SMALL) == load_yaml(SMALL)
    assert json.loads(entry.read_bytes()) == load_yaml(SMALL)


def test_a_cache_that_cannot_be_written_only_costs_a_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(CACHE_DIR_ENV, str(blocker / "cache"))
    assert load_yaml_once(SMALL) == load_yaml(SMALL)
    assert blocker.read_text() == "not a directory"


def test_an_entry_that_is_a_directory_only_costs_a_parse(cache: Path) -> None:
    load_yaml_once(SMALL)
    (entry,) = cache.iterdir()
    entry.unlink()
    entry.mkdir()
    assert load_yaml_once(SMALL) == load_yaml(SMALL)
    assert entry.is_dir()


def test_a_document_json_cannot_hold_is_never_kept(cache: Path) -> None:
    text = "released: 2026-04-23\n200: ok\n"
    assert load_yaml_once(text) == {"released": datetime.date(2026, 4, 23), 200: "ok"}
    assert load_yaml_once(text) == {"released": datetime.date(2026, 4, 23), 200: "ok"}
    assert not cache.exists() or not list(cache.iterdir())


def test_an_empty_variable_keeps_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert load_yaml_once(SMALL) == load_yaml(SMALL)
    assert list(tmp_path.iterdir()) == []


def test_no_home_directory_keeps_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def homeless() -> Path:
        raise RuntimeError("Could not determine home directory")

    monkeypatch.delenv(CACHE_DIR_ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(Path, "home", staticmethod(homeless))
    assert load_yaml_once(SMALL) == load_yaml(SMALL)
