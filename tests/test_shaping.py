"""Bandwidth shaping over real loopback sockets: measured transfer times match eq. (2)'s uplink term
D / B↑ and eqs. (6)/(7)'s downlink term D / B↓ within 10% at the scenario's 5 and 20 Mbps."""

from __future__ import annotations

import time

import pytest

from _serving_support import StepQuality, jpeg_condition
from mobigen.serving.bandwidth_check import echo_app, measure
from mobigen.serving.server import ServerThread
from mobigen.serving.shaping import bits_per_second
from mobigen.system import transfer_time_s

CASES = [(5.0, 32_768), (5.0, 65_536), (20.0, 131_072), (20.0, 262_144)]


@pytest.fixture(scope="module")
def echo_server():
    """The measuring app of serving.bandwidth_check (library shaping on both sides)."""
    with ServerThread(echo_app()) as srv:
        yield srv


@pytest.mark.parametrize("mbps,nbytes", CASES)
def test_measured_transfer_matches_model(echo_server, mbps, nbytes):
    r = measure(echo_server.url, mbps, nbytes)
    assert r["model_s"] == pytest.approx(8 * nbytes / (mbps * 1e6))  # D / B, eq. (2) and eqs. (6)/(7)
    assert r["uplink_ratio"] == pytest.approx(1.0, abs=0.10), r
    assert r["downlink_ratio"] == pytest.approx(1.0, abs=0.10), r


def test_unshaped_transfer_is_much_faster_than_the_model(echo_server):
    """The check can fail: without pacing, loopback moves 256 KB far faster than at 5 Mbps."""
    import httpx

    t0 = time.perf_counter()
    r = httpx.post(f"{echo_server.url}/xfer", params={"n": 10, "mbps": 1000.0}, content=b"x" * 262_144, timeout=30)
    assert time.perf_counter() - t0 < 0.5 * 8 * 262_144 / 5e6
    assert r.status_code == 200 and len(r.content) == 10


def test_live_upload_is_paced_at_the_declared_uplink(tmp_path):
    """Through the real /v1/generate path: the client's measured upload time of the whole body
    matches D_wire / B↑ within 10% (D_wire = condition + metadata + multipart framing)."""
    from mobigen.control.exact import ExactController
    from mobigen.serving.app import create_app
    from mobigen.serving.client import MobileClient, PreparedRequest
    from mobigen.serving.settings import ServerSettings

    settings = ServerSettings(port=0, denoise="none", slot_ms=20, max_users=1)
    app = create_app(settings, controller=ExactController(), quality_model=StepQuality())
    data = jpeg_condition(4, side=512)  # ≈ 80-90 KB of noisy edges
    with ServerThread(app) as srv, MobileClient(srv.url, uplink_mbps=10.0, downlink_mbps=10.0) as client:
        client.health()
        p = PreparedRequest("canny", 1.0, 0.5, "jpeg", data, 0.0, 0.0, 0.0)
        res = client.run(p, prompt="a dog", omega_I=0.5, qoe_threshold=0.6)
    model = float(transfer_time_s(res.uplink_bytes, bits_per_second(10.0)))
    assert model > 0.04
    assert res.uplink_s == pytest.approx(model, rel=0.10)
    # the server's eq. (2) term uses the condition bytes alone (the paper neglects the prompt [30])
    assert res.server["model"]["uplink_s"] == pytest.approx(float(transfer_time_s(len(data), 1e7)))
