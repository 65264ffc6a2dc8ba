"""The suite's own HTTP client for scenario tests: records every exchange, reproduces it as curl, honours 429s.

Every response goes past the observers (the run-wide rules on 401, 403 and 429 are checked there), so a scenario
cannot see a response the hygiene checks did not. Secrets are masked in reproductions unless asked otherwise.
"""

from __future__ import annotations

import json
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import requests
from schemathesis.config import SanitizationConfig

SECRET_HEADERS = ("authorization", "x-api-key", "cookie", "x-mock-admin-token")
_SANITIZATION = SanitizationConfig()  # Schemathesis's defaults: the same headers masked in its curls and in ours
SECRET_FIELDS = ("password", "refresh_token", "access_token", "token", "key")
MAX_RETRY_WAIT = 60.0
MAX_RETRIES = 3
FILTERED = "[Filtered]"


class TargetUnreachable(Exception):
    """The target did not answer at all (connection refused or reset, DNS failure, timeout). Carries the request
    that got no answer (as curl) and its operation, so the report can say which request preceded the outage."""

    def __init__(self, message: str, *, curl: str = "", operation: str | None = None, label: str = "") -> None:
        super().__init__(message)
        self.curl = curl
        self.operation = operation
        self.label = label


@dataclass
class Exchange:
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: bytes | None
    status: int
    headers: dict[str, str]  # lower-case names
    content: bytes
    elapsed: float
    operation: str | None = None
    sanitize: bool = field(default=True, repr=False)

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.content)
        except ValueError:
            return None

    @property
    def error_code(self) -> str | None:
        """The error code of an Error-shaped body: `detail.error` (Xentree) or a top-level `error` (XP ledger)."""
        body = self.json
        if not isinstance(body, dict):
            return None
        detail = body.get("detail")
        if isinstance(detail, dict):
            code = detail.get("error")
        else:
            code = body.get("error")
        return code if isinstance(code, str) else None

    def text(self, limit: int = 400) -> str:
        text = self.content.decode("utf-8", "replace")
        return text if len(text) <= limit else text[:limit] + "..."

    def summary(self) -> str:
        return f"{self.method} {self.url} -> {self.status} {self.text(200)}"

    def curl(self) -> str:
        parts = ["curl", "-X", self.method]
        for name, value in self.request_headers.items():
            if name.lower() in ("user-agent", "accept-encoding", "connection", "content-length", "accept"):
                continue
            shown = FILTERED if self.sanitize and secret_header(name) else value
            parts += ["-H", f"{name}: {shown}"]
        if self.request_body:
            parts += ["-d", masked_body(self.request_body, self.request_headers, self.sanitize)]
        parts.append(self.url)
        return " ".join(shlex.quote(p) for p in parts)


def secret_header(name: str) -> bool:
    """A header that may carry a credential: a known one, or one named like it (an API key in whatever header the
    spec's scheme names, e.g. `X-Partner-Key`), as Schemathesis's sanitization decides."""
    lowered = name.lower()
    return (
        lowered in SECRET_HEADERS
        or lowered in _SANITIZATION.keys_to_sanitize
        or any(marker in lowered for marker in _SANITIZATION.sensitive_markers)
    )


def masked_body(body: bytes, headers: dict[str, str], sanitize: bool) -> str:
    """A body as text with the secret fields (`SECRET_FIELDS`) of a JSON or form body filtered."""
    text = body.decode("utf-8", "replace")
    if not sanitize:
        return text
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if "json" in content_type:
        try:
            data = json.loads(text)
        except ValueError:
            return text
        if isinstance(data, dict):
            data = {k: FILTERED if k in SECRET_FIELDS else v for k, v in data.items()}
        return json.dumps(data)
    if "form-urlencoded" in content_type:
        from urllib.parse import parse_qsl

        pairs = [(k, FILTERED if k in SECRET_FIELDS else v) for k, v in parse_qsl(text, keep_blank_values=True)]
        return urlencode(pairs)
    return text


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), or None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class Pacer:
    """`--rate-limit`: `auto` waits out 429s per Retry-After; `N/s|m|h` also spaces requests; `off` does neither."""

    def __init__(self, spec: str) -> None:
        self.interval = 0.0
        self.honour_retry_after = spec != "off"
        if spec not in ("auto", "off"):
            count, _, unit = spec.partition("/")
            seconds = {"s": 1, "m": 60, "h": 3600}.get(unit)
            if not count.isdigit() or int(count) < 1 or seconds is None:
                raise ValueError(f"--rate-limit: expected auto, off or N/s|m|h (e.g. 100/m), got {spec!r}")
            self.interval = seconds / int(count)
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            time.sleep(delay)


