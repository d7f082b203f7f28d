"""Browser-facing hardening (issue 18): the pages send `X-Content-Type-Options: nosniff` and a
CSP that allows only their own inline script and style (by hash) and requests to the service;
their scripts insert no markup; a service bound to the loopback refuses requests for other
`Host` names (DNS rebinding) with 421. Real HTTP against served classification services."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
import requests

from tests.helpers.classifier_service import classifier_service, start_classifier_service


@pytest.fixture(scope="module")
def loopback(tmp_path_factory):
    with classifier_service(tmp_path_factory.mktemp("loopback"), http_host="127.0.0.1") as served:
        yield served


def _inline_hash(page: str, tag: str) -> str:
    body = re.search(f"<{tag}>(.*?)</{tag}>", page, re.S).group(1)
    return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"


@pytest.mark.parametrize("path", ["/", "/docs"])
def test_pages_send_nosniff_and_a_csp_naming_only_their_own_script(loopback, path) -> None:
    reply = requests.get(f"http://127.0.0.1:{loopback.http_port}{path}", timeout=10)
    assert reply.status_code == 200 and reply.headers["X-Content-Type-Options"] == "nosniff"
    csp = dict(d.strip().split(" ", 1) for d in reply.headers["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'none'" and csp["connect-src"] == "'self'"
    assert csp["script-src"] == _inline_hash(reply.text, "script")
    assert csp["style-src"] == _inline_hash(reply.text, "style")
    assert "http" not in reply.headers["Content-Security-Policy"]  # nothing from elsewhere
    assert reply.text.count("<script") == 1 and reply.text.count("<style") == 1
    assert "innerHTML" not in reply.text and "outerHTML" not in reply.text


def test_openapi_json_is_not_sniffed(loopback) -> None:
    reply = requests.get(f"http://127.0.0.1:{loopback.http_port}/openapi.json", timeout=10)
    assert reply.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example",
                                  "localhost.evil.example:{port}", "10.0.0.1:{port}"])
@pytest.mark.parametrize(("method", "path"), [("GET", "/"), ("GET", "/health/ready"),
                                              ("POST", "/cls/prediction"),
                                              ("GET", "/v2/models/cls")])
def test_loopback_service_refuses_other_host_names(loopback, host, method, path) -> None:
    reply = requests.request(method, f"http://127.0.0.1:{loopback.http_port}{path}",
                             headers={"Host": host.format(port=loopback.http_port)},
                             json={"key": [], "value": []}, timeout=10)
    assert reply.status_code == 421, reply.text
    assert "bound to 127.0.0.1" in reply.text and "http_host" in reply.text


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "127.0.0.1", "localhost:{port}",
                                  "localhost", "LOCALHOST.", "[::1]:{port}", "[::1]"])
def test_loopback_service_answers_loopback_names(loopback, host) -> None:
    reply = requests.get(f"http://127.0.0.1:{loopback.http_port}/health/ready",
                         headers={"Host": host.format(port=loopback.http_port)}, timeout=10)
    assert reply.status_code == 200, reply.text


def test_a_service_bound_to_every_address_answers_any_host(tmp_path) -> None:
    served = start_classifier_service(tmp_path)  # http_host 0.0.0.0 (the default)
    try:
        reply = requests.get(f"http://127.0.0.1:{served.http_port}/health/ready",
                             headers={"Host": "service.example:80"}, timeout=10)
        assert reply.status_code == 200
    finally:
        served.stop(5)
