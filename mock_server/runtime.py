"""The running mock: its settings, what it holds (specs, store, clock, tokens, pipeline, journal, demo credentials),
and every operation on it as a method: reset, fixture loading, clock moves, faults, the journal, the domains' knobs.

The control API (control.py) turns HTTP requests into these calls and nothing else; the ASGI wiring (app.py) only
routes requests to the pipeline and records them in the journal. Keeping the state and its operations here means
neither module changes another's internals, and app.py and control.py need not import each other.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mock_server import fixtures, worlds
from mock_server.clock import Clock, iso_at, parse_instant
from mock_server.domains import load_domains
from mock_server.errors import bad_request, not_found
from mock_server.generate import Generator
from mock_server.limits import RateLimit, RateLimiter
from mock_server.pipeline import Fault, Pipeline
from mock_server.registry import Call, Knob, Registry
from mock_server.resources import spec_path
from mock_server.security import LOOPBACK_HOSTS, Tokens
from mock_server.spec import Spec, load_spec
from mock_server.store import Store

CLOCK_MIN, CLOCK_MAX = 0.0, parse_instant("9000-01-01T00:00:00Z").timestamp()
CLOCK_RANGE_TEXT = "1970-01-01T00:00:00Z and 9000-01-01T00:00:00Z"


@dataclass
class Settings:
    api: str = "xentree"  # one spec name, or several separated by commas (the first is the primary one)
    seed: int = 0
    state: Path | None = None
    strict: bool = False
    admin_token: str | None = None
    rate_limit: str = "6000/60"
    cors_origins: list[str] = field(default_factory=lambda: ["*"])
    fixture: str = "demo"
    frozen_at: datetime | None = None
    journal_size: int = 500
    access_log: bool = True
    host: str = "127.0.0.1"  # the address the server is bound to (decides the default token signing secret)
    jwt_secret: str | None = None  # sign tokens with this secret (a team sharing one mock)
    deterministic_tokens: bool | None = None  # None: deterministic on loopback, random beyond it
    auth_failure_limit: str = "10/60"  # failed authentications per client address (loopback exempt), or 'off'
    control_hosts: list[str] = field(default_factory=list)  # extra Host names /__mock__ answers to (control.py)
    control_origins: list[str] = field(default_factory=list)  # extra Origins allowed to drive /__mock__ (control.py)

    @property
    def apis(self) -> list[str]:
        return [name.strip() for name in self.api.split(",") if name.strip()]


class ClockRangeError(ValueError):
    """A clock move that would leave the range every date computed from the clock can still be represented in."""


def in_clock_range(instant: datetime) -> bool:
    """The clock stays where every date computed from it (token expiry, monthly resets) is still a datetime."""
    try:
        return CLOCK_MIN <= instant.timestamp() <= CLOCK_MAX
    except (OverflowError, ValueError, OSError):
        return False


@dataclass
class Mock:
    """Everything the running mock holds, and the operations the control API offers on it."""

    settings: Settings
    spec: Spec  # the primary API
    specs: dict[str, Spec]
    store: Store
    clock: Clock
    tokens: Tokens
    pipeline: Pipeline
    registry: Registry
    credentials: fixtures.Credentials = field(default_factory=fixtures.Credentials)
    journal: deque[dict[str, Any]] = field(default_factory=deque)
    reusable: bool = False  # an in-memory world with seed-derived tokens: may be copied from a seeded template

    # --- the world: fixtures and reset ---

    def internal_call(self) -> Call:
        """A call outside any request, for the mock's own writes (fixtures, seeding): domain functions that take a
        Call work the same from here as from a handler."""
        return Call({}, {}, {}, None, None, self.store, self.clock, self.tokens, seed=self.settings.seed)

    def load_fixture(self, name: str) -> None:
        call = self.internal_call()
        with self.store.transaction():
            self.credentials = fixtures.load(call, name, self.settings.seed, self.registry.seeders)
            # Kept with the state, so a restarted mock still lists (and a --state file still knows) its demo logins.
            self.store.set_meta("credentials", json.dumps(asdict(self.credentials)))
        self.settings.fixture = name

    def reset(self, fixture: str | None = None, seed: int | None = None) -> None:
        """Back to the start: empty store, ids reseeded, fixtures loaded again, the clock as it was at startup
        (frozen at `--freeze-at`, or real time), every token issued so far refused (a new token epoch).
        A fixture set is read and checked first, so one that cannot be loaded leaves the world as it was."""
        if fixture is not None:
            check_fixture(fixture)
        if seed is not None:
            self.settings.seed = seed
        self.clock.restart()
        self.pipeline.reset(self.settings.seed)
        self.journal.clear()
        self.seed_world(fixture or self.settings.fixture)
        self.tokens.new_epoch()  # after the copy, which brings the template's bookkeeping

    def seed_world(self, fixture: str) -> None:
        """The fixture world in the store: copied when this process seeded it before, else seeded (and kept)."""
        world = (
            worlds.key(self.settings.apis, self.settings.seed, fixture, self.clock.now() if self.clock.frozen else None)
            if self.reusable
            else None
        )
        if world is not None and worlds.restore(world, self.store, self.registry):
            self.credentials = _saved_credentials(self.store)
            self.settings.fixture = fixture
            return
        self.store.clear()
        self.store.reseed(self.settings.seed)
        self.load_fixture(fixture)
        if world is not None:
            worlds.remember(world, self.store, self.registry)

    def fixture_sets(self) -> dict[str, Any]:
        return {"available": fixtures.available(), "loaded": self.settings.fixture}

    def describe(self) -> dict[str, Any]:
        """What is running: the APIs, seed, fixture set, strict mode and the clock."""
        settings = self.settings
        return {
            "api": settings.api,
            "seed": settings.seed,
            "fixture": settings.fixture,
            "strict": settings.strict,
            "clock": self.clock.state(),
        }

    # --- the store, read-only ---

    def table_counts(self) -> dict[str, int]:
        return self.store.counts()

    def table_rows(self, table: str, limit: int) -> list[dict[str, Any]]:
        try:
            return self.store.dump(table, limit)
        except KeyError:
            raise not_found(f"No table {table!r} (tables: {', '.join(self.store.tables())})") from None

    # --- the clock ---

    def clock_state(self) -> dict[str, Any]:
        return self.clock.state()

    def freeze_clock(self, at: datetime | None = None) -> dict[str, Any]:
        if at is not None:
            _within_range(at)
        self.clock.freeze(at)
        return self.clock.state()

    def unfreeze_clock(self) -> dict[str, Any]:
        self.clock.unfreeze()
        return self.clock.state()

    def set_clock(self, at: datetime) -> dict[str, Any]:
        _within_range(at)
        self.clock.set(at)
        return self.clock.state()

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move the clock by `seconds` (negative: back), within the clock's range."""
        target = self.clock.timestamp() + seconds
        if not CLOCK_MIN <= target <= CLOCK_MAX:
            raise ClockRangeError(f"the mock clock stays between {CLOCK_RANGE_TEXT}")
        self.clock.advance(seconds)
        return self.clock.state()

    # --- faults ---

    def faults(self) -> dict[str, dict[str, Any]]:
        return {op: asdict(fault) for op, fault in self.pipeline.faults.items()}

    def require_operation(self, operation_id: str) -> None:
        """404 unless one of the served specs declares `operation_id`."""
        if not any(operation_id in spec.by_id for spec in self.specs.values()):
            raise not_found(f"No operation {operation_id!r} in the spec")

    def set_fault(self, operation_id: str, fault: Fault) -> dict[str, Any]:
        self.require_operation(operation_id)
        self.pipeline.faults[operation_id] = fault
        return {operation_id: asdict(fault)}

    def clear_faults(self, operation_id: str | None = None) -> None:
        """Clear one operation's fault (404 when it has none), or every fault."""
        if operation_id is None:
            self.pipeline.faults.clear()
        elif self.pipeline.faults.pop(operation_id, None) is None:
            raise not_found(f"No fault set for {operation_id!r}")

    # --- the journal ---

    def record(self, **request: Any) -> None:
        """One request in the journal, stamped with the mock clock (the oldest dropped beyond `--journal-size`)."""
        self.journal.append({"at": iso_at(self.clock.timestamp()), **request})

    def journal_entries(self, limit: int) -> dict[str, Any]:
        entries = list(self.journal)[-limit:] if limit else []
        return {"entries": entries, "total": len(self.journal)}

    # --- the domains' knobs ---

    def knobs(self) -> dict[str, dict[str, Any]]:
        return {
            name: {"value": knob.get(self.store), "description": knob.description}
            for name, knob in self.registry.knobs.items()
        }

    def require_knob(self, name: str) -> Knob:
        """The knob called `name`, or 404 listing the knobs there are."""
        knob = self.registry.knobs.get(name)
        if knob is None:
            raise not_found(f"No setting {name!r} (settings: {', '.join(self.registry.knobs) or 'none'})")
        return knob

    def set_knob(self, name: str, value: Any) -> dict[str, Any]:
        """Set a domain's knob; 404 for an unknown name, 400 for a value the knob refuses."""
        knob = self.require_knob(name)
        try:
            with self.store.transaction():
                knob.set(self.store, value)
        except ValueError as exc:
            raise bad_request(f"body.value: {exc}") from None
        return {"name": name, "value": knob.get(self.store)}


