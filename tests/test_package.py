"""Installing the wheel gives a working tool anywhere: it ships every spec and every fixture as package data,
declares every third-party package the code imports, and an installed mock serves both APIs from an unrelated
directory.

The wheel is built once per module (`python -m build`). The install test uses a fresh venv without system site
packages and without pip of its own (this venv's installer, uv or pip, installs into it with `--python`, which saves
bootstrapping pip); the wheel's dependencies are resolved from the package index like any user's install.
"""

from __future__ import annotations

import ast
import base64
import importlib.metadata
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from contract_tests.plugin import ProcessServer
from tests import web
from tests.conftest import ROOT

SOURCES = ("mock_server", "contract_tests")
RESOURCES = "mock_server/_resources"
LEDGER_CLIENT = ("7nq4k2m9x5c8v1b3z6w0p4r2t8", "example-client-secret-not-real")
CLEAN_PATH = "/usr/bin:/bin"  # nothing of this checkout or its venv on PATH
UV = Path(sys.executable).parent / "uv"
# The installer `make` used for this venv: uv, whose venv has no pip, or pip where uv failed. `build` uses it too, for
# its isolated build environment (with pip it would bootstrap pip into that environment when this venv has none).
INSTALLER = "uv" if UV.exists() else "pip"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--installer", INSTALLER, "--outdir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return next(dist.glob("xentree_mock-*.whl"))


