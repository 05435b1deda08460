"""The edge's web console (serving/console) without a browser: its event bus, JSON and SSE endpoints, try-it.

* ``EventBus``: publishing never blocks; a slow subscriber loses its oldest events (counted);
* ``/ui`` serves the page and only its own static files; ``/ui/api/info`` describes the edge;
* ``/ui/api/events`` streams a ``slot`` and a ``request`` event for a real ``/v1/generate`` upload,
  with the decision, the prediction and the edge's measurements; heartbeats come periodically; the
  stream ends when the server shuts down; ``/ui/api/slots`` returns the same slot with measurements;
* try-it: bad uploads get the API's clear 4xx errors; a good one runs the simulated device over loopback
  (tiny components, 64 px, 2-4 steps) and reports the condition, the decision, timings and the image.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
import time

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from _serving_support import jpeg_condition, meta_dict, multipart, small_scenario_file
from mobigen.serving.app import create_app
from mobigen.serving.console import console_router, console_url
from mobigen.serving.events import EventBus, RequestEvent
from mobigen.serving.server import ServerThread
from mobigen.serving.settings import ServerSettings
from mobigen.settings import weights_dir

pytestmark = pytest.mark.filterwarnings("ignore")

SIZE = 64


def png_bytes(h: int = 96, w: int = 128, seed: int = 0) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def try_form(**over) -> dict:  # noqa: ANN003
    d = {"prompt": "a house by a lake", "omega_I": "0.5", "qoe_threshold": "0.6", "device_type": "1", "seed": "3"}
    d.update(over)
    return d


def http_json(url: str, path: str) -> dict:
    return httpx.get(f"{url}{path}", timeout=10).json()


def sse_events(lines, want, timeout_s: float = 60.0) -> list[tuple[str, dict]]:  # noqa: ANN001
    """Read SSE frames from ``lines`` until ``want(events)`` is true; returns [(event, data)]."""
    events, kind, t_end = [], None, time.monotonic() + timeout_s
    for line in lines:
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            events.append((kind, json.loads(line[6:])))
            if want(events):
                return events
        if time.monotonic() > t_end:
            break
    raise AssertionError(f"the stream ended or timed out before the wanted events; got {[k for k, _ in events]}")


# ---- the bus ----------------------------------------------------------------------------------
def test_bus_never_blocks_and_drops_oldest_for_a_slow_subscriber():
    async def main() -> None:
        bus = EventBus(history=10)
        slow = bus.subscribe(maxsize=4)
        for i in range(50):  # nobody reads: publishing must still return at once
            bus.publish(RequestEvent(f"r{i}", 0, "edge_completed", "image", 1, 2, {}))
        assert slow.dropped == 46
        got = [(await slow.get(0.1))[1].request_id for _ in range(4)]
        assert got == ["r46", "r47", "r48", "r49"]  # the newest survive
        assert await slow.get(0.05) is None
        assert [e.request_id for _, e in bus.recent()] == [f"r{i}" for i in range(40, 50)]  # ring buffer
        seqs = [s for s, _ in bus.recent()]
        assert seqs == sorted(seqs) and len(set(seqs)) == 10

        def other_thread() -> None:
            bus.publish(RequestEvent("from-thread", 0, "completed", "none", 0, 0, {}))

        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        item = await slow.get(2.0)
        assert item is not None and item[1].request_id == "from-thread"
        slow.close()
        assert bus.n_subscribers == 0

    asyncio.run(main())


def test_bus_rejects_bad_sizes():
    with pytest.raises(ValueError, match="history"):
        EventBus(history=0)

    async def main() -> None:
        with pytest.raises(ValueError, match="maxsize"):
            EventBus().subscribe(maxsize=0)

    asyncio.run(main())


def test_console_url():
    assert console_url("0.0.0.0", 8000) == "http://127.0.0.1:8000/ui/"
    assert console_url("127.0.0.1", 9) == "http://127.0.0.1:9/ui/"
    assert console_url("::1", 80) == "http://[::1]:80/ui/"
    assert console_url("::", 80) == "http://[::1]:80/ui/"  # an IPv6 wildcard bind is shown as loopback


def test_loopback_url_is_the_accepting_socket_with_wildcards_as_loopback():
    from types import SimpleNamespace

    from mobigen.serving.console.router import loopback_url

    def url(server):  # noqa: ANN001, ANN202
        return loopback_url(SimpleNamespace(scope={"server": server}))

    assert url(("127.0.0.1", 8123)) == "http://127.0.0.1:8123"
    assert url(("0.0.0.0", 80)) == "http://127.0.0.1:80"
    assert url(("::", 81)) == "http://[::1]:81" and url(("::1", 82)) == "http://[::1]:82"
    assert url(None) == "http://127.0.0.1:80"  # no socket in the scope (an in-process test client)


# ---- page and JSON (TestClient, control plane only: nothing generated) --------------------------
@pytest.fixture()
def plane_app(tmp_path):
    s = ServerSettings(port=0, scenario=small_scenario_file(tmp_path), denoise="none",
                       slot_ms=20, max_users=2, shape_downlink=False)
    return create_app(s)


def test_page_static_files_and_info(plane_app):
    with TestClient(plane_app) as c:
        r = c.get("/ui", follow_redirects=False)
        assert r.status_code in (307, 302) and r.headers["location"] == "/ui/"
        r = c.get("/ui/")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        page = r.text
        assert "/ui/static/console.js" in page and "/ui/static/console.css" in page
        assert "simulated" in page.lower() and "surrogate" in page
        assert "http://" not in page and "https://" not in page  # no fetch from the network
        for name, ctype in (("console.js", "text/javascript"), ("console.css", "text/css")):
            r = c.get(f"/ui/static/{name}")
            assert r.status_code == 200 and r.headers["content-type"].startswith(ctype) and len(r.content) > 500
            assert "https://" not in r.text
        assert c.get("/ui/static/index.py").status_code == 404
        assert c.get("/ui/static/..%2Frouter.py").status_code == 404
        info = c.get("/ui/api/info").json()
        assert info["controller"] == "exact" and info["generates"] is False
        assert info["steps"] == [2, 4] and len(info["device_types"]) == 5
        assert info["max_body_bytes"] == plane_app.state.settings.max_body_bytes
        slots = c.get("/ui/api/slots").json()
        assert slots["slots"] == [] and slots["worker_queue"] == 0
        assert c.get("/ui/api/slots?limit=0").status_code == 422


def test_try_it_bad_uploads_get_clear_errors(plane_app):
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * plane_app.state.settings.max_body_bytes
    with TestClient(plane_app) as c:
        cases = [
            ({"image": ("x.png", png_bytes()[:300], "image/png")}, try_form(), 422, "invalid_image", "truncated"),
            ({"image": ("x.txt", b"hello, not an image", "text/plain")}, try_form(), 422, "invalid_image",
             "not a readable image"),
            ({"image": ("x.png", b"", "image/png")}, try_form(), 422, "invalid_image", "empty"),
            ({"image": ("x.png", big, "image/png")}, try_form(), 413, "body_too_large", "exceeds the limit"),
            ({"image": ("x.png", png_bytes(), "image/png")}, try_form(omega_I="1.5"), 422, "invalid_request", "omega_I"),
            ({"image": ("x.png", png_bytes(), "image/png")}, try_form(device_type="9"), 422, "invalid_request",
             "field 'device_type'"),
            ({"image": ("x.png", png_bytes(), "image/png")}, try_form(prompt=""), 422, "invalid_request", "prompt"),
            ({}, try_form(), 422, "invalid_request", "image"),
        ]
        for files, data, status, error, words in cases:
            r = c.post("/ui/api/try", files=files or None, data=data)
            assert r.status_code == status, (error, r.text)
            body = r.json()
            assert body["error"] == error and words in body["detail"], body
            if error == "invalid_image":
                assert "field 'image'" in body["detail"]
        assert c.get("/health").json()["status"] == "ok"  # the server goes on serving


# ---- SSE over a real socket -----------------------------------------------------------------
def test_sse_streams_slot_and_request_events_and_json_agrees(plane_app):
    with ServerThread(plane_app) as srv, httpx.Client(base_url=srv.url, timeout=30) as http:
        with http.stream("GET", "/ui/api/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            sse_events(lines, lambda ev: ev[-1][0] == "heartbeat")  # sent at once on connect
            metas = [meta_dict(device_type=k, request_id=f"console-test-{k}", omega_I=0.3 + 0.2 * k) for k in range(2)]
            replies = []

            def upload(m: dict) -> None:
                replies.append(httpx.post(f"{srv.url}/v1/generate", files=multipart(m, jpeg_condition(1)), timeout=30))

            threads = [threading.Thread(target=upload, args=(m,)) for m in metas]
            for t in threads:
                t.start()
            ids = {m["request_id"] for m in metas}
            events = sse_events(lines, lambda ev: {d.get("request_id") for k, d in ev if k == "request"} >= ids
                                and {u["request_id"] for k, d in ev if k == "slot" for u in d["users"]} >= ids)
            for t in threads:
                t.join()
        recent = http.get("/ui/api/slots", params={"limit": 10}).json()
    assert all(r.status_code == 200 for r in replies)
    slots = [d for k, d in events if k == "slot"]
    users = {u["request_id"]: (s["slot_id"], u) for s in slots for u in s["users"]}
    assert set(users) >= ids
    for m in metas:
        _, u = users[m["request_id"]]
        assert (u["condition"], u["alpha"], u["beta"], u["codec"]) == ("canny", 0.25, 0.5, "jpeg")
        assert u["omega_I"] == pytest.approx(m["omega_I"]) and u["qoe_threshold"] == pytest.approx(0.6)
        assert 2 <= u["T"] <= 4 and u["edge_steps"] + u["local_steps"] == u["T"]
        assert u["uplink_bytes"] == len(jpeg_condition(1))
        p = u["predicted"]
        assert p["L"] == pytest.approx(p["L1"] + p["L2"]) and p["L2"] >= p["edge"] > 0
        assert 0 <= u["Q"] <= 1 and u["satisfied"] == (u["Q"] >= u["qoe_threshold"])
    for s in slots:
        assert s["quality_backend"] == "surrogate" and s["edge_budget_steps"] > 0 and s["K"] == len(s["users"])
        assert s["edge_used_steps"] == sum(u["edge_steps"] for u in s["users"])
    reqs = {d["request_id"]: d for k, d in events if k == "request"}
    by_id = {r.headers["x-mobigen-request-id"]: r for r in replies}
    for rid in ids:
        assert reqs[rid]["downlink_bytes"] == len(by_id[rid].content)  # what the device received
        assert reqs[rid]["timings"]["server_total_s"] > 0 and reqs[rid]["slot_id"] == users[rid][0]
    # the JSON endpoint: the same slots, each user's measurements merged in
    merged = {u["request_id"]: u for s in recent["slots"] for u in s["users"]}
    for rid in ids:
        assert merged[rid]["T"] == users[rid][1]["T"]
        assert merged[rid]["measured"]["downlink_bytes"] == reqs[rid]["downlink_bytes"]
        assert merged[rid]["device"] is None  # no device reported its own measurements


def test_sse_heartbeats_and_ends_at_shutdown(plane_app):
    svc, settings = plane_app.state.service, plane_app.state.settings
    plane_app.include_router(console_router(svc, settings, heartbeat_s=0.2), prefix="/fast")
    srv = ServerThread(plane_app).start()
    beats: list[dict] = []
    done = threading.Event()

    def read() -> None:
        with httpx.stream("GET", f"{srv.url}/fast/ui/api/events", timeout=30) as stream:
            kind = None
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "heartbeat":
                    beats.append(json.loads(line[6:]))
        done.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    t_end = time.monotonic() + 20
    while len(beats) < 4 and time.monotonic() < t_end:
        time.sleep(0.05)
    assert len(beats) >= 4, beats  # one at connect, then one every heartbeat_s
    assert all(b["closing"] is False and b["dropped"] == 0 for b in beats)
    srv.stop(timeout_s=20)
    assert done.wait(10), "the event stream did not end when the server shut down"


# ---- try-it with the simulated device (tiny components over loopback) ------------------------------
@pytest.fixture()
def tiny_server(tmp_path):
    s = ServerSettings(port=0, scenario=small_scenario_file(tmp_path), image_size=SIZE, slot_ms=30, max_users=2)
    with ServerThread(create_app(s)) as srv:
        yield srv


_EXTRACTOR_MODELS = [weights_dir() / d for d in ("pidinet", "mobilepydnet", "deeplabv3_mnv2_ade20k")]
needs_extractor_models = pytest.mark.skipif(
    not all(d.is_dir() for d in _EXTRACTOR_MODELS),
    reason=f"the simulated device's extractor models are not all present under {weights_dir()} (set MOBIGEN_WEIGHTS)")


@needs_extractor_models
def test_try_it_runs_the_simulated_device(tiny_server):
    from PIL import Image

    with httpx.Client(base_url=tiny_server.url, timeout=120) as http:
        r = http.post("/ui/api/try", files={"image": ("photo.png", png_bytes(), "image/png")}, data=try_form())
        assert r.status_code == 200, r.text
        j = r.json()
        assert j["simulated"] is True and j["components"].startswith("tiny")
        d = j["decision"]
        assert 2 <= d["T"] <= 4 and d["edge_steps"] + d["local_steps"] == d["T"]
        cond = base64.b64decode(j["condition"]["data_url"].split(",", 1)[1])
        assert len(cond) == j["condition"]["bytes"] == j["bytes"]["condition"]
        v = j["vce"]
        from mobigen.conditions import codec

        assert codec.sniff(cond) == v["codec"] and j["condition"]["width"] == codec.side(v["alpha"])
        img = Image.open(io.BytesIO(base64.b64decode(j["image"]["data_url"].split(",", 1)[1])))
        assert img.size == (SIZE, SIZE) and "noise" in j["image"]["note"]
        m = j["measured"]
        assert m["L"] == pytest.approx(m["L1"] + m["L2"]) and m["uplink"] > 0
        assert j["predicted"]["quality_backend"] == "surrogate"
        state = http.get(f"/v1/requests/{j['request_id']}").json()
        assert state["status"] in ("completed", "edge_completed")  # the device confirmed, or o = 1
        if d["local_steps"] > 0:
            assert j["completion"]["status"] == "completed" and j["bytes"]["payload_kind"] == "latent"
        merged = {u["request_id"]: u for s in http.get("/ui/api/slots").json()["slots"] for u in s["users"]}
        u = merged[j["request_id"]]
        assert u["device"]["simulated"] is True and u["device"]["measured"]["L"] == pytest.approx(m["L"])
        assert u["measured"]["downlink_bytes"] == j["bytes"]["downlink"]
        assert u["T"] == d["T"] and u["condition"] == v["condition"]


def test_try_it_on_a_control_plane_edge_gives_the_decision_without_an_image(plane_app):
    with ServerThread(plane_app) as srv, httpx.Client(base_url=srv.url, timeout=120) as http:
        r = http.post("/ui/api/try", files={"image": ("photo.png", png_bytes(seed=2), "image/png")},
                      data=try_form(device_type="0", omega_I="0.8"))
        assert r.status_code == 200, r.text
        j = r.json()
        assert j["image"] is None and j["bytes"]["payload_kind"] == "none" and j["simulated"] is True
        assert 2 <= j["decision"]["T"] <= 4
        assert http.get(f"/v1/requests/{j['request_id']}").json()["status"] in ("completed", "edge_completed")


def test_serve_prints_the_console_url_and_serves_it(tmp_path):
    """`mobigen serve` (control plane, a free loopback port) prints the console's URL, and that URL answers."""
    import os
    import queue
    import signal
    import subprocess
    import sys

    from mobigen.serving.server import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mobigen.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--no-denoise", "--scenario", small_scenario_file(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    try:
        url, seen, t_end = None, [], time.monotonic() + 60
        while url is None and time.monotonic() < t_end:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            seen.append(line)
            if line.startswith("web console: "):
                url = line.split()[2]
        assert url == f"http://127.0.0.1:{port}/ui/", seen
        page = None
        while page is None and time.monotonic() < t_end:
            try:
                page = httpx.get(url, timeout=2)
            except httpx.TransportError:
                time.sleep(0.2)
        assert page is not None and page.status_code == 200 and "mobigen edge console" in page.text
        # a malformed multipart body: one 400, and no parser warning in the server's log
        bad = httpx.post(f"http://127.0.0.1:{port}/v1/generate", content=b"garbage--XYZ--", timeout=10,
                         headers={"content-type": "multipart/form-data; boundary=XYZ"})
        assert bad.status_code == 400 and bad.json()["error"] == "malformed_multipart"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
    time.sleep(0.2)  # the reader thread drains the last lines
    while not lines.empty():
        seen.append(lines.get())
    assert not [x for x in seen if "python_multipart" in x], seen


