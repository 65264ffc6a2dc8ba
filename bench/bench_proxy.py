"""Benchmark the validating proxy (not a test): what `xentree-contract proxy` adds to an authenticated GET.

    .venv/bin/python bench/bench_proxy.py [--requests 2000] [--duration 10] [--connections 32]

The mock (`--rate-limit off --quiet`) and the proxy in front of it (`--no-report`, checking every exchange) run as
their own processes on loopback. Added latency: one keep-alive client sends `GET /api/auth/me` with a bearer token
`--requests` times directly and as many times through the proxy, interleaved, and compares the p50 and p99 of each.
Throughput: wrk (2 threads, `--connections`) against each for `--duration` seconds, or, without wrk, as many httpx
threads. New connections: the proxy's CPU time for 300 requests that each open their own connection (every new
downstream connection gets its own upstream transport). Target (issue 17): p50 overhead < 2 ms. Prints a Markdown
table for the README.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench_mock import free_port, wait_ready, wrk  # noqa: E402

PATH = "/api/auth/me"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def latencies(direct: str, proxied: str, token: str, count: int) -> dict[str, list[float]]:
    """Milliseconds per request, one keep-alive connection each, direct and proxied requests interleaved."""
    found: dict[str, list[float]] = {"direct": [], "proxy": []}
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(headers=headers) as a, httpx.Client(headers=headers) as b:
        for _ in range(200):  # warm-up
            a.get(direct + PATH)
            b.get(proxied + PATH)
        for _ in range(count):
            for name, client, base in (("direct", a, direct), ("proxy", b, proxied)):
                start = time.perf_counter()
                response = client.get(base + PATH)
                found[name].append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, response.text
    return found


def threaded_rps(url: str, token: str, seconds: float, threads: int) -> float:
    """Requests/s with `threads` keep-alive httpx clients (when wrk is missing)."""
    done = [0] * threads
    stop = time.monotonic() + seconds

    def worker(i: int) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as client:
            while time.monotonic() < stop:
                client.get(url)
                done[i] += 1

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(done) / seconds


def process_cpu(pid: int) -> float:
    """User plus system CPU seconds of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def new_connection_cpu(port: int, pid: int, count: int = 300) -> float:
    """The proxy's CPU milliseconds per request when each request opens (and closes) its own connection."""
    before = process_cpu(pid)
    for _ in range(count):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/api/health")
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status
        connection.close()
    return (process_cpu(pid) - before) / count * 1000


def main() -> int:
    args = argparse.ArgumentParser()
    args.add_argument("--requests", type=int, default=2000)
    args.add_argument("--duration", type=int, default=10)
    args.add_argument("--connections", type=int, default=32)
    opts = args.parse_args()
    mock_port, proxy_port = free_port(), free_port()
    direct, proxied = f"http://127.0.0.1:{mock_port}", f"http://127.0.0.1:{proxy_port}"
    mock_cmd = [
        sys.executable,
        "-m",
        "mock_server",
        "serve",
        "--port",
        str(mock_port),
        "--quiet",
        "--rate-limit",
        "off",
    ]
    proxy_cmd = [sys.executable, "-m", "contract_tests", "proxy", "--upstream", direct, "--port", str(proxy_port)]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": ROOT}
    mock = subprocess.Popen(mock_cmd, **quiet)  # type: ignore[call-overload]
    proxy = None
    try:
        wait_ready(direct + "/api/health", timeout=60)
        proxy = subprocess.Popen([*proxy_cmd, "--no-report"], **quiet)  # type: ignore[call-overload]
        startup = wait_ready(proxied + "/api/health", timeout=60)
        login = httpx.post(direct + "/api/auth/login", data={"username": "demo", "password": "demo-password"})
        token = json.loads(login.content)["access_token"]
        found = latencies(direct, proxied, token, opts.requests)
        per_connection = new_connection_cpu(proxy_port, proxy.pid)
        auth = [f"Authorization: Bearer {token}"]
        if shutil.which("wrk"):
            tool = f"wrk -t2 -c{opts.connections} -d{opts.duration}s"
            rps = {
                name: wrk(base + PATH, opts.duration, opts.connections, auth)["rps"]
                for name, base in (("direct", direct), ("proxy", proxied))
            }
        else:
            tool = f"{opts.connections} httpx threads, {opts.duration} s"
            rps = {
                name: threaded_rps(base + PATH, token, opts.duration, opts.connections)
                for name, base in (("direct", direct), ("proxy", proxied))
            }
    finally:
        for proc in (proxy, mock):
            if proc is not None:
                proc.terminate()
                proc.wait()
    p50 = {k: statistics.median(v) for k, v in found.items()}
    p99 = {k: percentile(v, 99) for k, v in found.items()}
    print(f"proxy startup (process start to first answer): {startup:.2f} s; {opts.requests} sequential requests each")
    print(f"throughput: {tool}\n")
    print("| authenticated GET /api/auth/me | p50 ms | p99 ms | req/s |")
    print("|---|---:|---:|---:|")
    for name in ("direct", "proxy"):
        print(f"| {name} | {p50[name]:.2f} | {p99[name]:.2f} | {rps[name]:,.0f} |")
    added50, added99 = p50["proxy"] - p50["direct"], p99["proxy"] - p99["direct"]
    share = 100 * rps["proxy"] / rps["direct"]
    print(f"| **added by the proxy** | **{added50:.2f}** | **{added99:.2f}** | {share:.0f}% of direct |")
    print(f"\nproxy CPU per request on a new connection (300 requests, GET /api/health): {per_connection:.1f} ms")
    print(f"\ntarget p50 overhead < 2 ms: {'met' if added50 < 2 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
