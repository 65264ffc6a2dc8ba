"""The control API under /__mock__/ (kept out of the public spec): reset, fixtures, state, clock, faults, journal and
the settings domains expose (`domains.setting`).

Refused with 403 unless the caller is on loopback or sends `X-Mock-Admin-Token` equal to `--admin-token`.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mock_server import fixtures
from mock_server.clock import parse_instant
from mock_server.domains import SETTINGS
from mock_server.errors import ApiError, bad_request, forbidden, not_found
from mock_server.pipeline import Fault

if TYPE_CHECKING:
    from mock_server.app import Mock

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}
View = Callable[[Request, "Mock"], Awaitable[Any]]


def _guard(view: View) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        mock: Mock = request.app.state.mock
        try:
            token = mock.settings.admin_token
            sent = request.headers.get("x-mock-admin-token", "")
            host = request.client.host if request.client else ""
            if host not in LOOPBACK and not (token and hmac.compare_digest(sent, token)):
                raise forbidden("The mock control API is for loopback callers or X-Mock-Admin-Token", "control_forbidden")
            result = await view(request, mock)
        except ApiError as exc:
            return JSONResponse(exc.body(mock.spec.error_shape), status_code=exc.status)  # the primary API's shape
        return result if isinstance(result, Response) else JSONResponse(result)

    return endpoint


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise bad_request(f"body: malformed JSON ({exc})", "malformed_json") from exc
    if not isinstance(data, dict):
        raise bad_request("body: expected a JSON object")
    return data


async def index(request: Request, mock: Mock) -> Any:
    return {
        "api": mock.settings.api,
        "seed": mock.settings.seed,
        "fixture": mock.settings.fixture,
        "strict": mock.settings.strict,
        "clock": mock.clock.state(),
        "controls": [f"{', '.join(sorted(r.methods or []))} {r.path}" for r in routes()],
    }


async def reset(request: Request, mock: Mock) -> Any:
    body = await _json(request)
    seed = body.get("seed")
    if seed is not None and not isinstance(seed, int):
        raise bad_request("body.seed: expected an integer")
    fixture = body.get("fixture")
    if fixture is not None and fixture not in fixtures.available():
        raise not_found(f"No fixture set {fixture!r} (available: {', '.join(fixtures.available())})")
    mock.reset(fixture=fixture, seed=seed)
    return {"reset": True, "seed": mock.settings.seed, "fixture": mock.settings.fixture, "state": mock.store.counts()}


async def list_fixtures(request: Request, mock: Mock) -> Any:
    return {"available": fixtures.available(), "loaded": mock.settings.fixture}


async def load_fixture(request: Request, mock: Mock) -> Any:
    name = request.path_params["name"]
    if name not in fixtures.available():
        raise not_found(f"No fixture set {name!r} (available: {', '.join(fixtures.available())})")
    mock.reset(fixture=name)
    return {"loaded": name, "state": mock.store.counts()}


async def credentials(request: Request, mock: Mock) -> Any:
    return asdict(mock.credentials)


async def state(request: Request, mock: Mock) -> Any:
    return {"tables": mock.store.counts()}


async def state_table(request: Request, mock: Mock) -> Any:
    table = request.path_params["table"]
    limit = request.query_params.get("limit", "100")
    if not limit.isdigit():
        raise bad_request("query.limit: expected a non-negative integer")
    try:
        return {"table": table, "rows": mock.store.dump(table, int(limit))}
    except KeyError:
        raise not_found(f"No table {table!r} (tables: {', '.join(mock.store.tables())})") from None


async def settings_get(request: Request, mock: Mock) -> Any:
    return {name: {"value": s.get(mock.store), "description": s.description} for name, s in SETTINGS.items()}


async def setting_put(request: Request, mock: Mock) -> Any:
    name = request.path_params["name"]
    if name not in SETTINGS:
        raise not_found(f"No setting {name!r} (settings: {', '.join(SETTINGS) or 'none'})")
    body = await _json(request)
    if "value" not in body:
        raise bad_request('body.value: required, e.g. {"value": 30}')
    try:
        with mock.store.transaction():
            SETTINGS[name].set(mock.store, body["value"])
    except ValueError as exc:
        raise bad_request(f"body.value: {exc}") from None
    return {"name": name, "value": SETTINGS[name].get(mock.store)}


async def clock_get(request: Request, mock: Mock) -> Any:
    return mock.clock.state()


def _instant(body: dict[str, Any], key: str = "at") -> Any:
    try:
        return parse_instant(str(body[key]))
    except (KeyError, ValueError):
        raise bad_request(f"body.{key}: expected an ISO 8601 date-time such as 2026-11-23T09:00:00Z") from None


async def clock_freeze(request: Request, mock: Mock) -> Any:
    body = await _json(request)
    mock.clock.freeze(_instant(body) if "at" in body else None)
    return mock.clock.state()


async def clock_unfreeze(request: Request, mock: Mock) -> Any:
    mock.clock.unfreeze()
    return mock.clock.state()


async def clock_set(request: Request, mock: Mock) -> Any:
    mock.clock.set(_instant(await _json(request)))
    return mock.clock.state()


async def clock_advance(request: Request, mock: Mock) -> Any:
    body = await _json(request)
    amounts = {unit: body[unit] for unit in UNITS if unit in body}
    if not amounts or not all(isinstance(v, (int, float)) and v >= 0 for v in amounts.values()):
        raise bad_request(f"body: give one or more non-negative numbers among {', '.join(UNITS)}")
    mock.clock.advance(sum(UNITS[unit] * value for unit, value in amounts.items()))
    return mock.clock.state()


async def faults_get(request: Request, mock: Mock) -> Any:
    return {op: vars(f) for op, f in mock.pipeline.faults.items()}


async def fault_put(request: Request, mock: Mock) -> Any:
    op = request.path_params["operation_id"]
    if not any(op in spec.by_id for spec in mock.specs.values()):
        raise not_found(f"No operation {op!r} in the spec")
    body = await _json(request)
    fault = Fault(
        latency_ms=body.get("latency_ms", 0), error_rate=body.get("error_rate", 0.0), status=body.get("status", 500)
    )
    if not (isinstance(fault.latency_ms, int) and 0 <= fault.latency_ms <= 60_000):
        raise bad_request("body.latency_ms: expected an integer between 0 and 60000")
    if not (isinstance(fault.error_rate, (int, float)) and 0 <= fault.error_rate <= 1):
        raise bad_request("body.error_rate: expected a number between 0 and 1")
    if not (isinstance(fault.status, int) and 400 <= fault.status <= 599):
        raise bad_request("body.status: expected an HTTP error status (400-599)")
    mock.pipeline.faults[op] = fault
    return {op: vars(fault)}


async def fault_delete(request: Request, mock: Mock) -> Any:
    op = request.path_params.get("operation_id")
    if op is None:
        mock.pipeline.faults.clear()
    elif mock.pipeline.faults.pop(op, None) is None:
        raise not_found(f"No fault set for {op!r}")
    return Response(status_code=204)


async def journal(request: Request, mock: Mock) -> Any:
    limit = request.query_params.get("limit", "50")
    if not limit.isdigit():
        raise bad_request("query.limit: expected a non-negative integer")
    entries = list(mock.journal)[-int(limit) :] if int(limit) else []
    return {"entries": entries, "total": len(mock.journal)}


def routes() -> list[BaseRoute]:
    table: list[tuple[str, View, list[str]]] = [
        ("/__mock__", index, ["GET"]),
        ("/__mock__/reset", reset, ["POST"]),
        ("/__mock__/fixtures", list_fixtures, ["GET"]),
        ("/__mock__/fixtures/{name}", load_fixture, ["POST"]),
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
        ("/__mock__/settings", settings_get, ["GET"]),
        ("/__mock__/settings/{name}", setting_put, ["PUT"]),
    ]
    return [Route(path, _guard(view), methods=methods, include_in_schema=False) for path, view, methods in table]
