"""Benchmark the hot reads (not a test): the mock against bare Starlette and Stoplight Prism, in one run.

    .venv/bin/python bench/bench_reads.py [--duration 5] [--connections 32] [--history-days 7300]

wrk (2 threads, 32 connections; installed with apt-get when missing and running as root) measures, each server in
its own process, one after the other on the same cores:
- bare Starlette + uvicorn (one JSON route, same uvicorn as the mock),
- Stoplight Prism (PRISM_VERSION, installed into .tools/prism by this script) mocking openapi/xentree.yaml,
- the mock (`--rate-limit off --quiet`) as the demo user, and as a learner with `--history-days` of history from a
  fixture file (`history_days`),
on /api/auth/me, /api/xp/profile, /api/xp/quests, /api/xp/learning-pulse and /api/core/conversations. Also the
startup time (process start to the first /api/health answer, best of 3) and the RSS of the default world. Startup
is measured with the mock's bytecode compiled (`__pycache__`, what Python writes on a first run and pip at install),
and, when the checkout had none (PYTHONDONTWRITEBYTECODE=1), also from source; folders it compiled are removed.
Targets: every read of the demo user >= 3x Prism and >= 50% of bare Starlette; the long-history user within 1.5x of
the demo user on every XP view; startup < 1 s; RSS < 150 MB. Prints Markdown tables for the README.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench_mock import free_port, wait_ready  # noqa: E402

PRISM_VERSION = "5.14.2"
PRISM = ROOT / ".tools" / "prism" / "node_modules" / ".bin" / "prism"
PATHS = ("/api/auth/me", "/api/xp/profile", "/api/xp/quests", "/api/xp/learning-pulse", "/api/core/conversations")
XP_VIEWS = PATHS[1:4]
BARE = r"""
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def bare(request):
    return JSONResponse({"status": "ok"})

app = Starlette(routes=[Route("/bare", bare)])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""
VETERAN = """\
users:
  - {username: veteran, email: veteran@xentree.test, password: veteran-password, full_name: Vera Veteran,
     timezone: Europe/Berlin, plan: pro, history_days: %d}
"""


def ensure_tools() -> None:
    if shutil.which("wrk") is None:
        if os.geteuid() != 0:
            raise SystemExit("wrk is not installed (apt-get install wrk)")
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, stdout=subprocess.DEVNULL)
    if not PRISM.exists():
        subprocess.run(
            [
                "npm",
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(PRISM.parents[2]),
                f"@stoplight/prism-cli@{PRISM_VERSION}",
            ],
            check=True,
        )


def wrk(url: str, duration: int, connections: int, headers: list[str]) -> dict[str, float]:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", *sum((["-H", h] for h in headers), [])]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", out)
    assert p99, out
    return {
        "rps": rps,
        "p99_ms": float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)],
        "non_2xx": int(bad.group(1)) if bad else 0,
    }


@contextmanager
def process(cmd: list[str], ready: str, timeout: float = 60) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(ready, timeout)
        yield proc
    finally:
        proc.terminate()
        proc.wait()


