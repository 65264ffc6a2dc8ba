"""`xentree-contract proxy --upstream URL`: the command line of the validating proxy (wired into `cli.py`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from contract_tests import report
from contract_tests.options import DEFAULT_REPORT_DIR, env_default
from contract_tests.proxy import APIS
from contract_tests.proxy.capture import MAX_VALIDATED_BODY
from contract_tests.results import EXIT_USAGE

DESCRIPTION = (
    "Forward a frontend's traffic to a deployment unchanged and check every exchange against the spec "
    "(Schemathesis' response checks and the suite's 401/403/429/privacy/secrets rules); on SIGINT, SIGTERM or "
    "after --duration write the same four reports as `run`"
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("proxy", help="watch real traffic through a validating proxy", description=DESCRIPTION)
    p.add_argument("--upstream", required=True, help="the deployment to forward to, e.g. https://staging.example.com")
    p.add_argument("--host", default="127.0.0.1", help="where to listen (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=4020, help="port to listen on (default 4020)")
    p.add_argument("--api", choices=sorted(APIS), default="xentree", help="which spec(s) to check against")
    p.add_argument("--spec", type=Path, help="a spec file to use instead of the packaged one (one API)")
    p.add_argument(
        "--report-dir",
        type=Path,
        default=env_default("report_dir", DEFAULT_REPORT_DIR),
        help=f"where to write {', '.join(report.FILES.values())} (default {DEFAULT_REPORT_DIR}; "
        "one folder per API with --api both)",
    )
    p.add_argument("--no-report", action="store_true", help="write no report files")
    p.add_argument("--har", type=Path, help="also record every exchange in this HAR file")
    p.add_argument(
        "--enforce",
        action="store_true",
        help="answer a response that breaks a documented rule with 502 in the spec's Error shape naming it",
    )
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: until SIGINT/SIGTERM)")
    p.add_argument("--no-tls-verify", dest="tls_verify", action="store_false", help="accept any TLS certificate")
    p.add_argument("--request-timeout", type=float, default=30.0, help="seconds to wait for the upstream (30)")
    p.add_argument(
        "--max-body",
        type=int,
        default=MAX_VALIDATED_BODY,
        help=f"bytes of a body kept for validation (default {MAX_VALIDATED_BODY}); larger ones are forwarded "
        "and reported as not validated",
    )
    p.add_argument("--strict-inferred", action="store_true", help="findings on inferred rules are errors too")
    p.add_argument("--show-secrets", action="store_true", help="do not mask credentials in reports and the HAR")


def main(args: argparse.Namespace) -> int:
    from contract_tests.proxy.server import ProxyOptions, exit_code, run  # not on every CLI start (`run` needs none)

    if not str(args.upstream).startswith(("http://", "https://")):
        print(f"xentree-contract: error: --upstream must be an http(s) URL, got {args.upstream!r}", file=sys.stderr)
        return EXIT_USAGE
    options = ProxyOptions(
        upstream=str(args.upstream).rstrip("/"),
        host=args.host,
        port=args.port,
        api=args.api,
        spec=args.spec,
        report_dir=None if args.no_report else args.report_dir,
        har=args.har,
        enforce=args.enforce,
        duration=args.duration,
        tls_verify=args.tls_verify,
        request_timeout=args.request_timeout,
        strict_inferred=args.strict_inferred,
        sanitize=not args.show_secrets,
        max_body=args.max_body,
    )
    results = run(options)
    for result in results:
        for line in report.summary_lines(result):
            print(line)
        for name, path in result.reports.items():
            print(f"  {name:9} {path}")
    return exit_code(results)
