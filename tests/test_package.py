"""`pip install .` ships the spec and the demo world as package data, so the tools work from any directory."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def test_wheel_ships_spec_fixtures_and_console_scripts(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), str(ROOT)],
                   check=True, capture_output=True, timeout=600)  # fmt: skip
    wheel = next((tmp_path / "dist").glob("xentree_mock-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "mock_server/_resources/openapi/xentree.yaml" in names
    assert "mock_server/_resources/fixtures/demo.yaml" in names
    assert "mock_server/_resources/fixtures/docs-nav.json" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "xentree-mock = mock_server.cli:main" in text and "xentree-contract = contract_tests.cli:main" in text

    # Installed (not editable) and run from an unrelated directory, the mock finds its spec and fixtures.
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=600)  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = (
        "import mock_server.resources as r, mock_server.app as a;"
        "assert str(r.spec_path()).startswith(%r), r.spec_path();"
        "m = a.build_mock(a.Settings());"
        "print(len(m.spec.operations), len(m.credentials.users))" % str(site)
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["81", "3"]
