"""Generated clients are part of the product: openapi-python-client (pinned in the `test` extra) turns both specs into
Python clients without a warning, and those clients, imported as a frontend team would import them, talk to a real
mock server process and parse its answers — successes and the documented errors — into their own models.

The generator runs as a subprocess from this venv (its ruff post-hooks need the venv's `bin` on PATH, else it warns);
the clients are imported from a temp dir through sys.path and removed from sys.modules afterwards.

TypeScript: openapi-typescript and tsc (TypeScript 5.x), pinned in the Makefile and installed into `.tools/` by
`make test`, generate both specs' types and compile them with a small frontend file that uses them, under `--strict`.
That test skips only where node or npm is missing; with npm present and the tools absent it fails, saying how to
install them, so CI cannot skip it silently.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from http import HTTPStatus
from itertools import chain
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import UUID

import pytest

from tests import web
from tests.conftest import ROOT, Server

BIN = Path(sys.executable).parent
FROZEN_AT = "2026-04-16T10:00:00Z"  # mid-month, so the Live quota's reset is two weeks away
PACKAGES = {"xentree": "xentree_api_client", "xp-ledger": "timeback_xp_ledger_api_client"}
LEDGER_CLIENT = ("7nq4k2m9x5c8v1b3z6w0p4r2t8", "example-client-secret-not-real")  # Reading Quest, both scopes
AVA = UUID("22222222-2222-2222-2222-222222222222")  # a ledger student with 21 days of seeded history
NODE_BIN = ROOT / ".tools" / "node_modules" / ".bin"
# A frontend's use of the generated types: schemas, a path's response, a `$ref` response's body and headers, and
# the ledger's single token_type (a type that accepted any string would leave the @ts-expect-error unused: an error).
USAGE_TS = """\
import type { components, operations, paths } from "./xentree";
import type { paths as LedgerPaths } from "./xp-ledger";

type ApiError = components["schemas"]["Error"];
type Me = paths["/api/auth/me"]["get"]["responses"][200]["content"]["application/json"];
type QuotaExceeded = operations["startLiveSession"]["responses"][429];
type Token = LedgerPaths["/auth/1.0/token"]["post"]["responses"][200]["content"]["application/json"];
type Entries = LedgerPaths["/xp/1.0/users/{userId}/entries"]["get"]["responses"][200]["content"]["application/json"];

export const quotaError: QuotaExceeded["content"]["application/json"] = {
  detail: { error: "live_quota_exceeded", message: "Monthly Live session quota exceeded" },
};
export const retryAfter: QuotaExceeded["headers"]["Retry-After"] = 1256399;
export const token: Token = { access_token: "a.b.c", token_type: "Bearer", expires_in: 3600 };
// @ts-expect-error the ledger documents one token type, `Bearer`
export const lowerCase: Token = { access_token: "a.b.c", token_type: "bearer", expires_in: 3600 };

export function describe(me: Me, page: Entries, error: ApiError): string {
  const xp = page.entries.reduce((sum, entry) => sum + entry.value, 0);
  return `${me.username} (${me.plan}): ${xp} XP in ${page.entries.length} of ${page.total}; ${error.detail.error}`;
}
"""


def generate(api: str, out: Path) -> str:
    """Run the pinned generator on one spec and return everything it printed."""
    done = subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(ROOT / "openapi" / f"{api}.yaml"),
            "--output-path",
            str(out),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Both clients generated into a temp dir and importable; yields what the generator printed per spec."""
    root = tmp_path_factory.mktemp("clients")
    printed = {api: generate(api, root / api) for api in PACKAGES}
    paths = [str(root / api) for api in PACKAGES]
    sys.path[:0] = paths
    yield printed
    for path in paths:
        sys.path.remove(path)
    for name in [m for m in sys.modules if m.split(".")[0] in PACKAGES.values()]:
        del sys.modules[name]


def client_module(name: str) -> ModuleType:
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[Server]:
    server = Server("--api", "xentree,xp-ledger", "--strict", "--freeze-at", FROZEN_AT, "--quiet").start()
    yield server
    server.stop()