def check_fixture(name: str) -> None:
    """A fixture set (name or YAML path) is read and checked before a reset empties the store: 404 when there is
    none, 400 when it cannot be loaded."""
    try:
        fixtures.read(name)
    except FileNotFoundError as exc:
        raise not_found(str(exc)[:300]) from None
    except fixtures.FixtureError as exc:
        raise bad_request(str(exc), "invalid_fixture") from None


def _within_range(at: datetime) -> None:
    if not in_clock_range(at):
        raise ClockRangeError(f"the mock clock stays between {CLOCK_RANGE_TEXT}")


def _saved_credentials(store: Store) -> fixtures.Credentials:
    saved = store.meta("credentials")
    return fixtures.Credentials(**json.loads(saved)) if saved else fixtures.Credentials()


def _seed_secret(seed: int) -> str:
    return hashlib.sha256(f"xentree-mock-jwt:{seed}".encode()).hexdigest()


def signing_secret(settings: Settings, store: Store) -> str:
    """The tokens' HS256 secret. Derived from the seed (so tokens are reproducible) only where nobody else can
    reach the mock: on loopback by default, or when asked with --deterministic-tokens. Beyond loopback it is
    random, kept in the state file so tokens survive a restart, unless --jwt-secret names one."""
    if settings.jwt_secret:
        return settings.jwt_secret
    deterministic = settings.deterministic_tokens
    if deterministic is None:
        deterministic = settings.host in LOOPBACK_HOSTS
    if deterministic:
        return _seed_secret(settings.seed)
    secret = store.meta("jwt_secret")
    if secret is None:
        secret = secrets.token_hex(32)
        store.set_meta("jwt_secret", secret)
    return secret