Observer = Callable[[Exchange], None]


class Client:
    def __init__(
        self,
        base_url: str,
        *,
        pacer: Pacer | None = None,
        timeout: float = 10.0,
        sanitize: bool = True,
        tls_verify: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.verify = tls_verify
        self.pacer = pacer or Pacer("auto")
        self.timeout = timeout
        self.sanitize = sanitize
        self.observers: list[Observer] = []
        self.count = 0

    def close(self) -> None:
        self.session.close()

    def observe(self, exchange: Exchange) -> None:
        """Show an exchange sent with `observe=False` to the observers after all (e.g. the one 429 of a burst)."""
        for observer in list(self.observers):
            observer(exchange)

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
        form: dict[str, Any] | None = None,
        files: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        operation: str | None = None,
        wait_on_429: bool = True,
        observe: bool = True,
    ) -> Exchange:
        retries = MAX_RETRIES
        while True:
            exchange = self._send(method, path, headers, json_body, form, files, params, operation)
            for observer in list(self.observers) if observe else []:
                observer(exchange)
            delay = retry_after_seconds(exchange.headers.get("retry-after"))
            rate_limited = exchange.status == 429 and exchange.error_code != "live_quota_exceeded"
            if not (rate_limited and wait_on_429 and self.pacer.honour_retry_after and delay is not None and retries):
                return exchange
            retries -= 1
            time.sleep(min(delay, MAX_RETRY_WAIT))

    def _send(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None,
        json_body: Any,
        form: dict[str, Any] | None,
        files: dict[str, Any] | None,
        params: dict[str, Any] | None,
        operation: str | None,
    ) -> Exchange:
        self.pacer.wait()
        url = self.base_url + path
        # `verify` on every request: a session-level `verify=False` loses to REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in
        # the environment (requests merges them over the session's; psf/requests#3829), as set on many CI machines.
        kwargs: dict[str, Any] = {
            "headers": headers or {},
            "params": params,
            "timeout": self.timeout,
            "verify": self.session.verify,
        }
        if files is not None:
            kwargs["files"] = files
            kwargs["data"] = form
        elif form is not None:
            kwargs["data"] = form
        elif json_body is not None:
            kwargs["json"] = json_body
        try:
            response = self.session.request(method, url, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TargetUnreachable(
                f"{method} {url}: {type(exc).__name__}: {exc}",
                curl=self._curl_of(exc),
                operation=operation,
                label=f"{method} {url}",
            ) from exc
        self.count += 1
        prepared = response.request
        body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
        return Exchange(
            method=method,
            url=prepared.url or url,
            request_headers=dict(prepared.headers),
            request_body=body,
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            content=response.content,
            elapsed=response.elapsed.total_seconds(),
            operation=operation,
            sanitize=self.sanitize,
        )

    def _curl_of(self, exc: requests.RequestException) -> str:
        """The unanswered request as curl (secrets masked like every reproduction)."""
        prepared = exc.request if isinstance(exc.request, requests.PreparedRequest) else None
        if prepared is None:
            return ""
        body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
        unanswered = Exchange(
            prepared.method or "GET",
            prepared.url or "",
            dict(prepared.headers),
            body if isinstance(body, bytes) else None,
            0,
            {},
            b"",
            0.0,
            sanitize=self.sanitize,
        )
        return unanswered.curl()


def reachable(base_url: str, timeout: float = 5.0, tls_verify: bool = True) -> str | None:
    """None when the target answers HTTP at all (any status), else why not."""
    try:
        requests.get(base_url.rstrip("/") + "/", timeout=timeout, verify=tls_verify, allow_redirects=False)
    except requests.RequestException as exc:
        return f"{type(exc).__name__}: {exc}"
    return None
