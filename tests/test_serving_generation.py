"""The live split generation on loopback with tiny components (64 px, 2-4 steps).

* the edge's ⌊o T⌋ steps + the device's remaining steps over the real wire give exactly the
  monolithic T-step image (fp32 handoff);
* a device that does not confirm by the deadline: the edge takes over when its budget allows
  (image retrievable), else the request is reported failed;
* graceful shutdown finishes queued work, or refuses it with a clear status.
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import numpy as np
import pytest

from _serving_support import FixedController, StepQuality, jpeg_condition, meta_dict, multipart, small_scenario_file
from mobigen.serving.app import create_app
from mobigen.serving.client import MobileClient, PreparedRequest
from mobigen.serving.protocol import decode_result
from mobigen.serving.server import ServerThread
from mobigen.serving.settings import ServerSettings
from mobigen.serving.splitrun import GenerationSpec, SplitRunner, condition_for_generation

pytestmark = pytest.mark.filterwarnings("ignore")

SIZE = 64


@pytest.fixture(scope="module")
def runner():
    """The edge's tiny components (seed 0), built once for the module."""
    r = SplitRunner(GenerationSpec(components="tiny", components_seed=0, image_size=SIZE, wire_mode="fp32"))
    _ = r.components
    return r


@pytest.fixture(scope="module")
def device_runner():
    """The device's OWN tiny components, built separately from the same seed (as a phone would)."""
    r = SplitRunner(GenerationSpec(components="tiny", components_seed=0, image_size=SIZE, wire_mode="fp32"))
    _ = r.components
    return r


def make_server(tmp_path, runner, controller, **kw):  # noqa: ANN001, ANN003, ANN201
    scenario = kw.pop("scenario", None) or small_scenario_file(tmp_path)
    settings = ServerSettings(port=0, scenario=scenario, image_size=SIZE, wire_mode="fp32", slot_ms=kw.pop("slot_ms", 100),
                              max_users=kw.pop("max_users", 1), shape_downlink=False, **kw)
    return create_app(settings, controller=controller, quality_model=StepQuality(), runner=runner)


def prepared(seed: int = 0) -> PreparedRequest:
    return PreparedRequest("canny", 0.25, 0.5, "jpeg", jpeg_condition(seed), 0.0, 0.0, 0.0)


def test_split_over_the_wire_equals_monolithic(tmp_path, runner, device_runner):
    from mobigen.conditions import codec
    from mobigen.generation.denoise import generate

    app = make_server(tmp_path, runner, FixedController(T=4, o=0.5))
    with ServerThread(app) as srv, MobileClient(srv.url, scenario=small_scenario_file(tmp_path), device_type=1,
                                                uplink_mbps=20, downlink_mbps=20, runner=device_runner) as client:
        p = prepared(1)
        res = client.run(p, prompt="a red car", omega_I=0.5, qoe_threshold=0.6, seed=11,
                         out_path=str(tmp_path / "out.png"))
        assert res.decision["edge_steps"] == 2 and res.decision["local_steps"] == 2
        assert res.payload_kind == "latent"
        assert res.completion["status"] == "completed"
        assert client.state(res.request_id)["status"] == "completed"
    from PIL import Image

    got = np.asarray(Image.open(tmp_path / "out.png"))
    cond = condition_for_generation(codec.decode(p.data), SIZE)
    want = generate(runner.components, prompt="a red car", condition_rgb_uint8=cond, condition_type="canny",
                    seed=11, total_steps=4)
    assert got.shape == (SIZE, SIZE, 3)
    assert np.array_equal(got, want)  # fp32 handoff: bit-exact split == monolithic


def test_full_offload_returns_the_image(tmp_path, runner, device_runner):
    app = make_server(tmp_path, runner, FixedController(T=3, o=1.0))
    with ServerThread(app) as srv, MobileClient(srv.url, scenario=small_scenario_file(tmp_path), device_type=0,
                                                uplink_mbps=20, downlink_mbps=20, runner=device_runner) as client:
        res = client.run(prepared(2), prompt="a cat", omega_I=0.2, qoe_threshold=0.6, seed=5)
        assert res.payload_kind == "image" and res.decision["local_steps"] == 0
        assert res.server["status"] == "edge_completed" and res.local_s < 0.5


def _submit_without_confirming(url: str, rid: str, device_type: int) -> dict:
    r = httpx.post(f"{url}/v1/generate", files=multipart(meta_dict(device_type=device_type, request_id=rid,
                                                                    alpha=0.25), jpeg_condition()), timeout=60)
    assert r.status_code == 200, r.text
    return decode_result(r.content)[0]


