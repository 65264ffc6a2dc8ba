"""Scenario tests: documented rules that need several requests, identities or resources to check.

A scenario is a function registered with `@scenario(...)` for one API. It receives a `ScenarioContext` and opens one
or more test cases with `ctx.case(name)`; each case becomes one JUnit test case and one entry of the reports. Inside
a case, `case.expect(...)`/`case.fail(...)` record failures with the exchange that shows them, and `case.skip(...)`
skips with a reason. Every response any scenario receives also goes through the run-wide 401/403/429 rules.

Scenarios only read, and create resources of their own which they delete again (`ctx.defer`); they never need
`--allow-destructive`. Modules in this package and its subpackages are loaded automatically.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NoReturn

from contract_tests import checks, outage
from contract_tests.auth import (
    CredentialsRefused,
    Principal,
    path_of,
    register_user,
    session,
)
from contract_tests.http import Client, Exchange, TargetUnreachable
from contract_tests.options import RunOptions
from contract_tests.results import ERRORED, SKIPPED, Finding, ScenarioResult
from contract_tests.spec import PLACEHOLDER_UUID, ApiSpec, OperationInfo, sample

MAX_STEPS = 40  # steps kept per case for the reports


class Skip(Exception):
    """The case cannot run here (a prerequisite is missing); not a failure."""


@dataclass(frozen=True)
class Scenario:
    name: str
    group: str
    description: str
    func: Callable[[ScenarioContext], None]
    api: str
    needs: tuple[str, ...]  # operationIds it uses; skipped when the spec lacks one
    subjects: tuple[str, ...] = ()  # operationIds it checks; skipped when none is selected (empty: always runs)
    opt_in: str | None = None  # option name that must be true (e.g. live_quota)


REGISTRY: list[Scenario] = []


def scenario(
    group: str,
    name: str,
    description: str,
    *,
    api: str = "xentree",
    needs: tuple[str, ...] = (),
    subjects: tuple[str, ...] = (),
    opt_in: str | None = None,
) -> Callable[[Callable[[ScenarioContext], None]], Callable[[ScenarioContext], None]]:
    """Register a scenario. Selection (`--include-tag`, `--operation`) picks what is checked (`subjects`); the
    operations a scenario merely uses (`needs`, e.g. minting keys) only have to exist in the spec."""

    def register(func: Callable[[ScenarioContext], None]) -> Callable[[ScenarioContext], None]:
        if all(s.name != name or s.api != api for s in REGISTRY):
            REGISTRY.append(Scenario(name, group, description, func, api, needs, subjects, opt_in))
        return func

    return register


def load() -> None:
    """Import every scenario module of this package and of its subpackages (an API's scenarios split by concern)."""
    for module in sorted(m.name for m in pkgutil.walk_packages(__path__, prefix=f"{__name__}.")):
        importlib.import_module(module)


class Case:
    """One scenario test case in progress."""

    def __init__(self, result: ScenarioResult, rule: str) -> None:
        self.result = result
        self.rule = rule
        self.last: Exchange | None = None

    def fail(self, message: str, exchange: Exchange | None = None, *, rule: str | None = None, title: str = "") -> None:
        exchange = exchange or self.last
        name = rule or self.rule
        self.result.fail(
            Finding(
                check=name,
                title=title or checks.TITLES.get(name, self.result.name),
                message=message,
                code=checks.CODES.get(name, "XC900"),
                curl=exchange.curl() if exchange else "",
                status=exchange.status if exchange else None,
                operation=(exchange.operation if exchange else None) or self.result.operation,
            )
        )

    def expect(self, condition: bool, message: str, exchange: Exchange | None = None, **kwargs: Any) -> bool:
        if not condition:
            self.fail(message, exchange, **kwargs)
        return condition

    def skip(self, reason: str) -> NoReturn:
        raise Skip(reason)


@dataclass
class ScenarioContext:
    spec: ApiSpec
    client: Client
    principal: Principal
    options: RunOptions
    selected: list[OperationInfo]
    results: list[ScenarioResult] = field(default_factory=list)
    notify: Callable[[str, str, str], None] = lambda kind, name, status: None
    _cleanups: list[tuple[str, Callable[[], Any]]] = field(default_factory=list)
    _current: Case | None = None
    _second: Principal | Exception | None = None
    _orgs: dict[str, str] = field(default_factory=dict)  # principal -> an organization it may mint keys for
    shared: dict[str, Any] = field(default_factory=dict)  # what scenarios of one run share (e.g. a discovered id)
    warnings: list[str] = field(default_factory=list)  # run-level warnings a scenario raises (the report lists them)

    def __post_init__(self) -> None:
        self.client.observers.append(self._observe)

    # cases ---------------------------------------------------------------------------------------------------------
    @contextmanager
    def case(
        self, name: str, *, group: str, rule: str, operation: str | None = None, description: str = ""
    ) -> Iterator[Case]:
        result = ScenarioResult(name, group, description, operation=operation)
        current = Case(result, rule)
        previous, self._current = self._current, current
        start = time.perf_counter()
        try:
            yield current
        except Skip as skip:  # a case that already failed stays failed: the skip only stops it
            if not result.findings:
                result.status, result.skip_reason = SKIPPED, str(skip)
        except TargetUnreachable as exc:  # the case fails on the request that got no answer; the runner waits
            request = outage.Unanswered(exc.label, exc.curl, exc.operation, str(exc).split(": ", 1)[-1])
            result.fail(outage.finding(request, f"the scenario {name!r}"))
            raise
        except Exception as exc:  # the case could not be evaluated: say why, never hide it
            result.errors.append(f"{type(exc).__name__}: {exc}")
            result.status = ERRORED
        finally:
            self._current = previous
            result.seconds = time.perf_counter() - start
            result.finish()
            self.results.append(result)
            self.notify("scenario", name, result.status)

    def _observe(self, exchange: Exchange) -> None:
        """Every response of every scenario: record the step, apply the run-wide rules."""
        current = self._current
        if current is None:
            return
        current.last = exchange
        if len(current.result.steps) < MAX_STEPS:
            current.result.steps.append(f"{exchange.method} {exchange.url} -> {exchange.status}")
        op = self.spec.by_id.get(exchange.operation or "")
        for rule, problems in (
            (
                "auth_error_shape",
                checks.auth_error_problems(self.spec, exchange.status, exchange.headers, exchange.content, op),
            ),
            ("rate_limit_headers", checks.rate_limit_problems(self.spec, op, exchange.status, exchange.headers)),
            ("secrets_exposure", checks.secret_problems(self.spec, op, exchange.status, exchange.content)),
        ):
            if problems:
                current.fail("\n".join(problems), exchange, rule=rule, title=checks.TITLES[rule])

    # requests ------------------------------------------------------------------------------------------------------
    def op(self, operation_id: str) -> OperationInfo:
        op = self.spec.by_id.get(operation_id)
        if op is None:
            raise Skip(f"the spec has no operation {operation_id}")
        return op

    def call(
        self,
        operation_id: str,
        who: Principal | dict[str, str] | None,
        *,
        path: dict[str, Any] | None = None,
        body: Any = None,
        params: dict[str, Any] | None = None,
        wait_on_429: bool = True,
        raw_body: bool = False,
        observe: bool = True,
    ) -> Exchange:
        """Call an operation as `who` (a principal, explicit headers, or None for no credentials)."""
        op = self.op(operation_id)
        headers = who.headers_for(op) if isinstance(who, Principal) else dict(who or {})
        media = self.spec.request_media(op)
        kind = media[0] if media and body is not None and not raw_body else None
        kwargs: dict[str, Any] = {}
        if kind == "application/x-www-form-urlencoded":
            kwargs["form"] = body
        elif kind == "multipart/form-data" and isinstance(body, dict):
            kwargs["files"] = {k: (f"{k}.txt", str(v).encode(), "text/plain") for k, v in body.items()}
        elif body is not None:
            kwargs["json_body"] = body
        return self.client.request(
            op.method,
            path_of(op, **(path or {})),
            headers=headers,
            params=params,
            operation=operation_id,
            wait_on_429=wait_on_429,
            observe=observe,
            **kwargs,
        )

    def sample_request(self, op: OperationInfo) -> dict[str, Any]:
        """Path parameters, required query parameters and a body that satisfy the spec (placeholders for ids)."""
        path = {}
        for param in self.spec.parameters(op, "path"):
            schema = param.get("schema", {})
            path[param["name"]] = PLACEHOLDER_UUID if schema.get("format") == "uuid" else sample(schema)
        query = {p["name"]: sample(p.get("schema", {})) for p in self.spec.parameters(op, "query") if p.get("required")}
        return {"path": path, "params": query or None, "body": self.spec.example_body(op)}

    # identities and own resources -----------------------------------------------------------------------------------
    def bearer(self) -> Principal:
        """The run's identity as a bearer principal (the rules about users need a user)."""
        if not self.principal.token:
            raise Skip("needs a bearer identity: pass --token, --username/--password or --register")
        return self.principal

    def second_user(self) -> Principal:
        """Another user: --second-username/--second-password, else a throw-away user registered for the run."""
        if self._second is None:
            try:
                if self.options.second_username and self.options.second_password:
                    self._second = session(
                        self.client, self.spec, self.options.second_username, self.options.second_password
                    )
                else:
                    self._second = register_user(self.client, self.spec, self.options.seed, "b")
            except CredentialsRefused as exc:
                self._second = exc
        if isinstance(self._second, Exception):
            raise Skip(f"no second user: {self._second}")
        return self._second

    def defer(self, label: str, cleanup: Callable[[], Any]) -> None:
        self._cleanups.append((label, cleanup))

    def cleanup(self) -> list[str]:
        """Delete what the scenarios created, newest first; returns what could not be removed."""
        left: list[str] = []
        self._current = None
        while self._cleanups:
            label, action = self._cleanups.pop()
            try:
                answer = action()
            except TargetUnreachable:
                left.append(f"{label}: target unreachable")
                continue
            if isinstance(answer, Exchange) and answer.status >= 300 and answer.status != 404:
                left.append(f"{label}: {answer.summary()}")
        return left

    def own_organization(self, owner: Principal) -> str:
        """An organization the owner may mint API keys for: one they own or administer, else a new one."""
        who = owner.username or owner.token or ""
        if who in self._orgs:
            return self._orgs[who]
        tenants = self.call("listTenants", owner)
        for tenant in (tenants.json or []) if tenants.status == 200 else []:
            if isinstance(tenant, dict) and tenant.get("role") in ("owner", "admin") and tenant.get("id"):
                self._orgs[who] = str(tenant["id"])
                return self._orgs[who]
        self._orgs[who] = self.create_organization(owner, "keys")
        return self._orgs[who]

    def create_organization(self, owner: Principal, label: str) -> str:
        for attempt in range(1, 20):
            slug = f"ct{self.options.seed}-{label}-{attempt}"
            answer = self.call("createOrganization", owner, body={"name": f"Contract tests {label}", "slug": slug})
            if answer.status == 201 and isinstance(answer.json, dict) and answer.json.get("id"):
                org_id = str(answer.json["id"])
                self.defer(
                    f"organization {slug}", partial(self.call, "deleteOrganization", owner, path={"org_id": org_id})
                )
                return org_id
            if answer.status != 409:
                raise Skip(f"could not create an organization: {answer.summary()}")
        raise Skip("could not create an organization: every slug tried was taken")

    def mint_key(self, owner: Principal, scopes: list[str], name: str) -> dict[str, Any]:
        """An API key with exactly these scopes, through the create-API-key operation; deleted after the run."""
        org_id = self.own_organization(owner)
        answer = self.call("createApiKey", owner, body={"name": name, "organization_id": org_id, "scopes": scopes})
        key = answer.json if answer.status == 201 and isinstance(answer.json, dict) else None
        if not key or not key.get("key") or not key.get("id"):
            raise Skip(f"could not mint an API key with {scopes}: {answer.summary()}")
        key_id = key["id"]
        self.defer(f"API key {name}", lambda: self.call("deleteApiKey", owner, path={"key_id": key_id}))
        return key
