"""The control API under /__mock__/ (kept out of the public spec): reset, fixtures, state, clock, faults, journal and
the run-time knobs domains expose (`/__mock__/settings`, registered with `domains.setting`). Each view validates its
input and calls one method of the running mock (mock_server.runtime); none changes the mock's parts directly.

Who may drive it (checked in this order, every refusal in the primary API's Error shape):
- the caller is on loopback, or sends `X-Mock-Admin-Token` equal to `--admin-token` (compared in constant time);
  else 403 `control_forbidden`;
- the `Host` header names the mock: a loopback name (localhost, 127.0.0.1, ::1), an IP address literal, the address
  the connection arrived at, `--host`, or a name given with `--control-hosts`; else 403 `control_host_refused`. This
  stops DNS rebinding (a page on evil.example whose name now resolves to 127.0.0.1 sends `Host: evil.example`). Only
  /__mock__ is checked: the public API is a mock meant to be called from anywhere, and CORS governs it;
- an `Origin` header, when present, is the mock's own origin (scheme://Host of the request) or one given with
  `--control-origins`; else 403 `control_origin_refused`. Browsers send `Origin` with every cross-origin request and
  with every POST, so no other web page can drive the controls, with or without CORS preflight;
- POST, PUT and DELETE with a body need `Content-Type: application/json`, and `text/plain`, form and multipart types
  are refused even without one: 415 `unsupported_media_type`. These are the types a web page can send without a
  preflight (a `text/plain` POST /__mock__/reset once wiped a --state file).
Every input is validated by a JSON Schema compiled at import (bounded integers, booleans are not integers, finite
bounded durations, no unknown fields): 400 in the Error shape. Bodies have the engine's limits (1 MiB while reading,
JSON depth 64).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mock_server.clock import parse_instant
from mock_server.errors import ApiError, bad_request, forbidden
from mock_server.pipeline import Fault
from mock_server.runtime import ClockRangeError, Mock
from mock_server.security import LOOPBACK_HOSTS
from mock_server.spec import compile_schema
from mock_server.validation import check, coerce, parse_json, read_limited

UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}
MAX_ADVANCE_SECONDS = 100 * 366 * 86400  # a century: far enough for any test, far from datetime's year 9999
STATE_CHANGING = {"POST", "PUT", "DELETE", "PATCH"}
View = Callable[[Request, Mock], Awaitable[Any]]


def _object(properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> Draft202012Validator:
    """A closed object schema: unknown fields are mistakes (a typo'd `seeed` must not be silently ignored)."""
    schema = {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}
    return compile_schema({**schema, **extra})


def _limit(maximum: int) -> Draft202012Validator:
    return _object({"limit": {"type": "integer", "minimum": 0, "maximum": maximum}})


INSTANT = {"type": "string", "minLength": 1, "maxLength": 64}
RESET = _object(
    {
        "seed": {"type": "integer", "minimum": 0, "maximum": 2**53 - 1},  # exact in every JSON client
        "fixture": {"type": "string", "minLength": 1, "maxLength": 4096},
    }
)
FREEZE, SET = _object({"at": INSTANT}), _object({"at": INSTANT}, ("at",))
# Either direction: a negative amount moves the clock back (a test replaying "yesterday").
ADVANCE = _object(
    {
        unit: {"type": "number", "minimum": -(MAX_ADVANCE_SECONDS // factor), "maximum": MAX_ADVANCE_SECONDS // factor}
        for unit, factor in UNITS.items()
    },
    minProperties=1,
)
FAULT = _object(
    {
        "latency_ms": {"type": "integer", "minimum": 0, "maximum": 60_000},
        "error_rate": {"type": "number", "minimum": 0, "maximum": 1},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
    }
)
KNOB = _object({"value": {}}, ("value",))
NO_QUERY, STATE_QUERY, JOURNAL_QUERY = _object({}), _limit(10_000), _limit(100_000)


def _guard(view: View, query: Draft202012Validator = NO_QUERY) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        mock: Mock = request.app.state.mock
        try:
            _admitted(request, mock)
            _check_query(request, query)
            result = await view(request, mock)
        except ApiError as exc:
            return JSONResponse(exc.body(mock.spec.error_shape), status_code=exc.status)  # the primary API's shape
        return result if isinstance(result, Response) else JSONResponse(result)

    return endpoint


def _admitted(request: Request, mock: Mock) -> None:
    """The refusals of the module docstring, in its order."""
    settings = mock.settings
    token = settings.admin_token
    sent = request.headers.get("x-mock-admin-token", "")
    peer = request.client.host if request.client else ""
    # Bytes, not str: compare_digest refuses non-ASCII str, and a header may hold any latin-1 character.
    if peer not in LOOPBACK_HOSTS and not (token and hmac.compare_digest(sent.encode("latin-1"), token.encode())):
        raise forbidden("The mock control API is for loopback callers or X-Mock-Admin-Token", "control_forbidden")
    host = request.headers.get("host", "")
    server = request.scope.get("server") or ("", None)
    served = {*LOOPBACK_HOSTS, settings.host, str(server[0]), *settings.control_hosts}
    if host and not _serves(_host_name(host), {name.lower().rstrip(".") for name in served}):
        raise forbidden(
            f"Host {host[:100]!a} is not a name this mock serves; add it with --control-hosts", "control_host_refused"
        )
    origin = request.headers.get("origin")
    if origin is not None:
        allowed = {f"{request.url.scheme}://{host}".lower(), *(o.lower().rstrip("/") for o in settings.control_origins)}
        if origin.lower().rstrip("/") not in allowed:
            raise forbidden(
                f"Origin {origin[:100]!a} may not drive the mock control API; add it with --control-origins",
                "control_origin_refused",
            )
    if request.method in STATE_CHANGING:
        declared = request.headers.get("content-type")
        has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
        media = (declared or "").split(";")[0].strip().lower()
        if (declared is not None or has_body) and media != "application/json":
            shown = ascii((declared or "(none)")[:100])
            raise ApiError(
                415, "unsupported_media_type", f"Control requests with a body must be application/json, not {shown}"
            )


def _host_name(host: str) -> str:
    """The name in a Host header, without its port (`[::1]:4010` → `::1`, `localhost.:80` → `localhost`)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return (host.rsplit(":", 1)[0] if host.count(":") == 1 else host).rstrip(".")


def _serves(name: str, served: set[str]) -> bool:
    """A served name, or an IP literal: rebinding needs a DNS name, and an address is the mock's own by routing."""
    if name in served:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _check_query(request: Request, validator: Draft202012Validator) -> None:
    schema = validator.schema
    props = schema.get("properties", {}) if isinstance(schema, dict) else {}
    values = {key: coerce(value, props.get(key, {})) for key, value in request.query_params.items()}
    check(validator, values, "query")


async def _json(request: Request, validator: Draft202012Validator) -> dict[str, Any]:
    """The body as a JSON object valid for `validator` (no body is `{}`), within the engine's body limits."""
    raw = await read_limited(request)
    data = parse_json(raw) if raw else {}
    check(validator, data, "body")
    return data


async def index(request: Request, mock: Mock) -> Any:
    controls = [f"{', '.join(sorted(r.methods or []))} {r.path}" for r in routes() if isinstance(r, Route)]
    return {**mock.describe(), "controls": controls}


async def reset(request: Request, mock: Mock) -> Any:
    body = await _json(request, RESET)
    seed = int(body["seed"]) if "seed" in body else None  # JSON Schema counts 5.0 as an integer; Python must not
    mock.reset(fixture=body.get("fixture"), seed=seed)
    return {"reset": True, "seed": mock.settings.seed, "fixture": mock.settings.fixture, "state": mock.table_counts()}


async def list_fixtures(request: Request, mock: Mock) -> Any:
    return mock.fixture_sets()


async def load_fixture(request: Request, mock: Mock) -> Any:
    name = request.path_params["name"]
    mock.reset(fixture=name)
    return {"loaded": name, "state": mock.table_counts()}


async def credentials(request: Request, mock: Mock) -> Any:
    return asdict(mock.credentials)


async def state(request: Request, mock: Mock) -> Any:
    return {"tables": mock.table_counts()}


async def state_table(request: Request, mock: Mock) -> Any:
    table = request.path_params["table"]
    limit = int(request.query_params.get("limit", "100"))  # validated by STATE_QUERY
    return {"table": table, "rows": mock.table_rows(table, limit)}


async def knobs_get(request: Request, mock: Mock) -> Any:
    return mock.knobs()


async def knob_put(request: Request, mock: Mock) -> Any:
    name = request.path_params["name"]
    mock.require_knob(name)  # an unknown name is a 404 whatever the body says
    body = await _json(request, KNOB)
    return mock.set_knob(name, body["value"])


async def clock_get(request: Request, mock: Mock) -> Any:
    return mock.clock_state()


def _instant(body: dict[str, Any], key: str = "at") -> datetime:
    try:
        return parse_instant(str(body[key]))
    except (KeyError, ValueError, OverflowError):
        raise bad_request(f"body.{key}: expected an ISO 8601 date-time such as 2026-11-23T09:00:00Z") from None


def _moved(move: Callable[[], dict[str, Any]], where: str) -> dict[str, Any]:
    """The clock's state after `move`, or 400 naming `where` when the move would leave the clock's range."""
    try:
        return move()
    except ClockRangeError as exc:
        raise bad_request(f"{where}: {exc}") from None


async def clock_freeze(request: Request, mock: Mock) -> Any:
    body = await _json(request, FREEZE)
    at = _instant(body) if "at" in body else None
    return _moved(lambda: mock.freeze_clock(at), "body.at")


async def clock_unfreeze(request: Request, mock: Mock) -> Any:
    return mock.unfreeze_clock()


async def clock_set(request: Request, mock: Mock) -> Any:
    at = _instant(await _json(request, SET))
    return _moved(lambda: mock.set_clock(at), "body.at")


async def clock_advance(request: Request, mock: Mock) -> Any:
    body = await _json(request, ADVANCE)
    seconds = sum(UNITS[unit] * value for unit, value in body.items())
    if abs(seconds) > MAX_ADVANCE_SECONDS:
        raise bad_request(f"body: move the clock at most {MAX_ADVANCE_SECONDS} seconds (a century) at once")
    return _moved(lambda: mock.advance_clock(seconds), "body")


async def faults_get(request: Request, mock: Mock) -> Any:
    return mock.faults()


async def fault_put(request: Request, mock: Mock) -> Any:
    op = request.path_params["operation_id"]
    mock.require_operation(op)  # an unknown operation is a 404 whatever the body says
    body = await _json(request, FAULT)
    fault = Fault(
        latency_ms=int(body.get("latency_ms", 0)),
        error_rate=float(body.get("error_rate", 0.0)),
        status=int(body.get("status", 500)),
    )
    return mock.set_fault(op, fault)


async def fault_delete(request: Request, mock: Mock) -> Any:
    mock.clear_faults(request.path_params.get("operation_id"))
    return Response(status_code=204)


async def journal(request: Request, mock: Mock) -> Any:
    limit = int(request.query_params.get("limit", "50"))  # validated by JOURNAL_QUERY
    return mock.journal_entries(limit)


def routes() -> list[BaseRoute]:
    queries: dict[View, Draft202012Validator] = {state_table: STATE_QUERY, journal: JOURNAL_QUERY}
    table: list[tuple[str, View, list[str]]] = [
        ("/__mock__", index, ["GET"]),
        ("/__mock__/reset", reset, ["POST"]),
        ("/__mock__/fixtures", list_fixtures, ["GET"]),
        ("/__mock__/fixtures/{name:path}", load_fixture, ["POST"]),
        ("/__mock__/credentials", credentials, ["GET"]),
        ("/__mock__/state", state, ["GET"]),
        ("/__mock__/state/{table}", state_table, ["GET"]),
        ("/__mock__/clock", clock_get, ["GET"]),
        ("/__mock__/clock/freeze", clock_freeze, ["POST"]),
        ("/__mock__/clock/unfreeze", clock_unfreeze, ["POST"]),
        ("/__mock__/clock/set", clock_set, ["POST"]),
        ("/__mock__/clock/advance", clock_advance, ["POST"]),
        ("/__mock__/faults", faults_get, ["GET"]),
        ("/__mock__/faults", fault_delete, ["DELETE"]),
        ("/__mock__/faults/{operation_id}", fault_put, ["PUT"]),
        ("/__mock__/faults/{operation_id}", fault_delete, ["DELETE"]),
        ("/__mock__/journal", journal, ["GET"]),
        ("/__mock__/settings", knobs_get, ["GET"]),
        ("/__mock__/settings/{name}", knob_put, ["PUT"]),
    ]
    return [
        Route(path, _guard(view, queries.get(view, NO_QUERY)), methods=methods, include_in_schema=False)
        for path, view, methods in table
    ]