@pytest.fixture
def server(shared_server: Server) -> Server:
    """One process for the module, reset to its seeded world (and its frozen clock) before each test."""
    assert web.post(f"{shared_server.url}/__mock__/reset", json={}).status_code == 200
    return shared_server


def test_the_generator_prints_nothing_but_its_progress_for_either_spec(generated: dict[str, str]) -> None:
    """No warning of any kind (a skipped schema, a skipped endpoint, a missing ruff): only the one progress line."""
    for api, printed in generated.items():
        lines = printed.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Generating ") and lines[0].endswith(api), printed


def test_every_generated_module_imports(generated: dict[str, str]) -> None:
    """Every endpoint and model module loads (a broken annotation fails at import: Python 3.11 evaluates them)."""
    for package in PACKAGES.values():
        root = client_module(package)
        names = [m.name for m in pkgutil.walk_packages(root.__path__, f"{package}.")]
        for name in names:
            importlib.import_module(name)
        assert any(".api." in n for n in names) and any(".models." in n for n in names), names


def test_xentree_client_logs_in_reads_creates_and_gets_the_live_quota_429(
    generated: dict[str, str], server: Server
) -> None:
    api = client_module("xentree_api_client")
    models = client_module("xentree_api_client.models")
    auth = client_module("xentree_api_client.api.authentication.login_user")
    me_op = client_module("xentree_api_client.api.authentication.get_current_user")
    profile_op = client_module("xentree_api_client.api.profile_analytics.get_xp_profile")
    create_op = client_module("xentree_api_client.api.conversations.create_conversation")
    list_op = client_module("xentree_api_client.api.conversations.list_conversations")
    start_op = client_module("xentree_api_client.api.xentree_live.start_live_session")
    beat_op = client_module("xentree_api_client.api.xentree_live.heartbeat_live_session")

    def login() -> Any:
        """The login operation sends its form body; the answer parses into the generated TokenResponse."""
        body = models.LoginForm(username="alex", password="alex-password")
        return auth.sync(client=api.Client(base_url=server.url), body=body)

    token = login()
    assert isinstance(token, models.TokenResponse), token
    assert token.token_type == models.TokenResponseTokenType.BEARER and token.expires_in == 3600
    alex = api.AuthenticatedClient(base_url=server.url, token=token.access_token)

    me = me_op.sync(client=alex)
    assert isinstance(me, models.UserProfile), me
    assert me.username == "alex" and me.plan == models.UserProfilePlan.FREE and me.timezone == "America/New_York"

    profile = profile_op.sync(client=alex)
    assert isinstance(profile, models.XPProfileResponse), profile
    assert profile.username == "alex" and profile.level >= 1 and profile.total_xp >= profile.xp_into_level >= 0
    assert 50 * profile.level * (profile.level - 1) + profile.xp_into_level == profile.total_xp  # level n at 50n(n-1)

    created = create_op.sync(client=alex, body=models.ConversationCreateRequest(title="Generated client"))
    assert isinstance(created, models.ConversationResponse), created
    assert created.title == "Generated client" and created.provider == "auto" and created.message_count == 0
    listed = list_op.sync(client=alex)
    assert isinstance(listed, list) and listed[0] == created  # most recently updated first, parsed into models

    # alex's free plan has one hour of Live a month: start, let the mock clock pass it, and the quota is gone.
    session = start_op.sync(
        client=alex, body=models.LiveStartSessionRequest(session_type=models.LiveStartSessionRequestSessionType.VOICE)
    )
    assert isinstance(session, models.LiveSessionResponse), session
    assert session.remaining_seconds == session.monthly_quota_seconds == 3600
    assert web.post(f"{server.url}/__mock__/clock/advance", json={"seconds": 3601}).status_code == 200
    alex = api.AuthenticatedClient(base_url=server.url, token=login().access_token)  # the old token lived 1 h

    wait = int((datetime(2026, 5, 1, tzinfo=UTC) - datetime(2026, 4, 16, 11, 0, 1, tzinfo=UTC)).total_seconds())
    beat = beat_op.sync_detailed(client=alex, body=models.LiveSessionHeartbeatRequest(session_id=session.session_id))
    again = start_op.sync_detailed(
        client=alex, body=models.LiveStartSessionRequest(session_type=models.LiveStartSessionRequestSessionType.AVATAR)
    )
    for answer in (beat, again):
        assert answer.status_code == HTTPStatus.TOO_MANY_REQUESTS, answer.content
        assert isinstance(answer.parsed, models.Error), answer.parsed
        assert answer.parsed.detail.error == "live_quota_exceeded"
        assert answer.parsed.detail.message == "Monthly Live session quota exceeded"
        assert int(answer.headers["retry-after"]) == wait


