"""The Swagger UI page's inline script stays JavaScript whatever the spec's title and server URLs contain.

The attack: a spec whose server URL or title carries `</script><script>alert(1)</script>`, `<!--` or quotes. The safe
answer: the page has exactly its own two `<script>` elements, the title is HTML-escaped text, and the server list in
the script decodes (as JSON, which JavaScript reads the same way) back to the very strings of the spec. The page of
the real specs is checked the same way; tests/test_browser.py proves in Chromium that it renders.
"""

from __future__ import annotations

import json
import re

from starlette.applications import Starlette
from starlette.testclient import TestClient

from mock_server import docs
from mock_server.spec import Spec

HOSTILE = ["https://x.example/</script><script>alert(1)</script>", "http://y.example/<!--\"'&amp;", "http://z/\u2028"]


def page_of(spec: Spec) -> str:
    with TestClient(Starlette(routes=docs.routes([spec]))) as client:
        response = client.get("/docs")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    return response.text


def inline_script(page: str) -> str:
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, flags=re.DOTALL)
    assert [attrs for attrs, _ in scripts] == [' src="/docs/static/swagger-ui-bundle.js"', ""]  # no injected element
    return scripts[1][1]


def servers_literal(script: str) -> list[str]:
    match = re.search(r"if \((\[.*?\])\.some\(", script)
    assert match is not None, script
    return json.loads(match.group(1))


def test_hostile_server_urls_and_title_cannot_break_out_of_the_script() -> None:
    raw = {"info": {"title": "</title><script>alert(2)</script>"}, "servers": [{"url": u} for u in HOSTILE]}
    page = page_of(Spec(name="evil", raw=raw, operations=[], yaml_text="openapi: 3.1.0", json_text="{}"))
    script = inline_script(page)
    assert servers_literal(script) == HOSTILE
    assert "<" not in script.split("SwaggerUIBundle(", 1)[1]  # nothing the HTML parser could read as a tag
    assert "&lt;/title&gt;&lt;script&gt;alert(2)" in page.split("</title>", 1)[0]


def test_the_served_pages_carry_their_spec_url_and_servers(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    script = inline_script(client.get("/docs").text)
    assert servers_literal(script) == [s["url"] for s in spec["servers"]]
    assert 'url: "/openapi.json"' in script and "&quot;" not in script  # the bug: HTML entities inside the script
