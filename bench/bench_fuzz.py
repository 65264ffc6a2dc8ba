"""Upstream Schemathesis against the strict mock, every operation and phase, at scale: how many cases it takes, and
whether any response is a 5xx (the mock must answer every input with a documented status, never a crash).

    .venv/bin/python bench/bench_fuzz.py [--max-examples 60] [--api xentree]

Prints the number of generated test cases (from Schemathesis' summary), the requests the mock answered (its
access log), the responses with status >= 500 (must be 0) and the wall time. Not a test: it takes minutes.
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
LOG_LINE = re.compile(r" (GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (\S+) -> (\d{3})  (\S+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_mock(port: int, log: Path, api: str) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "mock_server",
        "serve",
        "--port",
        str(port),
        "--api",
        api,
        "--strict",
        "--rate-limit",
        "off",
        "--seed",
        "3",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the mock did not start")


def auth_header(url: str, api: str) -> str:
    if api == "xp-ledger":
        creds = httpx.get(f"{url}/__mock__/credentials").json()["applications"][0]
        token = httpx.post(
            f"{url}/auth/1.0/token",
            data={"grant_type": "client_credentials"},
            auth=(creds["client_id"], creds["client_secret"]),
        ).json()["access_token"]
    else:
        token = httpx.post(f"{url}/api/auth/login", data={"username": "admin", "password": "admin-password"}).json()[
            "access_token"
        ]
    return f"Authorization: Bearer {token}"


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--max-examples", default="60")
    args.add_argument("--api", default="xentree", choices=("xentree", "xp-ledger"))
    opts = args.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = Path(f"/tmp/bench-fuzz-{port}.log")
    mock = start_mock(port, log, opts.api)
    started = time.monotonic()
    try:
        cmd = [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"openapi/{opts.api}.yaml",
            "--url",
            url,
            "--header",
            auth_header(url, opts.api),
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            opts.max_examples,
            "--seed",
            "1",
            "--no-color",
            "--exclude-operation-id",
            "logoutUser",
        ]
        run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    finally:
        mock.terminate()
        mock.wait(timeout=10)
    elapsed = time.monotonic() - started
    summary = run.stdout[run.stdout.rfind("SUMMARY") :] if "SUMMARY" in run.stdout else run.stdout[-3000:]
    cases = re.search(r"Test cases:\s*\n?\s*(\d[\d,]*) generated", summary) or re.search(
        r"(\d[\d,]*) generated", summary
    )
    statuses: Counter[int] = Counter()
    server_errors: list[str] = []
    for line in log.read_text(errors="replace").splitlines():
        match = LOG_LINE.search(line)
        if match:
            status = int(match.group(3))
            statuses[status // 100 * 100] += 1
            if status >= 500:
                server_errors.append(line)
    print(summary.strip())
    print()
    by_class = ", ".join(f"{k // 100}xx {v}" for k, v in sorted(statuses.items()))
    print(
        f"api {opts.api}: schemathesis exit {run.returncode}, {cases.group(1) if cases else '?'} test cases, "
        f"{sum(statuses.values())} requests answered ({by_class}), "
        f"{len(server_errors)} responses >= 500, {elapsed:.0f} s"
    )
    for line in server_errors[:20]:
        print("  ", line)
    return 0 if not server_errors and run.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
