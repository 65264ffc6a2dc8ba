"""The dying target of tests/test_contract_resilience.py as its own light module: the strict mock app behind a
wrapper that kills the process with `os._exit` on its N-th request, before answering (the connection is reset like a
crashed server's). Started as `python -m tests.dying_mock serve ...`; it imports only the mock and uvicorn, not the
test module (pytest, the contract suite), so a target and its revival are up about half a second sooner."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

SET_UP = ("/api/auth/", "/openapi")  # requests a dying target does not count


def dying_app(die_after: int, record: Path, state: Path | None) -> Any:
    """The strict mock; its `die_after`-th HTTP request to the API proper (account set-up under /api/auth and the
    spec documents do not count, so the run always gets past its start) is written to `record` and the process
    exits unanswered."""
    from mock_server.app import Settings, create_app

    app = create_app(Settings(seed=0, strict=True, access_log=False, rate_limit="off", state=state))
    seen = {"count": 0}

    async def wrapper(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] != "/" and not scope["path"].startswith(SET_UP):
            seen["count"] += 1
            if 0 < die_after <= seen["count"]:
                record.write_text(json.dumps({"method": scope["method"], "path": scope["path"]}))
                os._exit(3)
        await app(scope, receive, send)

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--die-after", type=int, default=0, help="0: never")
    parser.add_argument("--record", type=Path, required=True)
    parser.add_argument("--state", type=Path)
    args = parser.parse_args()
    import uvicorn

    uvicorn.run(
        dying_app(args.die_after, args.record, args.state),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
