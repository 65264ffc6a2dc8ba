"""`--har FILE`: every exchange the proxy forwarded, as an HTTP Archive (written by `harfile`, as Schemathesis does).

Secret headers and the secret fields of JSON and form bodies are masked like every reproduction of the suite,
unless `--show-secrets`. Bodies the proxy did not keep whole (over its validation bound) are recorded by size only.
"""

from __future__ import annotations

import base64
import threading
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qsl

import harfile

from contract_tests.http import FILTERED, SECRET_HEADERS, masked_body
from contract_tests.proxy.capture import Captured


def _records(headers: list[tuple[str, str]], sanitize: bool) -> list[harfile.Record]:
    return [
        harfile.Record(name=k, value=FILTERED if sanitize and k.lower() in SECRET_HEADERS else v) for k, v in headers
    ]


def _mime(headers: list[tuple[str, str]]) -> str:
    return next((v for k, v in headers if k.lower() == "content-type"), "")


def _content(body: bytes, size: int, truncated: bool, headers: list[tuple[str, str]]) -> harfile.Content:
    mime = _mime(headers)
    if truncated:
        return harfile.Content(size=size, mimeType=mime, comment=f"body of {size} bytes not kept")
    try:
        return harfile.Content(size=size, mimeType=mime, text=body.decode("utf-8"))
    except UnicodeDecodeError:
        return harfile.Content(size=size, mimeType=mime, text=base64.b64encode(body).decode(), encoding="base64")


class HarRecorder:
    def __init__(self, path: Path, sanitize: bool = True) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.har = harfile.open(path, creator=harfile.Creator(name="xentree-contract proxy", version="1"))
        self.sanitize = sanitize
        self.lock = threading.Lock()

    def add(self, captured: Captured, url: str) -> None:
        post = None
        if captured.request_size:
            text = (
                None
                if captured.request_truncated
                else masked_body(captured.request_body, dict(captured.request_headers), self.sanitize)
            )
            post = harfile.PostData(mimeType=_mime(captured.request_headers), text=text)
        request = harfile.Request(
            method=captured.method,
            url=url,
            httpVersion="HTTP/1.1",
            headers=_records(captured.request_headers, self.sanitize),
            queryString=[harfile.Record(name=k, value=v) for k, v in parse_qsl(captured.query, True)],
            postData=post,
            bodySize=captured.request_size,
        )
        try:
            reason = HTTPStatus(captured.status).phrase
        except ValueError:
            reason = ""
        response = harfile.Response(
            status=captured.status,
            statusText=reason,
            httpVersion="HTTP/1.1",
            headers=_records(captured.response_headers, self.sanitize),
            content=_content(
                captured.response_body, captured.response_size, captured.response_truncated, captured.response_headers
            ),
            bodySize=captured.response_size,
            comment=captured.upstream_error
            or (f"--enforce answered 502: {captured.enforced}" if captured.enforced else None),
        )
        elapsed = round(captured.elapsed * 1000, 3)
        with self.lock:
            self.har.add_entry(
                startedDateTime=datetime.fromtimestamp(captured.started, UTC),
                time=elapsed,
                request=request,
                response=response,
                timings=harfile.Timings(send=0, wait=elapsed, receive=0),
            )

    def close(self) -> None:
        with self.lock:
            self.har.close()
