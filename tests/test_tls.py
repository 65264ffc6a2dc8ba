"""TLS deployments: the proxy and `run` reach an HTTPS target whose certificate nobody trusts only when told to
(`--no-tls-verify`); otherwise the proxy answers 502 in the spec's Error shape and `run` stops as not run.

The target is the strict mock served over TLS by uvicorn in a thread, with a certificate from a throw-away CA
(trustme), so verification fails the way it does against a staging host with a self-signed certificate.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from contract_tests import cli
from contract_tests.plugin import ThreadServer, WatchedProxy
from contract_tests.resources import spec_path
from contract_tests.spec import ApiSpec
from mock_server.app import Settings, create_app


@pytest.fixture(scope="module")
def https_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("tls")
    certificate = trustme.CA().issue_cert("127.0.0.1")
    certificate.cert_chain_pems[0].write_to_path(folder / "cert.pem")
    certificate.private_key_pem.write_to_path(folder / "key.pem")
    app = create_app(Settings(seed=0, strict=True, access_log=False, rate_limit="off"))
    server = ThreadServer(app, ssl_certfile=str(folder / "cert.pem"), ssl_keyfile=str(folder / "key.pem"))
    server.start(health_path=None)  # the plain-HTTP health wait would not get through
    try:
        url = f"https://127.0.0.1:{server.port}"
        assert httpx.get(url + "/api/health", verify=False).status_code == 200  # served over TLS
        yield url
    finally:
        server.stop()


def test_the_proxy_forwards_to_an_untrusted_tls_upstream_only_with_no_tls_verify(https_url: str) -> None:
    direct = httpx.get(https_url + "/api/health", verify=False)
    with WatchedProxy(https_url, tls_verify=False) as proxy:
        proxied = httpx.get(proxy.url + "/api/health", timeout=30)
        (result,) = proxy.results()
    assert proxied.status_code == 200 and proxied.json().keys() == direct.json().keys()  # its time stamp moves
    health = next(op for op in result.operations if op.operation_id == "getHealth")
    assert health.cases == 1 and health.findings == []


def test_the_proxy_refuses_an_untrusted_certificate_by_default(https_url: str) -> None:
    spec = ApiSpec.load(spec_path("xentree"))
    with WatchedProxy(https_url, request_timeout=10) as proxy:
        answer = httpx.get(proxy.url + "/api/health", timeout=30)
        (result,) = proxy.results()
    assert answer.status_code == 502
    body = answer.json()
    assert spec.error_validator is not None and list(spec.error_validator.iter_errors(body)) == []
    assert (
        body["detail"]["error"] == "upstream_unreachable" and "CERTIFICATE_VERIFY_FAILED" in body["detail"]["message"]
    )
    (finding,) = next(op for op in result.operations if op.operation_id == "getHealth").findings
    assert finding.code == "XC503" and finding.is_error


def run_health(url: str, report_dir: Path, *extra: str) -> tuple[int, dict[str, object]]:
    args = ["run", "--base-url", url, "--username", "demo", "--password", "demo-password"]
    args += ["--include-operation-id", "getHealth", "--phases", "examples", "--max-examples", "1"]
    code = cli.main([*args, "--report-dir", str(report_dir), "--quiet", *extra])
    return code, json.loads((report_dir / "report.json").read_text())


def test_run_checks_an_untrusted_tls_target_only_with_no_tls_verify(https_url: str, tmp_path: Path) -> None:
    refused, refused_report = run_health(https_url, tmp_path / "verified")
    assert refused == 2 and refused_report["verdict"] == "not run", refused_report
    accepted, report = run_health(https_url, tmp_path / "unverified", "--no-tls-verify")
    assert accepted == 0 and report["exit_code"] == 0, report
