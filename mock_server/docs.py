"""The spec as served files (`/openapi.yaml`, `/openapi.json`) and interactive docs at `/docs` that work offline.

Swagger UI comes from the `swagger-ui-bundle-v2` wheel (Swagger UI 5, which renders OpenAPI 3.1); no CDN.

The page's inline script gets its values as JSON made safe for a `<script>` element (`script_json`), never
HTML-escaped: `html.escape` inside a script turns `"` into `&quot;`, a JavaScript syntax error that left the page blank.
Only the title, in HTML context, is HTML-escaped. The `requestInterceptor` sends "Try it out" and Authorize requests
aimed at any of the spec's server URLs to the page's own origin, so the docs always call the mock that serves them.
"""

from __future__ import annotations

import html
import json

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from mock_server.spec import Spec

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · mock docs</title>
<link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png">
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{url: {spec_url}, dom_id: "#swagger-ui", deepLinking: true,
  persistAuthorization: true, displayRequestDuration: true, tryItOutEnabled: true,
  requestInterceptor: (req) => {{ if ({servers}.some((s) => req.url.startsWith(s))) {{
    const u = new URL(req.url); req.url = window.location.origin + u.pathname + u.search; }} return req; }} }});
</script></body></html>"""


SCRIPT_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


def script_json(value: object) -> str:
    """JSON that can sit inside an inline `<script>`: `<`, `>` and `&` become `\\u003c`, `\\u003e`, `\\u0026` (the same
    value to JavaScript), so no string can close the element (`</script>`) or open a comment (`<!--`). `json.dumps`
    escapes every non-ASCII character already (U+2028 and U+2029 included)."""
    text = json.dumps(value)
    for char, escaped in SCRIPT_ESCAPES.items():
        text = text.replace(char, escaped)
    return text


def docs_page_html(spec: Spec, prefix: str) -> str:
    """The Swagger UI page for one API: the title in HTML context, the spec URL and server list in script context."""
    servers = [s["url"] for s in spec.raw.get("servers", []) if isinstance(s, dict) and "url" in s]
    return PAGE.format(
        title=html.escape(spec.title), spec_url=script_json(f"{prefix}/openapi.json"), servers=script_json(servers)
    )


def _spec_routes(spec: Spec, prefix: str) -> list[BaseRoute]:
    """`{prefix}/openapi.yaml`, `{prefix}/openapi.json` and `{prefix}/docs` for one API."""
    page = docs_page_html(spec, prefix)
    yaml_body, json_body = spec.yaml_text.encode(), spec.json_text.encode()

    async def openapi_yaml(request: Request) -> Response:
        return Response(yaml_body, media_type="application/yaml")

    async def openapi_json(request: Request) -> Response:
        return Response(json_body, media_type="application/json")

    async def docs_page(request: Request) -> Response:
        return HTMLResponse(page)

    return [
        Route(f"{prefix}/openapi.yaml", openapi_yaml, include_in_schema=False),
        Route(f"{prefix}/openapi.json", openapi_json, include_in_schema=False),
        Route(f"{prefix}/docs", docs_page, include_in_schema=False),
    ]


def routes(specs: list[Spec]) -> list[BaseRoute]:
    """The primary (first) API at the root; every API also under `/<name>/` when several are served."""

    async def docs_redirect(request: Request) -> Response:
        return RedirectResponse("/docs")

    served = _spec_routes(specs[0], "")
    if len(specs) > 1:
        served += [route for spec in specs for route in _spec_routes(spec, f"/{spec.name}")]
    return [
        *served,
        Route("/", docs_redirect, include_in_schema=False),
        Mount("/docs/static", app=StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui"),
    ]
