"""Run options: one dataclass, filled from command-line flags, environment variables or Python callers.

Every flag of `xentree-contract run` has an environment variable (flag wins over variable); the table `ENV` is the
single list of both, used by the CLI parser and printed in `--help`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMATHESIS_PHASES = ("examples", "coverage", "fuzzing", "stateful")
PHASES = (*SCHEMATHESIS_PHASES, "scenarios")
DEFAULT_MAX_EXAMPLES = 25
DEFAULT_REPORT_DIR = Path("contract-report")
DEFAULT_OUTAGE_WAIT = 60.0  # seconds a run waits, backing off, for a target that stopped answering
DEFAULT_PROBE_MAX_REQUESTS = 10_000
DEFAULT_PROBE_MAX_WAIT = 60.0  # seconds the rate-limit probe waits for the limit to reset
SELECTION = (
    "include_tags",
    "operations",
    "exclude_tags",
    "exclude_operations",
    "include_path_regex",
    "exclude_path_regex",
    "include_methods",
    "exclude_methods",
)

# option name -> environment variable
ENV = {
    "base_url": "XENTREE_BASE_URL",
    "token": "XENTREE_TOKEN",
    "api_key": "XENTREE_API_KEY",
    "username": "XENTREE_USERNAME",
    "password": "XENTREE_PASSWORD",
    "register": "XENTREE_REGISTER",
    "second_username": "XENTREE_SECOND_USERNAME",
    "second_password": "XENTREE_SECOND_PASSWORD",
    "allow_destructive": "XENTREE_ALLOW_DESTRUCTIVE",
    "live_quota": "XENTREE_LIVE_QUOTA",
    "rate_limit": "XENTREE_RATE_LIMIT",
    "max_examples": "XENTREE_MAX_EXAMPLES",
    "seed": "XENTREE_SEED",
    "workers": "XENTREE_WORKERS",
    "phases": "XENTREE_PHASES",
    "report_dir": "XENTREE_REPORT_DIR",
    "api": "XENTREE_API",
    "client_id": "XENTREE_CLIENT_ID",
    "client_secret": "XENTREE_CLIENT_SECRET",
    "scope": "XENTREE_SCOPE",
    "student_id": "XENTREE_STUDENT_ID",
    "settle_seconds": "XENTREE_SETTLE_SECONDS",
    "strict_inferred": "XENTREE_STRICT_INFERRED",
    "probe_rate_limit": "XENTREE_PROBE_RATE_LIMIT",
    "probe_max_requests": "XENTREE_PROBE_MAX_REQUESTS",
    "outage_wait": "XENTREE_OUTAGE_WAIT",
}
DEFAULT_SETTLE_SECONDS = 5.0

# Which credential options each API takes (the others are refused when given as flags and ignored when they only
# come from the environment, so one environment can serve runs against both APIs).
CREDENTIALS = (
    "token",
    "api_key",
    "username",
    "password",
    "register",
    "second_username",
    "second_password",
    "client_id",
    "client_secret",
    "scope",
    "student_id",
)
API_CREDENTIALS = {
    "xentree": ("token", "api_key", "username", "password", "register", "second_username", "second_password"),
    "xp-ledger": ("token", "client_id", "client_secret", "scope", "student_id"),
}
TRUE = ("1", "true", "yes", "on")


class UsageError(Exception):
    """A problem with the options themselves: exit code 2."""


@dataclass
class RunOptions:
    base_url: str = ""
    api: str = "xentree"
    spec: Path | None = None  # default: the packaged openapi/<api>.yaml
    token: str | None = None
    api_key: str | None = None
    username: str | None = None
    password: str | None = None
    register: bool = False
    second_username: str | None = None
    second_password: str | None = None
    client_id: str | None = None  # OAuth2 client credentials (APIs with a client-credentials token operation)
    client_secret: str | None = None
    scope: str | None = None  # space-separated scopes to ask the token operation for (default: all granted)
    student_id: str | None = None  # the XP ledger student the scenarios write to and read (default: discovered)
    settle_seconds: float = DEFAULT_SETTLE_SECONDS  # how long to poll for asynchronously processed results
    phases: tuple[str, ...] = PHASES
    max_examples: int = DEFAULT_MAX_EXAMPLES
    seed: int = 1
    workers: int = 1
    include_tags: tuple[str, ...] = ()
    operations: tuple[str, ...] = ()  # --include-operation-id (alias --operation)
    exclude_tags: tuple[str, ...] = ()
    exclude_operations: tuple[str, ...] = ()
    include_path_regex: tuple[str, ...] = ()
    exclude_path_regex: tuple[str, ...] = ()
    include_methods: tuple[str, ...] = ()
    exclude_methods: tuple[str, ...] = ()
    strict_inferred: bool = False  # findings on inferred rules are errors too (default: warnings)
    probe_rate_limit: bool = False  # deliberately exceed the rate limit once and check the 429
    probe_max_requests: int = DEFAULT_PROBE_MAX_REQUESTS
    probe_max_wait: float = DEFAULT_PROBE_MAX_WAIT
    outage_wait: float = DEFAULT_OUTAGE_WAIT
    allow_destructive: bool = False
    live_quota: bool = False
    rate_limit: str = "auto"
    request_timeout: float = 10.0
    report_dir: Path | None = DEFAULT_REPORT_DIR
    progress: bool = True
    sanitize: bool = True
    tls_verify: bool = True
    stateful_steps: int = 6
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> RunOptions:
        if not self.base_url:
            raise UsageError("--base-url (or XENTREE_BASE_URL) is required, e.g. --base-url http://127.0.0.1:4010")
        if not self.base_url.startswith(("http://", "https://")):
            raise UsageError(f"--base-url must start with http:// or https://, got {self.base_url!r}")
        unknown = [p for p in self.phases if p not in PHASES]
        if unknown or not self.phases:
            raise UsageError(
                f"--phases: unknown phase(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(PHASES)}"
            )
        if bool(self.username) != bool(self.password):
            raise UsageError("--username and --password go together")
        if bool(self.second_username) != bool(self.second_password):
            raise UsageError("--second-username and --second-password go together")
        if bool(self.client_id) != bool(self.client_secret):
            raise UsageError("--client-id and --client-secret go together")
        wrong = [name for name in self.credentials_given() if name not in self.credential_options]
        if wrong:
            flags = ", ".join("--" + name.replace("_", "-") for name in wrong)
            takes = ", ".join("--" + name.replace("_", "-") for name in self.credential_options)
            verb = "does" if len(wrong) == 1 else "do"
            raise UsageError(f"{flags} {verb} not apply to --api {self.api}; it takes {takes}")
        if self.settle_seconds < 0:
            raise UsageError("--settle-seconds must be 0 or more")
        if self.max_examples < 1:
            raise UsageError("--max-examples must be at least 1")
        if not 1 <= self.workers <= 64:
            raise UsageError("--workers must be between 1 and 64")
        if self.probe_max_requests < 1:
            raise UsageError("--probe-max-requests must be at least 1")
        if self.outage_wait < 0 or self.probe_max_wait < 0:
            raise UsageError("--outage-wait and --probe-max-wait must be 0 or more")
        return self

    @property
    def credential_options(self) -> tuple[str, ...]:
        """The credential options this run's API takes (an unknown API name: all of them)."""
        return API_CREDENTIALS.get(self.api, CREDENTIALS)

    def credentials_given(self) -> list[str]:
        return [name for name in CREDENTIALS if getattr(self, name)]

    def public_dict(self) -> dict[str, Any]:
        """The options for reports: secrets masked."""
        data = asdict(self)
        for secret in ("token", "api_key", "password", "second_password", "client_secret"):
            if data.get(secret):
                data[secret] = "[Filtered]"
        for key, value in data.items():
            if isinstance(value, Path):
                data[key] = str(value)
            elif isinstance(value, tuple):
                data[key] = list(value)
        return data


def env_default(name: str, default: Any = None) -> Any:
    """The environment's value for an option, converted to the default's type."""
    raw = os.environ.get(ENV[name])
    if raw is None or raw == "":
        return default
    if isinstance(default, bool):
        return raw.strip().lower() in TRUE
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise UsageError(f"{ENV[name]}: expected an integer, got {raw!r}") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise UsageError(f"{ENV[name]}: expected a number, got {raw!r}") from None
    if isinstance(default, Path):
        return Path(raw)
    return raw


def split_list(values: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """`--phases a,b --phases c` and `a, b` alike."""
    return tuple(part.strip() for value in values or () for part in value.split(",") if part.strip())