def test_try_it_admits_a_bounded_number_and_refuses_more_with_429(plane_app, monkeypatch):
    from mobigen.serving.console import device as device_mod
    from mobigen.serving.console.router import MAX_WAITING

    release = threading.Event()
    started = threading.Event()

    def blocked_run(self, url, req):  # noqa: ANN001, ANN202 - stands in for the device: holds it until released
        started.set()
        release.wait(30)
        raise ValueError("field 'test': released")

    monkeypatch.setattr(device_mod.SimulatedDevice, "run", blocked_run)
    with ServerThread(plane_app) as srv:
        results: list[int] = []

        def post() -> None:
            r = httpx.post(f"{srv.url}/ui/api/try", files={"image": ("p.png", png_bytes(), "image/png")},
                           data=try_form(), timeout=60)
            results.append(r.status_code)

        threads = [threading.Thread(target=post) for _ in range(MAX_WAITING)]
        for t in threads:
            t.start()
        assert started.wait(30)
        t_end = time.monotonic() + 30
        while http_json(srv.url, "/ui/api/slots")["try_waiting"] < MAX_WAITING and time.monotonic() < t_end:
            time.sleep(0.05)
        assert http_json(srv.url, "/ui/api/slots")["try_waiting"] == MAX_WAITING
        extra = httpx.post(f"{srv.url}/ui/api/try", files={"image": ("p.png", png_bytes(), "image/png")},
                           data=try_form(), timeout=60)
        assert extra is not None and extra.status_code == 429 and extra.json()["error"] == "busy"
        assert httpx.get(f"{srv.url}/health").json()["status"] == "ok"  # the edge itself goes on serving
        release.set()
        for t in threads:
            t.join(30)
    assert results == [422] * MAX_WAITING  # each admitted one got the (stand-in) device's answer


