"""The edge server's HTTP API on a real loopback socket (control-plane mode: no denoising).

Reliability (issue 6 item 5): malformed requests get a 4xx with a clear message while the other
users of the same slot are served; a client that disconnects mid-slot holds nobody up; the
metrics count what happened.
"""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest

from _serving_support import StepQuality, jpeg_condition, meta_dict, multipart
from mobigen.control.exact import ExactController
from mobigen.serving.app import create_app
from mobigen.serving.client import build_multipart
from mobigen.serving.protocol import decode_result
from mobigen.serving.server import ServerThread
from mobigen.serving.settings import ServerSettings


class _RayEdge:
    """The edge app on the session's local Ray Serve (tests/_ray_support.py): what the tests use of a
    ``ServerThread`` (its ``url``)."""

    def __init__(self, url: str) -> None:
        self.url = url


@pytest.fixture(scope="module", params=["embedded", "ray"])
def server(request):
    """The same /v1 API on both engines: embedded (uvicorn in a thread) and a Ray Serve application."""
    settings = ServerSettings(port=0, denoise="none", slot_ms=300, max_users=3, max_body_bytes=200_000,
                              max_condition_bytes=100_000, completion_deadline_s=1.0, shape_downlink=False)
    if request.param == "ray":
        from _ray_support import deploy, undeploy

        name, url = deploy(settings, controller=ExactController(), quality_model=StepQuality())
        try:
            yield _RayEdge(url)
        finally:
            undeploy(name)
        return
    app = create_app(settings, controller=ExactController(), quality_model=StepQuality())
    with ServerThread(app) as srv:
        yield srv


def post(url: str, **kw):  # noqa: ANN003, ANN201
    return httpx.post(f"{url}/v1/generate", timeout=30, **kw)


def gated_server(max_users: int) -> ServerThread:
    """A server whose slot closes only when ``max_users`` requests are in (a 60 s window that the
    tests never reach): which requests share a slot does not depend on the machine's speed."""
    settings = ServerSettings(port=0, denoise="none", slot_ms=60_000, max_users=max_users, shape_downlink=False,
                              completion_deadline_s=1.0)
    return ServerThread(create_app(settings, controller=ExactController(), quality_model=StepQuality()))


def test_health_and_one_request(server):
    h = httpx.get(f"{server.url}/health").json()
    assert h["status"] == "ok" and h["api"] == "/v1" and h["controller"] == "exact"
    assert h["quality_backend"] == "test-model"
    r = post(server.url, files=multipart(meta_dict(request_id="single-000001"), jpeg_condition()))
    assert r.status_code == 200, r.text
    meta, payload = decode_result(r.content)
    assert meta["request_id"] == "single-000001" and payload == b""
    assert meta["payload_kind"] == "none" and meta["slot_size"] == 1
    d = meta["decision"]
    assert 5 <= d["T"] <= 30 and d["edge_steps"] + d["local_steps"] == d["T"]
    assert meta["model"]["quality_backend"] == "test-model"
    assert meta["timings"]["queue_s"] >= 0.25  # alone in its slot: waited for the 300 ms window


BAD_CASES = [
    # (name, request kwargs builder, expected status, text that the message must contain)
    ("not multipart (JSON)", lambda: {"json": meta_dict()}, 415, "multipart/form-data"),
    ("not multipart (text)", lambda: {"content": b"hello", "headers": {"content-type": "text/plain"}}, 415, "multipart"),
    ("meta not JSON", lambda: {"files": multipart("{not json", jpeg_condition())}, 422, "meta"),
    ("wrong type", lambda: {"files": multipart(meta_dict(alpha="big"), jpeg_condition())}, 422, "meta.alpha"),
    ("missing field", lambda: {"files": multipart({k: v for k, v in meta_dict().items() if k != "prompt"},
                                                  jpeg_condition())}, 422, "meta.prompt"),
    ("missing condition", lambda: {"files": multipart(meta_dict(), None)}, 422, "'condition': missing"),
    ("omega above 1", lambda: {"files": multipart(meta_dict(omega_I=1.5), jpeg_condition())}, 422, "meta.omega_I"),
    ("omega below 0", lambda: {"files": multipart(meta_dict(omega_I=-0.1), jpeg_condition())}, 422, "meta.omega_I"),
    ("unknown condition type", lambda: {"files": multipart(meta_dict(condition="sketch"), jpeg_condition())}, 422,
     "meta.condition"),
    ("alpha not in Table I", lambda: {"files": multipart(meta_dict(alpha=0.3), jpeg_condition())}, 422, "alpha"),
    ("extra field", lambda: {"files": multipart(meta_dict(colour="red"), jpeg_condition())}, 422, "meta.colour"),
    ("corrupt condition", lambda: {"files": multipart(meta_dict(), jpeg_condition()[:200] + b"\x00" * 50)}, 422,
     "condition"),
    ("not an image", lambda: {"files": multipart(meta_dict(), b"GIF89a" + b"\x00" * 100)}, 422, "condition"),
    ("codec mismatch", lambda: {"files": multipart(meta_dict(codec="png"), jpeg_condition())}, 422, "meta.codec"),
    ("oversized condition", lambda: {"files": multipart(meta_dict(), b"\xff\xd8\xff" + b"\x00" * 150_000)}, 413,
     "condition"),
    ("oversized body", lambda: {"files": multipart(meta_dict(), b"\xff\xd8\xff" + b"\x00" * 300_000)}, 413,
     "exceeds the limit"),
]