def test_ledger_client_gets_a_client_credentials_token_and_lists_entries(
    generated: dict[str, str], server: Server
) -> None:
    api = client_module("timeback_xp_ledger_api_client")
    models = client_module("timeback_xp_ledger_api_client.models")
    token_op = client_module("timeback_xp_ledger_api_client.api.auth.issue_access_token")
    entries_op = client_module("timeback_xp_ledger_api_client.api.xp.list_user_xp_entries")
    anonymous = api.Client(base_url=server.url)

    def request(secret: str) -> Any:
        grant = models.TokenRequestGrantType.CLIENT_CREDENTIALS
        return models.TokenRequest(grant_type=grant, client_id=LEDGER_CLIENT[0], client_secret=secret)

    refused = token_op.sync_detailed(client=anonymous, body=request("not-the-secret"))
    assert refused.status_code == HTTPStatus.UNAUTHORIZED and isinstance(refused.parsed, models.Error)
    assert refused.parsed.error == "invalid_client"

    token = token_op.sync(client=anonymous, body=request(LEDGER_CLIENT[1]))
    assert isinstance(token, models.TokenResponse), token
    assert token.token_type == models.TokenResponseTokenType.BEARER and token.expires_in == 3600
    assert token.scope.split() == ["events.readonly", "events.write"]
    reader = api.AuthenticatedClient(base_url=server.url, token=token.access_token)

    page = entries_op.sync(AVA, client=reader, limit=5)
    assert isinstance(page, models.XpEntryPage), page
    assert page.limit == 5 and page.offset == 0 and len(page.entries) == 5 and page.total > 5
    assert all(isinstance(e, models.XpEntry) and e.user_id == str(AVA) for e in page.entries)
    dates = [e.date_generated for e in page.entries]
    assert dates == sorted(dates, reverse=True) and all(d.tzinfo is not None for d in dates)  # newest first
    assert {e.subject for e in page.entries} <= {"Reading", "Math"}

    unknown = entries_op.sync_detailed(UUID(int=1), client=reader)
    assert unknown.status_code == HTTPStatus.NOT_FOUND and isinstance(unknown.parsed, models.Error)
    assert unknown.parsed.error and unknown.parsed.message


