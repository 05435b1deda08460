"""Issue 14 point 5: a denoise-worker replica that dies mid-slot (embedded engine).

A replica "dies" when its job raises ``WorkerDied`` (what a runner raises when its device is gone):
the pool takes that worker out and runs its jobs again on another one; each request gets exactly one
reply, equal to an undisturbed run. With no replica left, each request gets a clear 503 and a failed
record — never a hang. An ordinary exception in a job is that request's own failure (500), not re-run.
The Ray engine's version (a replica actor killed with ``ray.kill``) is in tests/test_ray_serving.py.
"""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from _serving_support import FixedController, StepQuality, jpeg_condition, meta_dict, multipart, small_scenario_file
from mobigen.serving.app import create_app
from mobigen.serving.jobs import EdgeJob
from mobigen.serving.pool import EmbeddedWorkerPool, NoLiveWorker, WorkerDied
from mobigen.serving.protocol import decode_result
from mobigen.serving.server import ServerThread
from mobigen.serving.settings import ServerSettings
from mobigen.serving.splitrun import GenerationSpec, SplitRunner

pytestmark = pytest.mark.filterwarnings("ignore")

SIZE = 64


class FakeRunner:
    """Returns the job's own inputs as its 'wire bytes' (a deterministic value per request); the
    workers named in ``dead`` die on every job they get; ``fail`` raises an ordinary error."""

    def __init__(self, dead: tuple[str, ...] = (), fail: bool = False) -> None:
        self.dead, self.fail = dead, fail
        self.calls: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def run_edge(self, *, prompt, condition_rgb, condition_type, seed, total_steps, edge_steps,  # noqa: ANN001
                 condition_bytes=None):  # noqa: ANN001, ANN201
        name = threading.current_thread().name
        with self._lock:
            self.calls.append((name, seed))
        if any(name.endswith(d) for d in self.dead):
            raise WorkerDied(f"injected: {name} lost its device")
        if self.fail:
            raise ValueError("injected: this request's generation failed")
        return "latent", f"{prompt}|{seed}|{total_steps}|{edge_steps}".encode()


def _job(i: int) -> EdgeJob:
    return EdgeJob(f"r{i}", f"prompt {i}", jpeg_condition(i % 3), "canny", i, 4, 2)


def test_jobs_of_a_dead_worker_are_rerun_once_on_another():
    runner = FakeRunner(dead=("-0",))

    async def main():  # noqa: ANN202
        pool = EmbeddedWorkerPool(runner, 2)
        try:
            res = await asyncio.gather(*(pool.submit(_job(i)) for i in range(6)))
            return pool, res
        finally:
            await pool.aclose()

    pool, res = asyncio.run(main())
    assert [r.value for r in res] == [("latent", f"prompt {i}|{i}|4|2".encode()) for i in range(6)]  # in order, once each
    assert pool.reruns >= 1 and pool.n_live == 1
    ran_ok = [seed for name, seed in runner.calls if name.endswith("-1")]
    assert sorted(ran_ok) == list(range(6))  # every job finished exactly once, on the live worker


def test_no_live_worker_is_a_clear_failure_not_a_hang():
    async def main():  # noqa: ANN202
        pool = EmbeddedWorkerPool(FakeRunner(dead=("-0",)), 1)
        try:
            with pytest.raises(NoLiveWorker, match="no live edge worker|died"):
                await asyncio.wait_for(pool.submit(_job(0)), timeout=30)
            with pytest.raises(NoLiveWorker, match="no live edge worker"):  # later jobs fail at once
                await asyncio.wait_for(pool.submit(_job(1)), timeout=5)
        finally:
            await pool.aclose()

    asyncio.run(main())


def test_an_ordinary_job_error_is_not_rerun():
    runner = FakeRunner(fail=True)

    async def main():  # noqa: ANN202
        pool = EmbeddedWorkerPool(runner, 2)
        try:
            with pytest.raises(ValueError, match="injected"):
                await pool.submit(_job(0))
            return pool
        finally:
            await pool.aclose()

    pool = asyncio.run(main())
    assert len(runner.calls) == 1 and pool.reruns == 0 and pool.n_live == 2


