"""`xentree-contract run --base-url URL`: check a deployment against openapi/xentree.yaml with Schemathesis.

This first version drives the Schemathesis CLI with all built-in checks and JUnit/JSON/HTML reports; the custom
checks, scenario suites and conformance report of issue 4 build on it. Exit codes: 0 conformant, 1 contract
failures, 2 usage error or target unreachable (a server that is down is never a pass).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from mock_server.resources import spec_path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xentree-contract", description="Check a Xentree deployment against the spec")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the contract checks against a base URL")
    r.add_argument("--base-url", default=os.environ.get("XENTREE_BASE_URL"), help="target, e.g. http://127.0.0.1:4010")
    r.add_argument("--api", default="xentree")
    r.add_argument("--token", default=os.environ.get("XENTREE_TOKEN"), help="bearer access token")
    r.add_argument("--api-key", default=os.environ.get("XENTREE_API_KEY"), help="X-API-Key value")
    r.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    r.add_argument("--max-examples", type=int, default=20)
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--workers", default="1")
    r.add_argument("--include-tag", action="append", default=[])
    r.add_argument("--operation", action="append", default=[], help="operationId to include (repeatable)")
    r.add_argument("--report-dir", type=Path, default=Path("contract-report"))
    return p


def reachable(url: str) -> bool:
    try:
        urllib.request.urlopen(url.rstrip("/") + "/", timeout=5)  # noqa: S310 - the user's own target URL
    except urllib.error.HTTPError:
        return True  # it answered
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return True


def schemathesis_command(args: argparse.Namespace) -> list[str]:
    report = args.report_dir
    cmd = [
        sys.executable, "-m", "schemathesis.cli", "run", str(spec_path(args.api)), "--url", args.base_url,
        "--checks", "all", "--phases", args.phases, "--max-examples", str(args.max_examples),
        "--seed", str(args.seed), "--workers", str(args.workers), "--no-color",
        "--report", "junit,ndjson,har", "--report-dir", str(report),
        "--report-junit-path", str(report / "junit.xml"),
    ]  # fmt: skip
    if args.token:
        cmd += ["--header", f"Authorization: Bearer {args.token}"]
    if args.api_key:
        cmd += ["--header", f"X-API-Key: {args.api_key}"]
    for tag in args.include_tag:
        cmd += ["--include-tag", tag]
    for op in args.operation:
        cmd += ["--include-operation-id", op]
    return cmd


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.base_url:
        print("xentree-contract: --base-url (or XENTREE_BASE_URL) is required", file=sys.stderr)
        return 2
    if not reachable(args.base_url):
        print(f"xentree-contract: target {args.base_url} is unreachable", file=sys.stderr)
        return 2
    args.report_dir.mkdir(parents=True, exist_ok=True)
    code = subprocess.call(schemathesis_command(args))
    return 1 if code == 1 else (0 if code == 0 else 2)


if __name__ == "__main__":
    raise SystemExit(main())
