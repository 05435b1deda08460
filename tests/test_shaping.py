"""Bandwidth shaping: the token bucket's schedule is eq. (2)'s uplink term D / B↑ and eqs. (6)/(7)'s
downlink term D / B↓, tested with an injected clock (no wall-clock timing in the default suite).

The real-time ratio over loopback sockets is ``mobigen bench shaping`` and the ``slow`` tests below;
the kernel-shaped link between two network namespaces is ``tests/test_network.py``."""

from __future__ import annotations

import asyncio

import pytest

from _serving_support import StepQuality, jpeg_condition
from mobigen.serving import shaping
from mobigen.serving.shaping import DEFAULT_CHUNK, TokenBucket, bits_per_second, shaped_chunks, shaped_chunks_sync
from mobigen.system import transfer_time_s

CASES = [(5.0, 32_768), (5.0, 65_536), (20.0, 131_072), (20.0, 262_144), (5.0, 6_000), (20.0, 1)]


class FakeTime:
    """A clock that only moves when something sleeps on it; ``overshoot`` is added to every sleep."""

    def __init__(self, overshoot: float = 0.0) -> None:
        self.now = 0.0
        self.overshoot = overshoot
        self.sleeps: list[float] = []

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, d: float) -> None:
        self.sleeps.append(d)
        self.now += d + self.overshoot

    async def async_sleep(self, d: float) -> None:
        self.sleep(d)


@pytest.mark.parametrize("mbps,nbytes", CASES)
def test_sync_schedule_is_exactly_d_over_b(mbps, nbytes):
    ft = FakeTime()
    data = bytes(range(256)) * (nbytes // 256) + b"x" * (nbytes % 256)
    released, out = [], bytearray()
    for piece in shaped_chunks_sync(data, bits_per_second(mbps), clock=ft.perf_counter, sleep=ft.sleep):
        out += piece
        released.append((len(out), ft.now))
    assert bytes(out) == data
    model = float(transfer_time_s(nbytes, bits_per_second(mbps)))  # eq. (2) / (6) / (7): 8 D / B
    assert model == pytest.approx(8 * nbytes / (mbps * 1e6))
    assert ft.now == pytest.approx(model, rel=1e-12)
    for sent, t in released:  # each chunk leaves exactly when 8·sent / B has elapsed
        assert t == pytest.approx(8 * sent / (mbps * 1e6), rel=1e-12)


@pytest.mark.parametrize("mbps,nbytes", CASES[:4])
def test_async_schedule_is_exactly_d_over_b(mbps, nbytes):
    ft = FakeTime()

    async def drain() -> bytes:
        return b"".join([p async for p in shaped_chunks(b"\x5a" * nbytes, bits_per_second(mbps),
                                                        clock=ft.perf_counter, sleep=ft.async_sleep)])

    assert asyncio.run(drain()) == b"\x5a" * nbytes
    assert ft.now == pytest.approx(8 * nbytes / (mbps * 1e6), rel=1e-12)


def test_sleep_overshoot_does_not_accumulate():
    """The schedule is computed from the start: a 1 ms overshoot on each of 64 sleeps costs 1 ms, not 64."""
    ft = FakeTime(overshoot=1e-3)
    n = 64 * DEFAULT_CHUNK
    list(shaped_chunks_sync(b"\0" * n, 5e6, clock=ft.perf_counter, sleep=ft.sleep))
    model = 8 * n / 5e6
    assert len(ft.sleeps) == 64
    assert model < ft.now <= model + 1e-3 + 1e-12


def test_unshaped_stream_never_sleeps_and_burst_is_free():
    ft = FakeTime()
    assert b"".join(shaped_chunks_sync(b"y" * 100_000, None, clock=ft.perf_counter, sleep=ft.sleep)) == b"y" * 100_000
    assert ft.sleeps == [] and ft.now == 0.0
    b = TokenBucket(8e3, burst_bytes=1000, clock=ft.perf_counter, sleep=ft.sleep)  # 1 kB/s, 1 kB burst
    assert b.delay_for(1000) == 0.0 and b.delay_for(500) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="rate_bps"):
        TokenBucket(0.0)


def test_live_upload_is_paced_at_the_declared_uplink(monkeypatch):
    """Through the real /v1/generate path, the client's pacing holds the whole body (condition + metadata +
    multipart framing) to exactly D_wire / B↑ on the shaping clock; the server's eq. (2) term uses the
    condition bytes alone (the paper neglects the prompt [30])."""
    from mobigen.control.exact import ExactController
    from mobigen.serving.app import create_app
    from mobigen.serving.client import MobileClient, PreparedRequest
    from mobigen.serving.server import ServerThread
    from mobigen.serving.settings import ServerSettings

    ft = FakeTime()
    settings = ServerSettings(port=0, denoise="none", slot_ms=20, max_users=1, shape_downlink=False)
    app = create_app(settings, controller=ExactController(), quality_model=StepQuality())
    data = jpeg_condition(4, side=512)  # ≈ 80-90 KB of noisy edges
    with ServerThread(app) as srv, MobileClient(srv.url, uplink_mbps=10.0, downlink_mbps=10.0) as client:
        client.health()
        monkeypatch.setattr(shaping, "time", ft)  # the client's bucket now runs on the fake clock
        p = PreparedRequest("canny", 1.0, 0.5, "jpeg", data, 0.0, 0.0, 0.0)
        res = client.run(p, prompt="a dog", omega_I=0.5, qoe_threshold=0.6)
    assert res.uplink_bytes > len(data) > 40_000
    assert ft.now == pytest.approx(float(transfer_time_s(res.uplink_bytes, bits_per_second(10.0))), rel=1e-12)
    assert res.server["model"]["uplink_s"] == pytest.approx(float(transfer_time_s(len(data), 1e7)))


# ------------------------------------------------------------------ real time over loopback (slow)

@pytest.fixture(scope="module")
def echo_server():
    """The measuring app of serving.bandwidth_check (library shaping on both sides)."""
    from mobigen.serving.bandwidth_check import echo_app
    from mobigen.serving.server import ServerThread

    with ServerThread(echo_app()) as srv:
        yield srv


@pytest.mark.slow
@pytest.mark.parametrize("mbps,nbytes", CASES[:4])
def test_measured_loopback_transfer_matches_model(echo_server, mbps, nbytes):
    """Wall-clock ratio (machine-load dependent; the benchmark is ``mobigen bench shaping``)."""
    from mobigen.serving.bandwidth_check import measure

    r = measure(echo_server.url, mbps, nbytes)
    assert r["uplink_ratio"] == pytest.approx(1.0, abs=0.10), r
    assert r["downlink_ratio"] == pytest.approx(1.0, abs=0.10), r