def _wait_final(url: str, rid: str, timeout_s: float = 30.0) -> dict:
    t_end = time.monotonic() + timeout_s
    while time.monotonic() < t_end:
        st = httpx.get(f"{url}/v1/requests/{rid}").json()
        if st["status"] not in ("awaiting_device", "edge_running", "queued", "deciding"):
            return st
        time.sleep(0.05)
    raise AssertionError(f"{rid} never reached a final status")


def test_missed_deadline_edge_takes_over_when_budget_allows(tmp_path, runner, device_runner):
    from mobigen.generation import wire

    app = make_server(tmp_path, runner, FixedController(T=4, o=0.5), completion_deadline_s=0.3)
    with ServerThread(app) as srv:
        meta = _submit_without_confirming(srv.url, "takeover-0001", device_type=1)
        assert meta["status"] == "awaiting_device" and meta["completion_deadline_s"] == pytest.approx(0.3)
        st = _wait_final(srv.url, "takeover-0001")
        assert st["status"] == "edge_completed", st
        assert "did not confirm" in st["detail"] and "2 remaining steps" in st["detail"]
        assert st["image_available"]
        img = wire.decode_payload(httpx.get(f"{srv.url}/v1/requests/takeover-0001/image").content)
        assert img.kind == "image" and img.steps_done == img.total_steps == 4
        late = httpx.post(f"{srv.url}/v1/requests/takeover-0001/complete", json={"ok": True})
        assert late.status_code == 409  # the edge already finished it; the late device is told so


def test_missed_deadline_without_edge_budget_is_reported_failed(tmp_path, runner):
    # C_E = 2 steps: the slot's 2 edge steps use it all, so the edge cannot run the 2 remaining ones
    scenario = small_scenario_file(tmp_path, edge_budget_steps=2.0, device_budget_ratios=(1.0,) * 5)
    app = make_server(tmp_path, runner, FixedController(T=4, o=0.5), completion_deadline_s=0.3, scenario=scenario)
    with ServerThread(app) as srv:
        meta = _submit_without_confirming(srv.url, "nobudget-0001", device_type=1)
        assert meta["decision"]["edge_steps"] == 2
        st = _wait_final(srv.url, "nobudget-0001")
        assert st["status"] == "failed" and "edge steps (C_E)" in st["detail"], st
        metrics = httpx.get(f"{srv.url}/metrics").text
        assert 'mobigen_completions_total{status="failed"} 1.0' in metrics


def test_device_reporting_failure_triggers_take_over(tmp_path, runner):
    app = make_server(tmp_path, runner, FixedController(T=4, o=0.5))
    with ServerThread(app) as srv:
        _submit_without_confirming(srv.url, "devfail-00001", device_type=1)
        r = httpx.post(f"{srv.url}/v1/requests/devfail-00001/complete", json={"ok": False})
        assert r.status_code == 200
        st = _wait_final(srv.url, "devfail-00001")
        assert st["status"] == "edge_completed" and "could not finish" in st["detail"]


def _concurrent_posts(url: str, n: int, prefix: str) -> dict[str, httpx.Response | Exception]:
    out: dict[str, httpx.Response | Exception] = {}

    def one(i: int) -> None:
        rid = f"{prefix}-{i:05d}"
        try:
            out[rid] = httpx.post(f"{url}/v1/generate", files=multipart(meta_dict(device_type=i % 5, request_id=rid),
                                                                         jpeg_condition(i)), timeout=60)
        except Exception as exc:  # noqa: BLE001 - recorded and asserted on
            out[rid] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return out, threads


class GatedRunner:
    """The module's runner, except that every edge job first waits for ``gate``: the test decides when
    the worker may proceed, so "one job running, three queued" is a state, not a timing accident."""

    def __init__(self, inner: SplitRunner) -> None:
        self.inner, self.spec, self.gate = inner, inner.spec, threading.Event()

    def ensure_ready(self) -> None:
        self.inner.ensure_ready()

    def run_edge(self, **kw):  # noqa: ANN003, ANN201
        if not self.gate.wait(60):
            raise TimeoutError("the test never opened the gate")
        return self.inner.run_edge(**kw)

    def finish(self, *a, **kw):  # noqa: ANN002, ANN003, ANN201
        return self.inner.finish(*a, **kw)


def _wait_until(cond, what: str, timeout_s: float = 30.0) -> None:  # noqa: ANN001
    t_end = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > t_end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def _one_running_three_queued(svc) -> bool:  # noqa: ANN001
    return svc.worker.busy and svc.worker.queued == 3


