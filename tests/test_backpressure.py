"""Issue 14 point 4: bounded queues; a full edge answers 503 + Retry-After at once, never an unbounded
wait; a request that cannot fit any slot's budget in time is told so (``serving.capacity``)."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from _serving_support import StepQuality, jpeg_condition, meta_dict, multipart
from mobigen.control.exact import ExactController
from mobigen.scenario import preset
from mobigen.serving.app import create_app
from mobigen.serving.capacity import CapacityGate, CapacityLimits, retry_after
from mobigen.serving.protocol import decode_result
from mobigen.serving.schemas import GenerateMeta
from mobigen.serving.server import ServerThread
from mobigen.serving.service_error import ServiceError
from mobigen.serving.settings import ServerSettings
from mobigen.system import SystemParams


class FakePool:
    """What ``CapacityGate`` reads of a worker pool, set by the test."""

    def __init__(self, outstanding: int = 0, backlog_steps: int = 0, sec_per_step: float | None = None,
                 n_live: int = 1) -> None:
        self.outstanding, self.backlog_steps, self.sec, self.n_live = outstanding, backlog_steps, sec_per_step, n_live

    def estimated_wait_s(self, extra_steps: int = 0) -> float | None:
        return None if self.sec is None else (self.backlog_steps + extra_steps) * self.sec / self.n_live


def _gate(**over) -> CapacityGate:  # noqa: ANN003
    p = SystemParams.from_scenario(preset("paper"))
    lim = dict(queue_limit=10, max_edge_queue=8, max_wait_s=10.0, slot_window_s=0.2, steps_min=p.steps_min,
               eps0_flops=p.eps0, edge_budget_steps=p.edge_budget_steps)
    lim.update(over)
    return CapacityGate(CapacityLimits(**lim))


def _meta(budget_steps: float) -> GenerateMeta:
    p = SystemParams.from_scenario(preset("paper"))
    d = meta_dict()
    d["device"] = {"f_flops": d["device"]["f_flops"], "budget_flops": budget_steps * p.eps0}
    return GenerateMeta(**d)


def _refusal(gate: CapacityGate, meta: GenerateMeta, **kw) -> ServiceError:  # noqa: ANN003
    with pytest.raises(ServiceError) as info:
        gate.check(meta, **kw)
    return info.value


def test_retry_after_is_whole_seconds_at_least_one():
    assert retry_after(None) == {"Retry-After": "1"}
    assert retry_after(0.2) == {"Retry-After": "1"}
    assert retry_after(3.2) == {"Retry-After": "4"}
    assert retry_after(float("inf")) == {"Retry-After": "1"}


def test_full_queues_are_refused_with_retry_after():
    gate, meta = _gate(), _meta(budget_steps=100)
    e = _refusal(gate, meta, in_flight=10, pool=FakePool(), slot_pending=0)
    assert (e.status_code, e.error) == (503, "overloaded") and "queue_limit 10" in e.detail
    assert int(e.headers["Retry-After"]) >= 1
    e = _refusal(gate, meta, in_flight=3, pool=FakePool(outstanding=6, sec_per_step=0.5, backlog_steps=9), slot_pending=2)
    assert (e.status_code, e.error) == (503, "edge_queue_full") and "max_edge_queue 8" in e.detail
    assert e.headers["Retry-After"] == "5"  # 9 steps x 0.5 s on one replica, rounded up
    gate.check(meta, in_flight=3, pool=FakePool(outstanding=5), slot_pending=2)  # one below: admitted


def test_a_request_that_needs_the_edge_is_told_when_it_cannot_be_served_in_time():
    gate = _gate(max_wait_s=10.0)
    slow = FakePool(outstanding=4, backlog_steps=60, sec_per_step=0.25)  # 15 s of work queued on one replica
    needy = _meta(budget_steps=gate.limits.steps_min - 2)  # the device can run all but 2 of T_min itself
    assert gate.required_edge_steps(needy) == 2
    e = _refusal(gate, needy, in_flight=4, pool=slow, slot_pending=0)
    assert (e.status_code, e.error) == (503, "edge_saturated")
    assert "at least 2 edge steps" in e.detail and "15.50 s" in e.detail and "10 s" in e.detail
    assert e.headers["Retry-After"] == "6"  # ceil(15.5 - 10)
    gate.check(needy, in_flight=4, pool=FakePool(outstanding=4, backlog_steps=60, sec_per_step=0.25, n_live=2),
               slot_pending=0)  # two replicas: 7.75 s, in time
    gate.check(_meta(budget_steps=100), in_flight=4, pool=slow, slot_pending=0)  # can run T_min alone: admitted
    gate.check(needy, in_flight=4, pool=FakePool(outstanding=4, backlog_steps=60), slot_pending=0)  # nothing measured yet
    gate.check(needy, in_flight=0, pool=FakePool(outstanding=0, backlog_steps=0, sec_per_step=30.0),
               slot_pending=0)  # an idle edge, however slow per step, serves it: nothing is ahead of it


def test_a_request_no_slot_budget_can_hold_is_refused_with_the_reason():
    gate = _gate(edge_budget_steps=3.0)
    e = _refusal(gate, _meta(budget_steps=0), in_flight=0, pool=FakePool(), slot_pending=0)
    assert (e.status_code, e.error) == (422, "cannot_fit_budget")
    assert "meta.device.budget_flops" in e.detail and "C_E/ε₀ = 3 steps" in e.detail
    gate.check(_meta(budget_steps=0), in_flight=0, pool=None, slot_pending=0)  # control plane: no edge work


def test_full_server_answers_503_with_retry_after_at_once_and_serves_the_rest():
    """queue_limit 2: two requests wait in a slot that only K = 3 or shutdown closes; the third is
    refused at once with Retry-After while they still wait (never queued without bound); at
    shutdown the open slot closes and the two are served."""
    settings = ServerSettings(port=0, denoise="none", slot_ms=60_000, max_users=3, queue_limit=2, shape_downlink=False,
                              completion_deadline_s=30.0)
    srv = ServerThread(create_app(settings, controller=ExactController(), quality_model=StepQuality())).start()
    out: dict[str, httpx.Response] = {}
    try:
        def one(rid: str) -> None:
            out[rid] = httpx.post(f"{srv.url}/v1/generate", files=multipart(meta_dict(request_id=rid), jpeg_condition()),
                                  timeout=60)

        threads = [threading.Thread(target=one, args=(f"wait-{i:05d}",)) for i in range(2)]
        for t in threads:
            t.start()
        t_end = time.monotonic() + 30
        while httpx.get(f"{srv.url}/health").json()["in_flight"] < 2:
            assert time.monotonic() < t_end, "the two requests never reached the slot"
            time.sleep(0.01)
        r = httpx.post(f"{srv.url}/v1/generate", files=multipart(meta_dict(request_id="full-00001"), jpeg_condition()),
                       timeout=30)
        assert r.status_code == 503 and r.json()["error"] == "overloaded" and int(r.headers["retry-after"]) >= 1
        assert not out  # refused while the two were still waiting: it did not queue behind them
        assert 'mobigen_errors_total{kind="overloaded"} 1.0' in httpx.get(f"{srv.url}/metrics").text
    finally:
        srv.stop()
    for t in threads:
        t.join(30)
    assert sorted(out) == ["wait-00000", "wait-00001"] and all(x.status_code == 200 for x in out.values())
    assert {decode_result(x.content)[0]["slot_size"] for x in out.values()} == {2}
