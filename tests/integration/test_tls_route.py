"""HTTPS through `tracker run` with 2 workers and a locally made certificate, on each store."""

from __future__ import annotations

import http.client
import json
import ssl

import pytest
import trustme

from tests.integration.harness import free_port
from tests.integration.stores import StoreUnderTest

pytestmark = pytest.mark.integration


def test_https_serves_tracking_and_the_plain_port_redirects(
        tracker_factory, tmp_path, store: StoreUnderTest) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    tls_port = free_port()
    t = tracker_factory(Workers=2, ProxyPortTLS=f"127.0.0.1:{tls_port}", UseLocalTLS=True,
                        TLSCert=str(cert_path), TLSKey=str(key_path), Notify=store.notify).start()
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    for i in range(4):  # new connections: both workers answer HTTPS
        conn = http.client.HTTPSConnection("localhost", tls_port, context=client_ctx, timeout=10)
        conn.request("GET", f"/tr/v1/tr/ename/secure/score/{i}")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 204
        assert "Secure" in (resp.getheader("Set-Cookie") or "")  # cookies over TLS are Secure
        conn.close()
    status, headers, _ = t.request("GET", "/tr/v1/tr/ename/plain?x=1",
                                   headers={"Host": "localhost"})
    assert status == 301 and headers["location"] == f"https://localhost:{tls_port}/tr/v1/tr/ename/plain?x=1"
    assert t.request("GET", "/ping")[0] == 200  # probes stay on plain HTTP
    untrusted = ssl.create_default_context()
    with pytest.raises(ssl.SSLError):
        http.client.HTTPSConnection("localhost", tls_port, context=untrusted,
                                    timeout=10).request("GET", "/ping")
    assert t.stop() == 0
    assert store.rows(t, "SELECT count(*) FROM {events} WHERE ename = 'secure'") == [(4,)]
    assert store.rows(t, "SELECT count(*) FROM {events} WHERE ename = 'plain'") == [(0,)]


def test_tls_config_problems_are_reported(tmp_path) -> None:
    from tracker.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as info:
        parse_config({"ProxyPortTLS": ":8443", "UseLocalTLS": True,
                      "TLSCert": str(tmp_path / "missing.pem"), "TLSKey": str(tmp_path / "k")},
                     strict=True)
    assert any("no such file" in p for p in info.value.problems)
    with pytest.raises(ConfigError) as info:
        parse_config({"ProxyPortTLS": ":8443"}, strict=True)
    assert any("ProxyPortTLS" in p for p in info.value.problems)
    json.dumps(info.value.problems)
