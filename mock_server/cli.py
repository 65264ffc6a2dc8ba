"""`xentree-mock serve ...`: start the mock on a host and port (uvicorn), print a banner with demo credentials."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path

import uvicorn

from mock_server import __version__
from mock_server.app import Settings, build_mock, create_app
from mock_server.clock import parse_instant
from mock_server.fixtures import Credentials
from mock_server.limits import RateLimit
from mock_server.resources import fixtures_dir, spec_path

ENV_SETTINGS = "XENTREE_MOCK_SETTINGS"  # carries settings into the --reload worker process


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xentree-mock", description="Stateful, spec-driven mock of the Xentree API")
    p.add_argument("--version", action="version", version=f"xentree-mock {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="start the mock server")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=4010)
    s.add_argument("--api", default="xentree",
                   help="which spec to serve (openapi/<api>.yaml): xentree, xp-ledger, or both as xentree,xp-ledger")
    s.add_argument("--seed", type=int, default=0, help="seed for ids, tokens and generated data (default 0)")
    s.add_argument("--state", type=Path, help="SQLite file to keep state across restarts (default: in memory)")
    s.add_argument("--strict", action="store_true", help="validate every response against the spec (500 on drift)")
    s.add_argument("--admin-token", help="token that opens the /__mock__ control API to non-loopback callers")
    s.add_argument("--rate-limit", default="6000/60", help="per-identity limit N/SECONDS, or 'off' (default 6000/60)")
    s.add_argument("--cors-origin", action="append", dest="cors_origins", help="allowed origin (repeatable; default *)")
    s.add_argument("--fixture", default="demo", help="fixture set to load at start (fixtures/<name>.yaml)")
    s.add_argument("--freeze-at", help="start with the clock frozen at this ISO 8601 instant")
    s.add_argument("--reload", action="store_true", help="restart when the spec, fixtures or code change")
    s.add_argument("--quiet", action="store_true", help="no per-request access log")
    return p


def settings_from(args: argparse.Namespace) -> Settings:
    RateLimit.parse(args.rate_limit)  # fail early on a bad value
    for api in args.api.split(","):
        if not spec_path(api.strip()).is_file():
            raise SystemExit(f"xentree-mock: no spec for --api {api!r} at {spec_path(api.strip())}")
    return Settings(
        api=args.api,
        seed=args.seed,
        state=args.state,
        strict=args.strict,
        admin_token=args.admin_token,
        rate_limit=args.rate_limit,
        cors_origins=args.cors_origins or ["*"],
        fixture=args.fixture,
        frozen_at=parse_instant(args.freeze_at) if args.freeze_at else None,
        access_log=not args.quiet,
    )


def banner(url: str, mock_settings: Settings, credentials: Credentials) -> str:
    apis = mock_settings.apis
    lines = [
        f"xentree-mock {__version__}: {' + '.join(apis)} API on {url}",
        f"  docs      {url}/docs      spec {url}/openapi.yaml",
        *([f"            {url}/{api}/docs" for api in apis] if len(apis) > 1 else []),
        f"  controls  {url}/__mock__  (seed {mock_settings.seed}, state {mock_settings.state or 'in memory'}"
        f"{', strict' if mock_settings.strict else ''})",
    ]
    if "xentree" in apis:
        lines += [
            "  demo users (POST /api/auth/login, form fields username + password):",
            *[f"    {u['username']:<8} {u['password']:<16} role {u['role']}" for u in credentials.users],
            "  demo API keys (header X-API-Key):",
            *[f"    {k['name']:<18} {k['key']}" for k in credentials.api_keys],
        ]
    if "xp-ledger" in apis:
        lines += [
            "  XP ledger clients (POST /auth/1.0/token, grant_type=client_credentials, Basic id:secret):",
            *[f"    {a['client_id']:<28} {a['client_secret']:<24} {' '.join(a['scopes'])}" for a in credentials.applications],
        ]
    return "\n".join(lines)


def app_from_env():  # used by uvicorn --reload (factory)
    data = json.loads(os.environ[ENV_SETTINGS])
    data["state"] = Path(data["state"]) if data["state"] else None
    data["frozen_at"] = parse_instant(data["frozen_at"]) if data["frozen_at"] else None
    return create_app(Settings(**data))


def serve(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s  %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    url = f"http://{args.host}:{args.port}"
    if args.reload:
        data = asdict(settings)
        data["state"] = str(settings.state) if settings.state else None
        data["frozen_at"] = settings.frozen_at.isoformat() if settings.frozen_at else None
        os.environ[ENV_SETTINGS] = json.dumps(data)
        print(f"xentree-mock: serving {url} with reload (watching the spec, fixtures and code)", flush=True)
        uvicorn.run(
            "mock_server.cli:app_from_env", factory=True, host=args.host, port=args.port, reload=True,
            reload_dirs=[str(spec_path().parent), str(fixtures_dir()), str(Path(__file__).parent)],
            reload_includes=["*.yaml", "*.json", "*.py"], log_config=None, access_log=False,
        )  # fmt: skip
        return 0
    mock = build_mock(settings)
    print(banner(url, settings, mock.credentials), flush=True)
    uvicorn.run(create_app(mock=mock), host=args.host, port=args.port, log_config=None, access_log=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
