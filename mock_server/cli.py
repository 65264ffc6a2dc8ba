"""`xentree-mock serve ...`: start the mock on a host and port (uvicorn), print a banner with demo credentials."""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from mock_server import __version__, fixtures
from mock_server.app import create_app
from mock_server.clock import parse_instant
from mock_server.fixtures import Credentials
from mock_server.limits import RateLimit
from mock_server.resources import fixtures_dir, spec_path
from mock_server.runtime import Settings, build_mock

ENV_SETTINGS = "XENTREE_MOCK_SETTINGS"  # carries settings into the --reload worker process


ENV_PREFIX = "XENTREE_MOCK_"


def _env(name: str, default: str | None) -> str | None:
    return os.environ.get(ENV_PREFIX + name.upper().replace("-", "_"), default)


def _flag(env: str) -> bool:
    return (_env(env, "") or "").strip().lower() in ("1", "true", "yes", "on")


SECRETS = {"admin_token", "jwt_secret"}  # never echoed by --help, even when set in the environment


class HelpFormatter(argparse.HelpFormatter):
    """Shows each option's default (taken from its environment variable when set), except unset ones and secrets."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and action.dest not in SECRETS:
            text += " (default: %(default)s)"
        return text


def parser() -> argparse.ArgumentParser:
    """Every `serve` option has a default shown in --help and an environment variable (XENTREE_MOCK_<OPTION>)."""
    p = argparse.ArgumentParser(prog="xentree-mock", description="Stateful, spec-driven mock of the Xentree API")
    p.add_argument("--version", action="version", version=f"xentree-mock {__version__}")
    sub = p.add_subparsers(dest="command")
    s = sub.add_parser(
        "serve",
        help="start the mock server",
        formatter_class=HelpFormatter,
        description="Start the mock. Every option can also be set by its environment variable.",
    )

    def option(name: str, help: str, default: str | None = None, **kwargs: object) -> None:
        env = ENV_PREFIX + name.upper().replace("-", "_")
        s.add_argument(f"--{name}", default=_env(name, default), help=f"{help} [env {env}]", **kwargs)  # type: ignore[arg-type]

    def switch(name: str, help: str) -> None:
        env = ENV_PREFIX + name.upper().replace("-", "_")
        s.add_argument(f"--{name}", action="store_true", default=_flag(name), help=f"{help} [env {env}=1]")

    option("host", "address to bind", "127.0.0.1")
    option("port", "port to bind", "4010", type=int)
    option("api", "spec(s) to serve (openapi/<api>.yaml): xentree, xp-ledger, or both as xentree,xp-ledger", "xentree")
    option("seed", "seed for ids, tokens and generated data", "0", type=int)
    option("state", "SQLite file that keeps state across restarts; in memory when unset", type=Path)
    switch("strict", "validate every response against the spec (500 on drift)")
    option("admin-token", "token that opens the /__mock__ control API to non-loopback callers")
    option("control-hosts", "extra Host names /__mock__ answers to, comma-separated (loopback, IPs, --host always)")
    option("control-origins", "extra browser origins that may drive /__mock__, comma-separated (the mock's own always)")
    option("rate-limit", "per-user limit N/SECONDS, or 'off'", "6000/60")
    option(
        "auth-failure-limit", "failed authentications per client address N/SECONDS (loopback exempt), or 'off'", "10/60"
    )
    s.add_argument(
        "--cors-origin",
        action="append",
        dest="cors_origins",
        default=[o for o in (_env("cors-origin", "") or "").split(",") if o] or None,
        help="allowed browser origin, repeatable (default: any origin) [env XENTREE_MOCK_CORS_ORIGIN, comma-separated]",
    )
    option(
        "forwarded-allow-ips",
        "proxies whose X-Forwarded-For/-Proto are trusted (comma-separated IPs or *); "
        "by default no forwarded header is trusted",
    )
    option(
        "jwt-secret",
        "secret that signs bearer tokens (default: derived from the seed on loopback, random and kept "
        "in the state file beyond it)",
    )
    switch("deterministic-tokens", "sign tokens with the seed-derived secret even when bound beyond loopback")
    option("fixture", "fixture set to load at start: a name in fixtures/ or a path to a .yaml file", "demo")
    option("freeze-at", "start with the clock frozen at this ISO 8601 instant")
    switch("reload", "restart when the spec, fixtures or code change")
    switch("quiet", "no per-request access log")
    return p


def settings_from(args: argparse.Namespace) -> Settings:
    for name, value in (("--rate-limit", args.rate_limit), ("--auth-failure-limit", args.auth_failure_limit)):
        try:
            RateLimit.parse(value)  # fail early on a bad value
        except ValueError:
            raise SystemExit(f"xentree-mock: {name} {value!r}: expected N/SECONDS, e.g. 6000/60, or 'off'") from None
    for api in args.api.split(","):
        if not spec_path(api.strip()).is_file():
            raise SystemExit(f"xentree-mock: no spec for --api {api!r} at {spec_path(api.strip())}")
    try:
        fixtures.read(args.fixture)  # a fixture set by name or YAML path, checked before the store is built
    except (FileNotFoundError, fixtures.FixtureError) as exc:
        raise SystemExit(f"xentree-mock: --fixture: {exc}") from None
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
        host=args.host,
        jwt_secret=args.jwt_secret,
        deterministic_tokens=True if args.deterministic_tokens else None,
        auth_failure_limit=args.auth_failure_limit,
        control_hosts=_csv(args.control_hosts),
        control_origins=_csv(args.control_origins),
    )


def _csv(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


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
            *[
                f"    {a['client_id']:<28} {a['client_secret']:<24} {' '.join(a['scopes'])}"
                for a in credentials.applications
            ],
        ]
    return "\n".join(lines)


def app_from_env() -> Starlette:  # used by uvicorn --reload (factory)
    data = json.loads(os.environ[ENV_SETTINGS])
    data["state"] = Path(data["state"]) if data["state"] else None
    data["frozen_at"] = parse_instant(data["frozen_at"]) if data["frozen_at"] else None
    return create_app(Settings(**data))


def _proxy_options(args: argparse.Namespace) -> dict[str, Any]:
    """uvicorn trusts X-Forwarded-For from loopback by default, which lets any local caller pick its address (and
    dodge IP allow-lists and per-address limits); the mock trusts forwarded headers only from named proxies."""
    if args.forwarded_allow_ips:
        return {"proxy_headers": True, "forwarded_allow_ips": args.forwarded_allow_ips}
    return {"proxy_headers": False}


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is printed: a busy port is one clear line, not a banner and then
    a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(f"xentree-mock: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def serve(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s  %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    url = f"http://{args.host}:{args.port}" if ":" not in args.host else f"http://[{args.host}]:{args.port}"
    if args.reload:
        data = asdict(settings)
        data["state"] = str(settings.state) if settings.state else None
        data["frozen_at"] = settings.frozen_at.isoformat() if settings.frozen_at else None
        os.environ[ENV_SETTINGS] = json.dumps(data)
        bind(args.host, args.port).close()  # a busy port fails here, before uvicorn's reloader starts
        print(f"xentree-mock: serving {url} with reload (watching the spec, fixtures and code)", flush=True)
        uvicorn.run(
            "mock_server.cli:app_from_env",
            factory=True,
            host=args.host,
            port=args.port,
            reload=True,
            reload_dirs=[str(spec_path().parent), str(fixtures_dir()), str(Path(__file__).parent)],
            reload_includes=["*.yaml", "*.json", "*.py"],
            log_config=None,
            access_log=False,
            **_proxy_options(args),
        )
        return 0
    sock = bind(args.host, args.port)
    mock = build_mock(settings)
    config = uvicorn.Config(create_app(mock=mock), log_config=None, access_log=False, **_proxy_options(args))
    print(banner(url, settings, mock.credentials), flush=True)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def main(argv: list[str] | None = None) -> int:
    cli = parser()
    args = cli.parse_args(argv)
    if args.command == "serve":
        return serve(args)
    cli.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