def node_tools() -> Path:
    """The pinned openapi-typescript and tsc from `.tools/`; skip only where node or npm is missing."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not found: the generated TypeScript types are not compiled")
    missing = [tool for tool in ("openapi-typescript", "tsc") if not (NODE_BIN / tool).exists()]
    assert not missing, f"{missing} not in .tools/: `make test` installs the pinned openapi-typescript and TypeScript"
    return NODE_BIN


def run_node_tool(tool: Path, *args: str, cwd: Path) -> str:
    done = subprocess.run([str(tool), *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


WRONG_TS = """\
import type { components } from "./xentree";
export const e: components["schemas"]["Error"] = { detail: { error: 429 } };
"""


@pytest.fixture(scope="module")
def typescript(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Both specs' types generated once, then one strict tsc run over them, the frontend file that uses them right
    (usage.ts) and one that misuses them (wrong.ts): what openapi-typescript printed per spec, and tsc's exit code
    and diagnostics by file. One compile serves both tests below (two tsc runs cost ~3.5 s of CPU each); tsc
    reports every file's errors, so each test judges its own file's."""
    tools = node_tools()
    root = tmp_path_factory.mktemp("typescript")
    version = run_node_tool(tools / "tsc", "--version", cwd=root).strip()
    printed = {
        api: run_node_tool(
            tools / "openapi-typescript", str(ROOT / "openapi" / f"{api}.yaml"), "-o", str(root / f"{api}.ts"), cwd=root
        )
        for api in PACKAGES
    }
    (root / "usage.ts").write_text(USAGE_TS, encoding="utf-8")
    (root / "wrong.ts").write_text(WRONG_TS, encoding="utf-8")
    done = subprocess.run(
        [
            str(tools / "tsc"),
            "--noEmit",
            "--strict",
            "--skipLibCheck",  # as Vite and Next.js tsconfigs have it: TypeScript's lib files unchecked, half the CPU
            "--pretty",
            "false",
            "--target",
            "es2022",
            "--module",
            "esnext",
            "--moduleResolution",
            "bundler",
            "xentree.ts",
            "xp-ledger.ts",
            "usage.ts",
            "wrong.ts",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    # one diagnostic a line, `file(line,col): error TS…`; continuation lines are indented; a global one has no file
    by_file: dict[str, list[str]] = {}
    for line in output.splitlines():
        if line.strip() and not line[:1].isspace():
            by_file.setdefault(line.split("(", 1)[0] if "(" in line.split(":", 1)[0] else "", []).append(line)
    return {"version": version, "printed": printed, "returncode": done.returncode, "by_file": by_file, "output": output}


def test_openapi_typescript_output_compiles_strictly_with_a_frontend_file(typescript: dict[str, Any]) -> None:
    assert typescript["version"].startswith("Version 5."), typescript["version"]  # not 7
    for printed in typescript["printed"].values():
        assert "warn" not in printed.lower() and "error" not in printed.lower(), printed
    # not a single diagnostic outside wrong.ts: the generated types and the frontend file that uses them compile
    assert set(typescript["by_file"]) <= {"wrong.ts"}, typescript["output"]


def test_tsc_rejects_a_frontend_file_that_misuses_the_generated_types(typescript: dict[str, Any]) -> None:
    """The compile above proves something only if tsc would refuse a wrong use of the same types."""
    assert typescript["returncode"] != 0, typescript["output"]
    assert any(": error TS" in line for line in typescript["by_file"].get("wrong.ts", [])), typescript["output"]


def test_generated_clients_pass_mypy(generated: dict[str, str]) -> None:
    """Both generated packages type-check strictly (issue 15: no `body: Any` from object unions, no untyped inline
    objects). Every import is checked (python-dateutil's stubs are a test dependency). The project's own mypy
    configuration (strict; `misc` off for these packages, see pyproject.toml) and the gate's cache: with the gate's
    options, the standard library and shared dependencies are read from the cache (4.6 -> 2.2 s of CPU)."""
    dirs = [Path(client_module(package).__path__[0]) for package in PACKAGES.values()]
    config = ["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(ROOT / ".mypy_cache")]
    done = subprocess.run(
        [str(BIN / "mypy"), *config, *map(str, dirs)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=dirs[0].parent,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert f"no issues found in {len(list(chain.from_iterable(d.rglob('*.py') for d in dirs)))} source files" in (
        done.stdout
    ), done.stdout


def test_generated_models_are_named_by_the_spec(generated: dict[str, str]) -> None:
    """No `...Body` or `InlineObject` model: every request and response body is a named component (issue 15)."""
    models = client_module("xentree_api_client.models")
    names = [n for n in dir(models) if n[:1].isupper()]
    assert not [n for n in names if n.endswith("Body") or n.startswith("Inline")], names
    assert {"LoginForm", "MemberAddRequest", "ErrorDetail", "XPBooster", "XELSkill"} <= set(names)