class DyingRunner:
    """A real tiny-components runner whose worker 0 loses its device on its first job."""

    def __init__(self, inner: SplitRunner) -> None:
        self.inner, self.spec = inner, inner.spec
        self.died = threading.Event()

    def ensure_ready(self) -> None:
        self.inner.ensure_ready()

    def run_edge(self, **kw):  # noqa: ANN003, ANN201
        if threading.current_thread().name.endswith("-0") and not self.died.is_set():
            self.died.set()
            raise WorkerDied("injected: worker 0 lost its device mid-slot")
        return self.inner.run_edge(**kw)

    def finish(self, *a, **kw):  # noqa: ANN002, ANN003, ANN201
        return self.inner.finish(*a, **kw)

    def request_digest(self, **kw):  # noqa: ANN003, ANN201
        return self.inner.request_digest(**kw)


@pytest.fixture(scope="module")
def tiny_runner():
    r = SplitRunner(GenerationSpec(components="tiny", components_seed=0, image_size=SIZE, wire_mode="fp32"))
    _ = r.components
    return r


def _server(tmp_path, runner, workers: int) -> ServerThread:  # noqa: ANN001
    settings = ServerSettings(port=0, scenario=small_scenario_file(tmp_path), image_size=SIZE, wire_mode="fp32",
                              slot_ms=60_000, max_users=4, shape_downlink=False, workers=workers, edge_max_batch=1)
    return ServerThread(create_app(settings, controller=FixedController(T=4, o=1.0), quality_model=StepQuality(),
                                   runner=runner))


def _post_all(url: str, n: int, prefix: str) -> dict[str, httpx.Response]:
    out: dict[str, httpx.Response] = {}

    def one(i: int) -> None:
        rid = f"{prefix}-{i:05d}"
        out[rid] = httpx.post(f"{url}/v1/generate", timeout=120,
                              files=multipart(meta_dict(device_type=i % 5, request_id=rid, seed=i), jpeg_condition(i)))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    return out


def test_worker_dying_mid_slot_its_users_are_served_by_the_other(tmp_path, tiny_runner):
    """One slot of 4 on 2 workers; worker 0 dies on its first job: all 4 get one reply each, equal to
    an undisturbed run of the same request, and the records agree."""
    dying = DyingRunner(tiny_runner)
    srv = _server(tmp_path, dying, workers=2).start()
    try:
        out = _post_all(srv.url, 4, "die")
        health = httpx.get(f"{srv.url}/health").json()
        svc = srv.app.state.service
        for i, (rid, r) in enumerate(sorted(out.items())):
            assert r.status_code == 200, (rid, r.text)
            meta, payload = decode_result(r.content)
            assert meta["request_id"] == rid and meta["status"] == "edge_completed"
            from mobigen.conditions import codec

            ref_kind, ref = tiny_runner.run_edge(prompt="a dog on the beach", condition_rgb=codec.decode(jpeg_condition(i)),
                                                 condition_type="canny", seed=i, total_steps=4, edge_steps=4,
                                                 condition_bytes=jpeg_condition(i))
            assert meta["payload_kind"] == ref_kind == "image" and payload == ref  # the re-run changes nothing
            assert svc.records.get(rid).status == "edge_completed"
        assert dying.died.is_set()
        assert health["workers"]["reruns"] >= 1 and health["workers"]["live"] == 1
    finally:
        srv.stop()


def test_last_worker_dying_fails_each_request_clearly(tmp_path, tiny_runner):
    dying = DyingRunner(tiny_runner)
    srv = _server(tmp_path, dying, workers=1).start()
    try:
        out = _post_all(srv.url, 4, "lost")
        svc = srv.app.state.service
        for rid, r in out.items():
            assert r.status_code == 503, (rid, r.status_code, r.text)
            body = r.json()
            assert body["error"] == "no_edge_worker" and "edge worker" in body["detail"]
            assert int(r.headers["retry-after"]) >= 1
            rec = svc.records.get(rid)
            assert rec.status == "failed" and "edge denoising failed" in rec.detail
        assert httpx.get(f"{srv.url}/health").json()["status"] == "ok"  # the server goes on serving
    finally:
        srv.stop()
