"""Peak RSS of a real mock process under a stream of oversized chunked bodies (issue 12: memory never grows past the
body limit). Not a test: prints figures.

    .venv/bin/python bench/bench_hostile.py                 # 2 parallel x 300 MiB to the public login, then control
    .venv/bin/python bench/bench_hostile.py --mib 64 --rounds 5 --parallel 4
    .venv/bin/python bench/bench_hostile.py --tree /tmp/old # the same against another checkout (before/after)

Each request is `Transfer-Encoding: chunked` with no Content-Length. The sender behaves like an attacker: it keeps
sending the whole body even after the 413 arrives (stopping only if the server closes the connection), so the
server has to read and drop what it refused. RSS is sampled from /proc/<pid>/status every 5 ms.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
FRAME_BYTES = 64 * 1024
TARGETS = [("/api/auth/login", "application/x-www-form-urlencoded"), ("/__mock__/reset", "application/json")]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tree: Path, port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "mock_server", "serve", "--port", str(port), "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start")


def flood(port: int, path: str, content_type: str, total: int) -> tuple[str, int]:
    """Send `total` bytes chunked, whatever the server answers; returns (status line, bytes sent)."""
    frame = f"{FRAME_BYTES:x}\r\n".encode() + b"a" * FRAME_BYTES + b"\r\n"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        try:
            sock.sendall(head)
            while sent < total:
                sock.sendall(frame)
                sent += FRAME_BYTES
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # closed by the server
        try:
            answer = sock.recv(4096).split(b"\r\n")[0].decode(errors="replace")
        except OSError as exc:
            answer = f"({type(exc).__name__})"
    return answer, sent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tree", type=Path, default=ROOT, help="checkout whose mock_server to run (default: this one)")
    p.add_argument("--mib", type=int, default=300, help="size of each body in MiB")
    p.add_argument("--parallel", type=int, default=2, help="bodies sent at once")
    p.add_argument("--rounds", type=int, default=1, help="rounds per target")
    args = p.parse_args()

    port = free_port()
    proc = start(args.tree, port)
    httpx.post(f"http://127.0.0.1:{port}/api/auth/login", data={"username": "demo", "password": "x"})
    idle = rss_mib(proc.pid)
    peak = idle
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mib(proc.pid))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    results: list[tuple[str, int]] = []

    def send(path: str, content_type: str) -> None:
        results.append(flood(port, path, content_type, args.mib * 1024 * 1024))

    try:
        for path, content_type in TARGETS:
            for _ in range(args.rounds):
                threads = [threading.Thread(target=send, args=(path, content_type)) for _ in range(args.parallel)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
        elapsed = time.perf_counter() - started
        after = rss_mib(proc.pid)
        healthy = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=10).status_code
    finally:
        done.set()
        sampler.join()
        proc.terminate()
        proc.wait(10)
    sent = sum(n for _, n in results)
    statuses = sorted({s for s, _ in results})
    print(f"tree      {args.tree}")
    print(
        f"requests  {len(results)} chunked bodies of {args.mib} MiB ({args.parallel} at a time) to "
        f"{', '.join(t for t, _ in TARGETS)}; {sent / 2**20:.0f} MiB sent in {elapsed:.1f} s"
    )
    print(f"answers   {', '.join(statuses)}")
    print(
        f"RSS       idle {idle:.1f} MiB, peak {peak:.1f} MiB (+{peak - idle:.1f}), after {after:.1f} MiB; "
        f"health afterwards {healthy}"
    )


if __name__ == "__main__":
    main()
