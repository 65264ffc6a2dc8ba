"""`xentree-contract run --base-url URL` (or `python -m contract_tests run ...`): check a deployment against the spec.
`xentree-contract proxy --upstream URL`: watch real traffic through a validating proxy (`contract_tests.proxy`).

Exit codes: 0 conformant (warnings on inferred rules allowed), 1 contract errors or a target that broke during the
run, 2 usage error, a target never reachable or credentials refused at the start (a server that is down is never a
pass). Every option also reads an environment variable (see `--help`); flags win.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from contract_tests import report, runner
from contract_tests.checks import CODES
from contract_tests.options import (
    API_CREDENTIALS,
    CREDENTIALS,
    DEFAULT_MAX_EXAMPLES,
    DEFAULT_OUTAGE_WAIT,
    DEFAULT_PROBE_MAX_REQUESTS,
    DEFAULT_PROBE_MAX_WAIT,
    DEFAULT_REPORT_DIR,
    DEFAULT_SETTLE_SECONDS,
    ENV,
    PHASES,
    RunOptions,
    UsageError,
    env_default,
    split_list,
)
from contract_tests.progress import Progress
from contract_tests.proxy import command as proxy_command
from contract_tests.results import EXIT_USAGE

EPILOG = (
    "exit codes: 0 conformant (warnings allowed), 1 contract errors or a target that broke during the run, 2 usage "
    "error / target never reachable / credentials refused at the start\n"
    "environment: " + ", ".join(f"{v} (--{k.replace('_', '-')})" for k, v in ENV.items()) + "\n"
    "suite rule codes: " + ", ".join(f"{c} {n}" for n, c in CODES.items())
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="xentree-contract",
        description="Check a Xentree or XP ledger deployment against its spec",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser(
        "run",
        help="run the contract checks against a base URL",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    target = r.add_argument_group("target")
    target.add_argument(
        "--base-url", default=env_default("base_url"), help="the deployment, e.g. http://127.0.0.1:4010"
    )
    target.add_argument(
        "--api",
        default=env_default("api", "xentree"),
        help="which spec (openapi/<api>.yaml): xentree (default) or xp-ledger",
    )
    target.add_argument("--spec", type=Path, help="a spec file to use instead of the packaged one")
    target.add_argument("--request-timeout", type=float, default=10.0, help="seconds per request (default 10)")
    target.add_argument("--no-tls-verify", dest="tls_verify", action="store_false", help="accept any TLS certificate")
    creds = r.add_argument_group("credentials for --api xentree (refused credentials stop the run with exit code 2)")
    creds.add_argument("--token", help="bearer access token (either API)")
    creds.add_argument("--api-key", help="X-API-Key value")
    creds.add_argument("--username", help="log in through the login operation")
    creds.add_argument("--password")
    creds.add_argument(
        "--register", action="store_true", default=None, help="create a throw-away user on the target and run as it"
    )
    creds.add_argument(
        "--second-username", help="second user for the isolation checks (default: a registered throw-away user)"
    )
    creds.add_argument("--second-password")
    ledger = r.add_argument_group(
        "credentials and data for --api xp-ledger (OAuth2 client credentials; --token also works)"
    )
    ledger.add_argument("--client-id", help="the application's client id (a token is fetched from the token operation)")
    ledger.add_argument("--client-secret", help="the application's client secret")
    ledger.add_argument("--scope", help="space-separated scopes to request (default: all the application holds)")
    ledger.add_argument(
        "--student-id",
        help="student the ledger scenarios send XP for and read (default: discovered "
        "from the target, else those scenarios are skipped)",
    )
    ledger.add_argument(
        "--settle-seconds",
        type=float,
        default=env_default("settle_seconds", DEFAULT_SETTLE_SECONDS),
        help=f"how long to wait for sent events to show in the ledger (default {DEFAULT_SETTLE_SECONDS:g})",
    )
    select = r.add_argument_group("selection and reproducibility")
    select.add_argument("--phases", action="append", help=f"comma-separated, default all: {','.join(PHASES)}")
    select.add_argument(
        "--include-tag", action="append", default=[], help="spec tag to test (repeatable; tags and operationIds add up)"
    )
    select.add_argument(
        "--include-operation-id",
        "--operation",
        dest="operation",
        action="append",
        default=[],
        help="operationId to test (repeatable; --operation is an alias)",
    )
    select.add_argument(
        "--include-path-regex",
        action="append",
        default=[],
        help="test only paths matching this regular expression (repeatable)",
    )
    select.add_argument("--include-method", action="append", default=[], help="test only this HTTP method")
    select.add_argument("--exclude-tag", action="append", default=[], help="leave out operations with this tag")
    select.add_argument("--exclude-operation-id", action="append", default=[], help="leave out this operationId")
    select.add_argument(
        "--exclude-path-regex", action="append", default=[], help="leave out paths matching this regular expression"
    )
    select.add_argument("--exclude-method", action="append", default=[], help="leave out this HTTP method")
    select.add_argument(
        "--max-examples",
        type=int,
        default=env_default("max_examples", DEFAULT_MAX_EXAMPLES),
        help=f"examples per operation and phase (default {DEFAULT_MAX_EXAMPLES})",
    )
    select.add_argument("--seed", type=int, default=env_default("seed", 1), help="generation seed (default 1)")
    select.add_argument("--workers", type=int, default=env_default("workers", 1), help="parallel workers (1-64)")
    safety = r.add_argument_group("safety")
    safety.add_argument(
        "--allow-destructive",
        action="store_true",
        default=env_default("allow_destructive", False),
        help="also fuzz deleting, revoking, account-changing and admin operations",
    )
    safety.add_argument(
        "--live-quota",
        action="store_true",
        default=env_default("live_quota", False),
        help="check the Live quota rule (spends the second user's monthly Live quota)",
    )
    safety.add_argument(
        "--rate-limit",
        default=env_default("rate_limit", "auto"),
        help="auto (honour Retry-After, default), off, or a pace such as 100/m",
    )
    safety.add_argument(
        "--probe-rate-limit",
        action="store_true",
        default=env_default("probe_rate_limit", False),
        help="exceed the target's rate limit once on a cheap read and check the 429 (Error shape, "
        "Retry-After, RateLimit-*), then wait out the reset",
    )
    safety.add_argument(
        "--probe-max-requests",
        type=int,
        default=env_default("probe_max_requests", DEFAULT_PROBE_MAX_REQUESTS),
        help="most requests the probe may send; a larger limit is skipped with a warning "
        f"(default {DEFAULT_PROBE_MAX_REQUESTS})",
    )
    safety.add_argument(
        "--probe-max-wait",
        type=float,
        default=DEFAULT_PROBE_MAX_WAIT,
        help=f"seconds the probe waits for the limit to reset (default {DEFAULT_PROBE_MAX_WAIT:g})",
    )
    safety.add_argument(
        "--outage-wait",
        type=float,
        default=env_default("outage_wait", DEFAULT_OUTAGE_WAIT),
        help="seconds to wait, backing off, for a target that stopped answering before finishing "
        f"without it (default {DEFAULT_OUTAGE_WAIT:g})",
    )
    judge = r.add_argument_group("severity")
    judge.add_argument(
        "--strict-inferred",
        action="store_true",
        default=env_default("strict_inferred", False),
        help="findings on rules the spec marks x-provenance: inferred are errors too (default: "
        "warnings, which do not change the exit code)",
    )
    out = r.add_argument_group("output")
    out.add_argument(
        "--report-dir",
        type=Path,
        default=env_default("report_dir", DEFAULT_REPORT_DIR),
        help=f"where to write {', '.join(report.FILES.values())} (default {DEFAULT_REPORT_DIR})",
    )
    out.add_argument("--no-report", action="store_true", help="write no report files")
    out.add_argument("--quiet", action="store_true", help="no progress display")
    out.add_argument("--show-secrets", action="store_true", help="do not mask credentials in curl reproductions")
    proxy_command.add_parser(sub)
    return p


def credentials_from(args: argparse.Namespace) -> dict[str, Any]:
    """Credential options: a flag always counts (and is refused when the API does not take it); an environment
    variable only fills an option the chosen API takes, so one environment can hold both APIs' credentials."""
    applies = API_CREDENTIALS.get(args.api, CREDENTIALS)
    values: dict[str, Any] = {}
    for name in CREDENTIALS:
        flag = getattr(args, name)
        default = False if name == "register" else None
        values[name] = flag if flag is not None else env_default(name, default) if name in applies else default
    return values