def build_mock(settings: Settings, registry: Registry | None = None) -> Mock:
    """A mock for `settings`, with the domains of `registry` (default: every module of mock_server.domains)."""
    registry = registry or load_domains()
    specs = {name: load_spec(spec_path(name)) for name in settings.apis}
    spec = specs[settings.apis[0]]
    existing_state = settings.state is not None and settings.state.exists()
    store = Store(settings.state, seed=settings.seed, schemas=registry.schemas)
    clock = Clock(settings.frozen_at)
    tokens = Tokens(signing_secret(settings, store), clock, store)
    pipeline = Pipeline(
        store=store,
        clock=clock,
        tokens=tokens,
        limiter=RateLimiter(RateLimit.parse(settings.rate_limit)),
        generator=Generator(settings.seed, clock.now),
        registry=registry,
        strict=settings.strict,
        seed=settings.seed,
        specs=list(specs.values()),
        auth_failures=RateLimiter(RateLimit.parse(settings.auth_failure_limit)),
    )
    mock = Mock(
        settings, spec, specs, store, clock, tokens, pipeline, registry, journal=deque(maxlen=settings.journal_size)
    )
    mock.reusable = settings.state is None and tokens.secret == _seed_secret(settings.seed)
    if existing_state and store.counts().get("users"):
        # A persisted state file is reused as it is; ids continue on a stream of their own for this start.
        store.next_boot(settings.seed)
        mock.credentials = _saved_credentials(store)
    else:
        mock.seed_world(settings.fixture)
    return mock