def mock_cmd(port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mock_server", "serve", "--port", str(port), "--rate-limit", "off", "--quiet", *extra]


def login(base: str, username: str) -> str:
    body = f"username={username}&password={username}-password".encode()
    with urllib.request.urlopen(urllib.request.Request(f"{base}/api/auth/login", data=body)) as response:
        return json.load(response)["access_token"]


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


def bytecode_dirs() -> list[Path]:
    return sorted((ROOT / "mock_server").rglob("__pycache__"))


def startup_seconds(*extra: str, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        port = free_port()
        start = time.perf_counter()
        with process(mock_cmd(port, *extra), f"http://127.0.0.1:{port}/api/health"):
            times.append(time.perf_counter() - start)
    return min(times)


def measure_mock(label: str, extra: list[str], username: str, d: int, c: int) -> tuple[dict[str, dict], float, float]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with process(mock_cmd(port, *extra), f"{base}/api/health") as proc:
        idle = rss_mb(proc.pid)
        auth = [f"Authorization: Bearer {login(base, username)}"]
        wrk(f"{base}/api/auth/me", 1, c, auth)  # warm-up
        rows = {path: wrk(f"{base}{path}", d, c, auth) for path in PATHS}
        peak = rss_mb(proc.pid, "VmHWM")
    print(f"  {label}: done", file=sys.stderr)
    return rows, idle, peak


def main() -> int:
    args = argparse.ArgumentParser()
    args.add_argument("--duration", type=int, default=5)
    args.add_argument("--connections", type=int, default=32)
    args.add_argument("--history-days", type=int, default=7300)
    opts = args.parse_args()
    d, c = opts.duration, opts.connections
    ensure_tools()
    had_bytecode = bytecode_dirs()
    startup_source = None if had_bytecode else startup_seconds()
    compileall.compile_dir(str(ROOT / "mock_server"), quiet=1)
    startup = startup_seconds()
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fixture:
        fixture.write(VETERAN % opts.history_days)
    startup_long = startup_seconds("--fixture", fixture.name, runs=1)

    port = free_port()
    with process([sys.executable, "-c", BARE, str(port)], f"http://127.0.0.1:{port}/bare"):
        wrk(f"http://127.0.0.1:{port}/bare", 1, c, [])
        bare = wrk(f"http://127.0.0.1:{port}/bare", d, c, [])
    port = free_port()
    prism_cmd = [
        str(PRISM),
        "mock",
        "openapi/xentree.yaml",
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--errors",
        "false",
    ]
    with process(prism_cmd, f"http://127.0.0.1:{port}/api/health", timeout=120):
        auth = ["Authorization: Bearer prism-accepts-any-token"]
        wrk(f"http://127.0.0.1:{port}/api/auth/me", 1, c, auth)
        prism = {path: wrk(f"http://127.0.0.1:{port}{path}", d, c, auth) for path in PATHS}
    demo, idle_rss, peak_rss = measure_mock("demo", [], "demo", d, c)
    long, _, long_peak = measure_mock(f"{opts.history_days}-day user", ["--fixture", fixture.name], "veteran", d, c)
    os.unlink(fixture.name)
    for folder in set(bytecode_dirs()) - set(had_bytecode):
        shutil.rmtree(folder)

    years = opts.history_days / 365.25
    print(f"wrk -t2 -c{c} -d{d}s; bare Starlette + uvicorn: {bare['rps']:,.0f} req/s (p99 {bare['p99_ms']:.2f} ms)\n")
    print(
        f"| endpoint | Prism {PRISM_VERSION} | mock, demo | × Prism | % of bare | mock, {years:.0f}-year user "
        "| demo ÷ long | p99 ms demo / long | non-2xx |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    verdicts = []
    for path in PATHS:
        p, m, h = prism[path], demo[path], long[path]
        ratio = m["rps"] / h["rps"]
        print(
            f"| `{path}` | {p['rps']:,.0f} | {m['rps']:,.0f} | {m['rps'] / p['rps']:.1f}× | "
            f"{100 * m['rps'] / bare['rps']:.0f}% | {h['rps']:,.0f} | {ratio:.2f} | {m['p99_ms']:.2f} / "
            f"{h['p99_ms']:.2f} | {m['non_2xx'] + h['non_2xx']} |"
        )
        verdicts.append((f"{path} demo >= 3x Prism", m["rps"] >= 3 * p["rps"]))
        verdicts.append((f"{path} demo >= 50% of bare", m["rps"] >= 0.5 * bare["rps"]))
        if path in XP_VIEWS:
            verdicts.append((f"{path} long-history user within 1.5x of demo", ratio <= 1.5))
    verdicts += [("startup < 1 s", startup < 1), ("RSS of the default world < 150 MB", peak_rss < 150)]
    print(
        f"\n| what | figure |\n|---|---|\n| startup, default world (best of 3, bytecode compiled) | {startup:.2f} s |\n"
        + (
            f"| startup, default world, from source (no bytecode) | {startup_source:.2f} s |\n"
            if startup_source
            else ""
        )
        + f"| startup, {years:.0f}-year user | {startup_long:.2f} s |\n| RSS default world: idle / peak during the run "
        f"| {idle_rss:.0f} MB / {peak_rss:.0f} MB |\n| RSS peak, {years:.0f}-year world | {long_peak:.0f} MB |\n"
    )
    for name, ok in verdicts:
        print(f"- {'met' if ok else 'MISSED'}: {name}")
    return 0 if all(ok for _, ok in verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