def options_from(args: argparse.Namespace) -> RunOptions:
    phases = split_list(args.phases) or split_list([env_default("phases", "")]) or PHASES
    return RunOptions(
        base_url=(args.base_url or "").rstrip("/"),
        api=args.api,
        spec=args.spec,
        **credentials_from(args),
        settle_seconds=args.settle_seconds,
        phases=phases,
        max_examples=args.max_examples,
        seed=args.seed,
        workers=args.workers,
        include_tags=split_list(args.include_tag),
        operations=split_list(args.operation),
        exclude_tags=split_list(args.exclude_tag),
        exclude_operations=split_list(args.exclude_operation_id),
        include_path_regex=tuple(args.include_path_regex),
        exclude_path_regex=tuple(args.exclude_path_regex),
        include_methods=split_list(args.include_method),
        exclude_methods=split_list(args.exclude_method),
        strict_inferred=args.strict_inferred,
        probe_rate_limit=args.probe_rate_limit,
        probe_max_requests=args.probe_max_requests,
        probe_max_wait=args.probe_max_wait,
        outage_wait=args.outage_wait,
        allow_destructive=args.allow_destructive,
        live_quota=args.live_quota,
        rate_limit=args.rate_limit,
        request_timeout=args.request_timeout,
        report_dir=None if args.no_report else args.report_dir,
        progress=not args.quiet,
        sanitize=not args.show_secrets,
        tls_verify=args.tls_verify,
    )


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        if args.command == "proxy":
            return proxy_command.main(args)
        options = options_from(args).validate()
        progress = Progress(enabled=options.progress)
        result = runner.run(options, notify=progress)
    except UsageError as exc:
        print(f"xentree-contract: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    paths = report.write_all(result, options.report_dir) if options.report_dir else {}
    for line in report.summary_lines(result):
        print(line)
    for name, path in paths.items():
        print(f"  {name:9} {path}")
    return result.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
