"""HTTP calls from the tests to the servers they start, all over one TLS context.

httpx's top-level functions (`httpx.get`, ...) and every new `httpx.Client` build a TLS context first, reading and
parsing the whole CA bundle (~30 ms of CPU here), even for an http:// URL; the suite made ~300 such calls. These
take the one context built here, so a call costs what the request costs. Certificates are verified as httpx's
defaults verify them (tests/test_tls.py, which is about TLS, builds its own).
"""

from __future__ import annotations

from typing import Any

import httpx

TLS = httpx.create_ssl_context()


def get(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(url, verify=TLS, **kwargs)


def post(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(url, verify=TLS, **kwargs)


def put(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.put(url, verify=TLS, **kwargs)


def delete(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.delete(url, verify=TLS, **kwargs)


def client(**kwargs: Any) -> httpx.Client:
    return httpx.Client(verify=TLS, **kwargs)
