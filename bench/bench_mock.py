"""Benchmark the mock (not a test): startup time, and requests/s with p50/p99 latency for an authenticated GET and a
POST, beside a bare Starlette endpoint served by the same server process in the same run.

    .venv/bin/python bench/bench_mock.py [--duration 10] [--connections 32]

Needs `wrk` (Debian: apt-get install wrk). Targets on 2 cores: >= 10,000 authenticated GETs/s, >= 40% of the bare
endpoint's rate, startup with the full spec < 1 s. Prints a Markdown table for the README.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

SERVER = r"""
import sys, uvicorn
from starlette.responses import JSONResponse
from starlette.routing import Route
from mock_server.app import create_app
from mock_server.runtime import Settings

async def bare(request):
    return JSONResponse({"status": "ok"})

app = create_app(Settings(access_log=False, rate_limit="off"))
app.router.routes.insert(0, Route("/__bench__/bare", bare))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""

POST_LUA = """
wrk.method = "POST"
wrk.body = '{"title": "Benchmark note", "content": "Written by wrk", "tags": ["bench"]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, timeout: float = 20) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.perf_counter() - start
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"{url} not ready")


def startup_seconds(runs: int = 3) -> float:
    """Process start to first answered GET /api/health, through the real CLI."""
    times = []
    for _ in range(runs):
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "mock_server", "serve", "--port", str(port), "--quiet"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            times.append(wait_ready(f"http://127.0.0.1:{port}/api/health"))
        finally:
            proc.terminate()
            proc.wait()
    return min(times)


def wrk(url: str, duration: int, connections: int, headers: list[str], script: str | None = None) -> dict[str, float]:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", *sum((["-H", h] for h in headers), [])]
    if script:
        cmd += ["-s", script]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]

    return {"rps": rps, "p50_ms": pct("50"), "p99_ms": pct("99"), "non_2xx": int(non2xx.group(1)) if non2xx else 0}


def main() -> int:
    args = argparse.ArgumentParser()
    args.add_argument("--duration", type=int, default=10)
    args.add_argument("--connections", type=int, default=32)
    opts = args.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    startup = startup_seconds()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], cwd=Path(__file__).resolve().parent.parent)
    try:
        wait_ready(f"{base}/api/health")
        body = b"username=demo&password=demo-password"
        with urllib.request.urlopen(urllib.request.Request(f"{base}/api/auth/login", data=body)) as response:
            token = json.load(response)["access_token"]
        auth = [f"Authorization: Bearer {token}"]
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
            lua.write(POST_LUA % token)
        d, c = opts.duration, opts.connections
        wrk(f"{base}/__bench__/bare", 2, c, [])  # warm-up
        rows = {
            "bare Starlette GET /__bench__/bare": wrk(f"{base}/__bench__/bare", d, c, []),
            "authenticated GET /api/auth/me": wrk(f"{base}/api/auth/me", d, c, auth),
            "authenticated POST /api/core/notes": wrk(f"{base}/api/core/notes", d, c, auth, lua.name),
        }
    finally:
        proc.terminate()
        proc.wait()
    bare = rows["bare Starlette GET /__bench__/bare"]["rps"]
    print(f"startup (process start to first /api/health answer, best of 3): {startup:.2f} s\n")
    print("| endpoint | req/s | % of bare | p50 ms | p99 ms | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['rps']:,.0f} | {100 * r['rps'] / bare:.0f}% | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
            f"| {r['non_2xx']} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
