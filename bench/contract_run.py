"""Benchmark (not a test): wall time of a default contract run against the full mock.

    .venv/bin/python bench/contract_run.py [--repeat 1] [-- extra xentree-contract options]

Starts the mock (`xentree-mock serve --strict --rate-limit off`, or `--mock-rate-limit N/S`) on a free port, runs
`xentree-contract run --register --allow-destructive` with the default example count, and prints the time, the
verdict, the counts and the errors / warnings as a Markdown table for the README. Target: under 3 minutes on
2 cores. The cost of the rate-limit probe: `--mock-rate-limit 2000/3600 -- --probe-rate-limit`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/api/health", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"the mock at {url} did not start")


def one_run(extra: list[str], rate_limit: str = "off") -> dict[str, object]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve = [
        sys.executable,
        "-m",
        "mock_server",
        "serve",
        "--port",
        str(port),
        "--strict",
        "--quiet",
        "--rate-limit",
        rate_limit,
    ]
    mock = subprocess.Popen(serve, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(url)
        with tempfile.TemporaryDirectory() as reports:
            cmd = [
                sys.executable,
                "-m",
                "contract_tests",
                "run",
                "--base-url",
                url,
                "--register",
                "--allow-destructive",
                "--report-dir",
                reports,
                "--quiet",
                *extra,
            ]
            start = time.perf_counter()
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            seconds = time.perf_counter() - start
            report = json.loads((Path(reports) / "report.json").read_text())
    finally:
        mock.terminate()
        mock.wait(timeout=10)
    return {
        "seconds": seconds,
        "exit": done.returncode,
        "score": report["score"],
        "counts": report["counts"],
        "findings": report.get("findings", {"errors": "?", "warnings": "?"}),
        "max_examples": report["options"]["max_examples"],
        "tail": done.stdout.strip().splitlines()[0] if done.stdout.strip() else done.stderr[-500:],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--mock-rate-limit", default="off", help="the mock's --rate-limit (default off)")
    parser.add_argument("extra", nargs="*", help="extra xentree-contract options (after --)")
    args = parser.parse_args()
    runs = [one_run(args.extra, args.mock_rate_limit) for _ in range(args.repeat)]
    print(f"\nDefault contract run against the full mock ({os.cpu_count()} cores, Python {sys.version.split()[0]}):\n")
    print("| run | max examples | wall time | exit | score | passed / failed / errored / skipped | errors / warnings |")
    print("|---|---|---|---|---|---|---|")
    for i, run in enumerate(runs, 1):
        c: dict[str, int] = run["counts"]  # type: ignore[assignment]
        seconds: float = run["seconds"]  # type: ignore[assignment]
        f: dict[str, int] = run["findings"]  # type: ignore[assignment]
        print(
            f"| {i} | {run['max_examples']} | {seconds:.1f} s | {run['exit']} | {run['score']}% | "
            f"{c['passed']} / {c['failed']} / {c['errored']} / {c['skipped']} | {f['errors']} / {f['warnings']} |"
        )
    print(f"\nlast run: {runs[-1]['tail']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