def test_wheel_ships_every_spec_every_fixture_and_the_console_scripts(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    specs = sorted((ROOT / "openapi").glob("*.yaml"))
    assert {s.name for s in specs} >= {"xentree.yaml", "xp-ledger.yaml"}
    for spec in specs:
        assert f"{RESOURCES}/openapi/{spec.name}" in names, spec.name
        assert f"contract_tests/_resources/openapi/{spec.name}" in names, spec.name  # the suite's own copy
        own_copy = zipfile.ZipFile(wheel).read(f"contract_tests/_resources/openapi/{spec.name}")
        assert own_copy == spec.read_bytes(), spec.name  # built from openapi/, markers (x-destructive) and all
    fixtures = [p.relative_to(ROOT).as_posix() for p in (ROOT / "fixtures").rglob("*") if p.is_file()]
    assert "fixtures/demo.yaml" in fixtures and any(f.startswith("fixtures/catalog/") for f in fixtures)
    assert not [f for f in fixtures if f"{RESOURCES}/{f}" not in names]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "xentree-mock = mock_server.cli:main" in text and "xentree-contract = contract_tests.__main__:main" in text
    assert "xentree = contract_tests.plugin" in text  # the pytest plugin


def test_the_unpacked_wheel_finds_its_specs_and_fixtures_from_another_directory(wheel: Path, tmp_path: Path) -> None:
    """Installed (not editable) and run from an unrelated directory, the mock finds each spec and its fixtures."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:  # a pure-Python wheel installs by unpacking it (pip took ~0.9 s CPU)
        wheel_info = next(n for n in archive.namelist() if n.endswith(".dist-info/WHEEL"))
        assert "Root-Is-Purelib: true" in archive.read(wheel_info).decode()
        assert not [n for n in archive.namelist() if n.split("/", 1)[0].endswith(".data")]  # no scripts/headers dirs
        archive.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = (
        "import mock_server.resources as r, mock_server.app as a;"
        f"assert str(r.spec_path()).startswith({str(site)!r}), r.spec_path();"
        f"assert str(r.spec_path('xp-ledger')).startswith({str(site)!r}) and r.spec_path('xp-ledger').is_file();"
        "m = a.build_mock(a.Settings());"
        "print(len(m.spec.operations), len(m.credentials.users))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(site), "PATH": CLEAN_PATH},
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["81", "3"]


# declared dependencies -------------------------------------------------------------------------------------------
def imported_top_levels(package: Path) -> set[str]:
    """Top-level names of every absolute import in a package, at module level or inside functions."""
    found: set[str] = set()
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"), str(source))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_dependencies() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = (re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement) for requirement in project["dependencies"])
    return {normalized(name[0]) for name in names if name}


def test_every_imported_third_party_package_is_declared() -> None:
    """Each import that is neither the standard library nor our own code must come from a declared distribution
    (a package that only arrives through another's dependencies can disappear when that one changes)."""
    imported = set().union(*(imported_top_levels(ROOT / name) for name in SOURCES))
    third_party = sorted(imported - set(sys.stdlib_module_names) - set(SOURCES))
    assert {"starlette", "yaml", "jwt", "requests"} <= set(third_party)  # the scan sees real imports
    distributions = importlib.metadata.packages_distributions()
    unknown = [name for name in third_party if name not in distributions]
    assert not unknown, f"imported but not installed here: {unknown}"
    declared = declared_dependencies()
    undeclared = {
        name: distributions[name]
        for name in third_party
        if not any(normalized(d) in declared for d in distributions[name])
    }
    assert not undeclared, f"imported but not in [project.dependencies]: {undeclared}"


# a real install -----------------------------------------------------------------------------------------------------
def installed_server(venv: Path, cwd: Path, *args: str) -> ProcessServer:
    """`xentree-mock serve` from a fresh venv, run in a directory outside the checkout with a clean environment."""
    return ProcessServer(
        *args, command=[str(venv / "bin" / "xentree-mock")], cwd=cwd, env={"PATH": CLEAN_PATH, "HOME": str(cwd)}
    )


def install_command(python: Path, wheel: Path) -> list[str]:
    """The installer `make` used for this venv, without compiling: uv where it is there (it resolves the wheel's
    dependencies from the index in ~2 s, pip in ~10 s), else pip; both read the same wheel metadata."""
    if INSTALLER == "uv":
        return [str(UV), "pip", "install", "--quiet", "--python", str(python), str(wheel)]
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--disable-pip-version-check"]
    return [*pip, "--no-compile", str(wheel)]


def test_a_fresh_venv_with_the_wheel_serves_both_apis_from_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    venv, elsewhere = tmp_path / "venv", tmp_path / "elsewhere"
    elsewhere.mkdir()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        install_command(venv / "bin" / "python", wheel),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import mock_server; print(mock_server.__file__)"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": CLEAN_PATH},
        check=False,
    )
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr  # the venv's copy, not the checkout's

    server = installed_server(venv, elsewhere, "--api", "xentree,xp-ledger", "--strict", "--quiet")
    try:
        server.start(timeout=30)
        health = web.get(f"{server.url}/api/health")
        assert health.status_code == 200 and health.json()["status"] == "ok", health.text
        ledger_spec = web.get(f"{server.url}/xp-ledger/openapi.json")
        assert ledger_spec.status_code == 200 and ledger_spec.json()["info"]["title"] == "Timeback XP ledger API"
        basic = base64.b64encode(":".join(LEDGER_CLIENT).encode()).decode()
        token = web.post(
            f"{server.url}/auth/1.0/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
        )
        assert token.status_code == 200, token.text
        assert token.json()["token_type"] == "Bearer" and token.json()["scope"] == "events.readonly events.write"
        nobody = base64.b64encode(b"nobody:nothing").decode()
        wrong = web.post(
            f"{server.url}/auth/1.0/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {nobody}"},
        )
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    finally:
        server.stop()


def test_the_contract_suite_imports_the_mock_only_in_its_pytest_plugin() -> None:
    """The suite checks any URL from a bare install: only the plugin (which may start a mock) imports mock_server."""
    offenders = []
    for path in sorted((ROOT / "contract_tests").rglob("*.py")):
        if path.name == "plugin.py":
            continue
        if "mock_server" in imported_top_levels_of_file(path):
            offenders.append(path.relative_to(ROOT).as_posix())
    assert not offenders


def imported_top_levels_of_file(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    names |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
    }
    return names