def test_try_it_without_the_extractor_models_is_a_clear_503_and_the_edge_serves_on(plane_app, monkeypatch):
    """A machine without the chosen condition's extractor model (PiDiNet, PyDNet, DeepLab): the
    simulated device's extraction raises ``WeightsMissingError``; the console answers 503
    ``device_models_missing`` naming the model and MOBIGEN_WEIGHTS (a setup problem, not a 500), and the
    edge's own API goes on serving."""
    from mobigen.conditions import extractors
    from mobigen.conditions.base import WeightsMissingError

    def missing(condition, image):  # noqa: ANN001, ANN202 - the extractor of an absent model
        raise WeightsMissingError(f"{condition}: model 'pidinet' not found (set MOBIGEN_WEIGHTS)")

    monkeypatch.setattr(extractors, "extract", missing)
    with ServerThread(plane_app) as srv, httpx.Client(base_url=srv.url, timeout=60) as http:
        r = http.post("/ui/api/try", files={"image": ("photo.png", png_bytes(), "image/png")}, data=try_form())
        assert r.status_code == 503, r.text
        j = r.json()
        assert j["error"] == "device_models_missing" and "MOBIGEN_WEIGHTS" in j["detail"] and "pidinet" in j["detail"]
        assert http.get("/health").json()["status"] == "ok"
        ok = http.post("/v1/generate", files=multipart(meta_dict(request_id="after-missing-1"), jpeg_condition()))
        assert ok.status_code == 200, ok.text
        assert http_json(srv.url, "/ui/api/slots")["try_waiting"] == 0