@pytest.mark.parametrize("name,build,status,needle", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_malformed_request_gets_clear_4xx(server, name, build, status, needle):
    r = post(server.url, **build())
    assert r.status_code == status, (name, r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error", "detail"}
    assert needle in body["detail"], body
    assert httpx.get(f"{server.url}/health").json()["status"] == "ok"  # still up


def test_condition_larger_than_512_is_refused(server):
    import cv2
    import numpy as np

    big = np.zeros((600, 600), np.uint8)
    ok, buf = cv2.imencode(".jpg", big)
    r = post(server.url, files=multipart(meta_dict(), buf.tobytes()))
    assert r.status_code == 422 and "larger than 512x512" in r.json()["detail"]


def test_streamed_body_over_limit_is_refused_without_content_length(server):
    def gen():  # noqa: ANN202 - chunked upload that lies about nothing but is too long
        for _ in range(50):
            yield b"x" * 10_000

    r = httpx.post(f"{server.url}/v1/generate", content=gen(),
                   headers={"content-type": "multipart/form-data; boundary=abc"}, timeout=30)
    assert r.status_code == 413 and "exceeds the limit" in r.json()["detail"]


def test_bad_requests_do_not_disturb_the_slot():
    """Three users share a slot while bad requests arrive between them: all three are answered
    from ONE slot of size 3, every bad one gets its 4xx. The slot closes at K = 3 (no window in
    reach), so a bad request that joined it would leave a good one waiting: the test would fail."""
    results: dict[str, httpx.Response] = {}
    with gated_server(max_users=3) as srv:
        def good(i: int) -> None:
            results[f"good{i}"] = post(srv.url, files=multipart(meta_dict(device_type=i, request_id=f"goodslot-{i:04d}"),
                                                                jpeg_condition(i)))

        def bad(i: int) -> None:
            results[f"bad{i}"] = post(srv.url, files=multipart(meta_dict(omega_I=7), jpeg_condition(i)))

        threads = [threading.Thread(target=f, args=(i,)) for i in range(3) for f in (good, bad)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    slots = set()
    for i in range(3):
        r = results[f"good{i}"]
        assert r.status_code == 200, r.text
        meta, _ = decode_result(r.content)
        slots.add((meta["slot_id"], meta["slot_size"]))
        assert results[f"bad{i}"].status_code == 422
    assert len(slots) == 1 and next(iter(slots))[1] == 3


def test_duplicate_request_id_is_refused(server):
    m = meta_dict(request_id="dup-00000001")
    assert post(server.url, files=multipart(m, jpeg_condition())).status_code == 200
    r = post(server.url, files=multipart(m, jpeg_condition()))
    assert r.status_code == 409 and "request_id" in r.json()["detail"]


def _raw_request(url: str, body: bytes, ctype: str, send_all: bool) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=5)
    head = (f"POST /v1/generate HTTP/1.1\r\nHost: {host}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    s.sendall(head + (body if send_all else body[: len(body) // 2]))
    return s


def test_client_disconnecting_mid_slot_holds_nobody_up():
    """A stalled upload never becomes a request and a vanished client's request is still decided:
    the slot (closing at K = 2 only) is filled by the vanished and the patient request."""
    with gated_server(max_users=2) as srv:
        body_a, ctype_a = build_multipart(meta_dict(request_id="stalled-00001"), jpeg_condition(1))
        body_b, ctype_b = build_multipart(meta_dict(request_id="vanish-000001"), jpeg_condition(2))
        stalled = _raw_request(srv.url, body_a, ctype_a, send_all=False)  # half a body, then silence
        vanished = _raw_request(srv.url, body_b, ctype_b, send_all=True)  # a full request, then gone
        t_end = time.monotonic() + 20
        while httpx.get(f"{srv.url}/v1/requests/vanish-000001").status_code == 404:  # wait until it joined
            assert time.monotonic() < t_end, "the vanished client's request never joined the slot"
            time.sleep(0.01)
        vanished.close()
        r = post(srv.url, files=multipart(meta_dict(request_id="patient-00001"), jpeg_condition(3)))
        stalled.close()
        assert r.status_code == 200
        meta, _ = decode_result(r.content)
        # the vanished client's request was decided in the same slot and still has a status
        assert meta["slot_size"] == 2
        st = httpx.get(f"{srv.url}/v1/requests/vanish-000001").json()
        assert st["status"] in ("edge_completed", "awaiting_device", "failed", "abandoned"), st
        assert httpx.get(f"{srv.url}/v1/requests/stalled-00001").status_code == 404  # never became a request


def test_device_that_never_confirms_is_reported_failed_in_control_plane_mode():
    """Control-plane mode runs no generation, so a missed deadline cannot be taken over: the request
    must end 'failed' with the reason, never vanish. A fixed o = 0.5 makes the deadline apply."""
    from _serving_support import FixedController

    settings = ServerSettings(port=0, denoise="none", slot_ms=50, max_users=1, completion_deadline_s=0.3,
                              shape_downlink=False)
    app = create_app(settings, controller=FixedController(T=10, o=0.5), quality_model=StepQuality())
    with ServerThread(app) as srv:
        r = post(srv.url, files=multipart(meta_dict(device_type=2, request_id="noconfirm-0001"), jpeg_condition()))
        assert r.status_code == 200, r.text
        meta, _ = decode_result(r.content)
        assert meta["status"] == "awaiting_device" and meta["decision"]["local_steps"] == 5
        t_end = time.monotonic() + 10
        while (st := httpx.get(f"{srv.url}/v1/requests/noconfirm-0001").json())["status"] == "awaiting_device":
            assert time.monotonic() < t_end, st
            time.sleep(0.05)
        assert st["status"] == "failed" and "did not confirm" in st["detail"] and "control plane only" in st["detail"]
        late = httpx.post(f"{srv.url}/v1/requests/noconfirm-0001/complete", json={"ok": True})
        assert late.status_code == 409 and "failed" in late.json()["detail"]


def test_completion_endpoint_errors(server):
    assert httpx.post(f"{server.url}/v1/requests/nope-00000001/complete", json={}).status_code == 404
    r = httpx.post(f"{server.url}/v1/requests/single-000001/complete", content=b"{bad")
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"
    r = httpx.post(f"{server.url}/v1/requests/single-000001/complete", json={"ok": True})
    assert r.status_code == 409 and "not awaiting" in r.json()["detail"]  # o_k = 1: nothing to confirm


def test_metrics_expose_counts(server):
    text = httpx.get(f"{server.url}/metrics").text
    for name in ("mobigen_requests_total", "mobigen_slot_size_bucket", "mobigen_decision_seconds_bucket",
                 "mobigen_uplink_bytes_total", "mobigen_downlink_bytes_total", "mobigen_errors_total",
                 "mobigen_control_overhead_seconds_bucket"):
        assert name in text, name
    ok = [line for line in text.splitlines() if line.startswith('mobigen_requests_total{outcome="200"}')]
    assert ok and float(ok[0].split()[-1]) >= 1
    assert 'mobigen_errors_total{kind="invalid_request"}' in text


def test_server_thread_binds_loopback_and_leaves_nothing_running():
    """A stopped server leaves no uvicorn thread, no edge worker thread and no listening socket."""
    settings = ServerSettings(port=0, denoise="none", slot_ms=50, max_users=1, shape_downlink=False)
    app = create_app(settings, controller=ExactController(), quality_model=StepQuality())
    srv = ServerThread(app).start()
    assert srv.host == "127.0.0.1" and srv.port > 0  # the port uvicorn actually bound
    assert httpx.get(f"{srv.url}/health").json()["status"] == "ok"
    srv.stop()
    worker = app.state.service.worker
    assert not srv.thread.is_alive() and not any(w._thread.is_alive() for w in worker.workers)  # noqa: SLF001
    assert worker.closed
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{srv.url}/health", timeout=2)