def test_graceful_shutdown_finishes_queued_requests(tmp_path, runner):
    gated = GatedRunner(runner)
    app = make_server(tmp_path, gated, FixedController(T=4, o=1.0), max_users=4, slot_ms=200, edge_max_batch=1)
    srv = ServerThread(app).start()
    svc = app.state.service
    stopper = threading.Thread(target=srv.stop)
    try:
        out, threads = _concurrent_posts(srv.url, 4, "finish")
        try:
            _wait_until(lambda: _one_running_three_queued(svc), "one edge job running and three queued")
            stopper.start()  # shutdown begins while three jobs are still queued ...
            _wait_until(lambda: svc.closing, "the shutdown to begin")
        finally:
            gated.gate.set()  # ... and only then may the worker go on
        stopper.join(60)
    finally:
        srv.stop()  # a no-op when the stopper already stopped it
    for t in threads:
        t.join(60)
    assert not stopper.is_alive() and not srv.thread.is_alive()
    assert len(out) == 4
    for rid, r in out.items():
        assert isinstance(r, httpx.Response) and r.status_code == 200, (rid, r)
        assert decode_result(r.content)[0]["status"] == "edge_completed"
        assert svc.records.get(rid).status == "edge_completed"
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{srv.url}/v1/generate", files=multipart(meta_dict(), jpeg_condition()), timeout=5)


def test_shutdown_refusing_queued_work_answers_each_request_clearly(tmp_path, runner):
    gated = GatedRunner(runner)
    app = make_server(tmp_path, gated, FixedController(T=4, o=1.0), max_users=4, slot_ms=100, edge_max_batch=1)
    srv = ServerThread(app).start()
    svc = app.state.service
    try:
        out, threads = _concurrent_posts(srv.url, 4, "refuse")
        try:
            _wait_until(lambda: _one_running_three_queued(svc), "one edge job running and three queued")
            fut = asyncio.run_coroutine_threadsafe(svc.aclose(finish=False, grace_s=0), svc._loop)  # noqa: SLF001
            _wait_until(lambda: svc.worker.closed, "the worker to refuse its queue")
        finally:
            gated.gate.set()
        fut.result(60)
        for t in threads:
            t.join(60)
        codes = {rid: r.status_code for rid, r in out.items()}
        assert sorted(codes.values()) == [200, 503, 503, 503], codes  # the running job ends, the queued three are refused
        for rid, r in out.items():
            state = svc.records.get(rid)
            if r.status_code == 503:
                body = r.json()
                assert body["error"] == "shutting_down" and "refused" in body["detail"]
                assert state.status == "refused", (rid, state.status, state.detail)
            else:
                assert decode_result(r.content)[0]["status"] == "edge_completed"
                assert state.status == "edge_completed"
        late = httpx.post(f"{srv.url}/v1/generate", files=multipart(meta_dict(), jpeg_condition()), timeout=10)
        assert late.status_code == 503 and "shutting down" in late.json()["detail"]
    finally:
        srv.stop()


def test_torch_threads_setting_is_applied_when_the_embedded_server_starts(tmp_path, runner):
    """``torch_threads`` (``mobigen serve --torch-threads``) sets torch's intra-op threads as the server
    starts; 0 (the default) leaves them alone; a negative count is refused naming the field."""
    import torch
    from fastapi.testclient import TestClient

    from mobigen.cli import build_parser
    from mobigen.commands import serve as serve_cmd

    def fresh_thread_sees() -> int:  # torch keeps one count per thread once it is used there; a new
        got: list[int] = []          # thread (as the server's worker threads are) takes the global one
        t = threading.Thread(target=lambda: got.append(torch.get_num_threads()))
        t.start()
        t.join()
        return got[0]

    before = torch.get_num_threads()
    want = 1 if before != 1 else 2
    try:
        app = make_server(tmp_path, runner, FixedController(T=2, o=0.5), torch_threads=want)
        with TestClient(app) as c:
            assert c.get("/health").status_code == 200
            assert fresh_thread_sees() == want
            worker = app.state.service.pool.workers[0]  # and the edge's own worker thread runs with it

            async def in_worker() -> int:
                return (await worker.submit(torch.get_num_threads)).value

            assert c.portal.call(in_worker) == want
        torch.set_num_threads(before)
        with TestClient(make_server(tmp_path, runner, FixedController(T=2, o=0.5))):
            assert fresh_thread_sees() == before
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="torch_threads"):
        ServerSettings(torch_threads=-1)
    args = build_parser().parse_args(["serve", "--torch-threads", "3"])
    assert serve_cmd.settings_from_args(args).torch_threads == 3
