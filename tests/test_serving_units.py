"""Unit tests of the serving building blocks: batcher, worker, records, framing, settings, limits."""

from __future__ import annotations

import asyncio
import time

import pytest

from mobigen.serving.batcher import BatcherClosed, SlotBatcher
from mobigen.serving.protocol import FramingError, decode_result, encode_result
from mobigen.serving.records import RecordStore, RequestRecord
from mobigen.serving.schemas import RequestStatus
from mobigen.serving.settings import ServerSettings
from mobigen.serving.shaping import TokenBucket
from mobigen.serving.worker import DenoiseWorker, WorkerClosed


def run(coro):  # noqa: ANN001, ANN201
    return asyncio.run(coro)


class FakeTimers:
    """An injected ``call_later``: records (delay, callback) and fires them only when told (no wall clock)."""

    def __init__(self) -> None:
        self.pending: list[list] = []  # [delay_s, callback, cancelled]

    def __call__(self, delay_s, callback):  # noqa: ANN001, ANN204
        entry = [delay_s, callback, False]
        self.pending.append(entry)

        class Handle:
            def cancel(self) -> None:
                entry[2] = True

        return Handle()

    def fire_all(self) -> int:
        live = [e for e in self.pending if not e[2]]
        self.pending = []
        for _, cb, _ in live:
            cb()
        return len(live)


def test_batcher_closes_at_K_and_on_window():
    seen: list[tuple[int, list]] = []

    async def handler(slot_id, items):  # noqa: ANN001, ANN202
        seen.append((slot_id, list(items)))
        return [f"r{x}" for x in items]

    async def main():  # noqa: ANN202
        timers = FakeTimers()
        b = SlotBatcher(handler, max_users=3, window_s=1.0, call_later=timers)
        futs = [b.submit(i) for i in range(3)]  # K reached: closes at once, its window timer cancelled
        assert b.pending == 0 and [e[0] for e in timers.pending] == [1.0] and timers.pending[0][2]
        assert await asyncio.gather(*futs) == ["r0", "r1", "r2"]
        timers.pending.clear()
        futs = [b.submit(i) for i in (10, 11)]  # 2 < K: stays open until its window ends
        await asyncio.sleep(0)
        assert b.pending == 2 and not any(f.done() for f in futs)
        assert [e[0] for e in timers.pending] == [1.0]  # one window per slot, started by its first request
        assert timers.fire_all() == 1  # the window ends
        assert await asyncio.gather(*futs) == ["r10", "r11"]

    run(main())
    assert [s for s, _ in seen] == [0, 1]
    assert [len(items) for _, items in seen] == [3, 2]


def test_batcher_slot_failure_reaches_every_request_and_next_slot_works():
    calls = {"n": 0}

    async def handler(slot_id, items):  # noqa: ANN001, ANN202
        calls["n"] += 1
        if slot_id == 0:
            raise RuntimeError("boom")
        return list(items)

    async def main():  # noqa: ANN202
        b = SlotBatcher(handler, max_users=2, window_s=0.05)
        f = [b.submit(1), b.submit(2)]
        res = await asyncio.gather(*f, return_exceptions=True)
        assert all(isinstance(r, RuntimeError) and "boom" in str(r) for r in res)
        assert await b.submit(3) == 3  # the server keeps serving
        await b.aclose(flush=False)
        with pytest.raises(BatcherClosed):
            b.submit(4)

    run(main())


def test_batcher_refuses_open_slot_when_not_flushed():
    async def handler(slot_id, items):  # noqa: ANN001, ANN202
        return list(items)

    async def main():  # noqa: ANN202
        b = SlotBatcher(handler, max_users=5, window_s=10.0)
        f = b.submit(1)
        await b.aclose(flush=False)
        with pytest.raises(BatcherClosed, match="refused"):
            await f

    run(main())


def test_batcher_rejects_bad_arguments():
    async def handler(slot_id, items):  # noqa: ANN001, ANN202
        return list(items)

    with pytest.raises(ValueError, match="max_users"):
        SlotBatcher(handler, max_users=0, window_s=1)
    with pytest.raises(ValueError, match="window_s"):
        SlotBatcher(handler, max_users=1, window_s=0)


def test_worker_runs_fifo_off_loop_and_refuses_after_close():
    import threading

    main_thread = threading.get_ident()

    async def main():  # noqa: ANN202
        w = DenoiseWorker()
        order: list[int] = []

        def job(i):  # noqa: ANN001, ANN202
            def f():  # noqa: ANN202
                assert threading.get_ident() != main_thread
                time.sleep(0.01)
                order.append(i)
                return i * 10
            return f

        futs = [w.submit(job(i)) for i in range(4)]
        res = await asyncio.gather(*futs)
        assert [r.value for r in res] == [0, 10, 20, 30]
        assert order == [0, 1, 2, 3]
        assert res[-1].wait_s >= res[0].wait_s  # later jobs waited behind earlier ones
        # refuse: one job running (held by a gate), two queued, close without finishing
        started, gate = threading.Event(), threading.Event()

        def held():  # noqa: ANN202
            started.set()
            gate.wait(10)
            return "ran"

        futs = [w.submit(held), w.submit(job(1)), w.submit(job(2))]
        assert await asyncio.to_thread(started.wait, 10)
        closing = asyncio.ensure_future(asyncio.to_thread(w.close, finish=False))
        while not w.closed:
            await asyncio.sleep(0.001)
        gate.set()
        await closing
        outcomes = await asyncio.gather(*futs, return_exceptions=True)
        assert outcomes[0].value == "ran"  # the running job finishes
        assert all(isinstance(o, WorkerClosed) and "refused" in str(o) for o in outcomes[1:]), outcomes
        assert order == [0, 1, 2, 3]  # the refused jobs never ran
        late = w.submit(job(9))
        with pytest.raises(WorkerClosed, match="refused"):
            await late

    run(main())


def test_worker_job_exception_is_delivered_and_worker_survives():
    async def main():  # noqa: ANN202
        w = DenoiseWorker()

        def bad():  # noqa: ANN202
            raise ValueError("field 'edge_steps' broken")

        with pytest.raises(ValueError, match="edge_steps"):
            await w.submit(bad)
        assert (await w.submit(lambda: 7)).value == 7
        w.close()

    run(main())


def test_token_bucket_schedule_matches_rate():
    clock = {"t": 0.0}
    b = TokenBucket(8e6, clock=lambda: clock["t"])  # 1 MB/s
    delays = []
    for _ in range(4):
        d = b.delay_for(250_000)
        delays.append(d)
        clock["t"] += d  # the sender waits exactly as told
    assert delays == pytest.approx([0.25, 0.25, 0.25, 0.25])
    assert clock["t"] == pytest.approx(1.0)  # 1 MB at 8 Mbit/s = 1 s, eq. (2)'s D/B
    with pytest.raises(ValueError, match="rate_bps"):
        TokenBucket(0)


def test_token_bucket_does_not_accumulate_overshoot():
    clock = {"t": 0.0}
    b = TokenBucket(8e6, clock=lambda: clock["t"])
    for _ in range(10):
        d = b.delay_for(100_000)
        clock["t"] += d + 0.002  # every sleep overshoots by 2 ms
    # 1 MB should take 1.0 s; the schedule is computed from the start, so only the last overshoot shows
    assert clock["t"] == pytest.approx(1.002, abs=1e-9)


def test_result_framing_round_trip_and_refusals():
    body = encode_result({"a": 1, "b": [1, 2]}, b"\x00payload")
    meta, payload = decode_result(body)
    assert meta == {"a": 1, "b": [1, 2]} and payload == b"\x00payload"
    for bad in (b"", b"XXXX\x00\x00\x00\x01{", body[:10], b"MGR1\x00\x00\x00\x02[]"):
        with pytest.raises(FramingError):
            decode_result(bad)


def test_records_keep_first_final_status():
    store = RecordStore(ttl_s=100)
    r = store.add(RequestRecord("req-00001"))
    assert store.n_active == 1
    store.set_status(r, "awaiting_device")
    store.set_status(r, "completed", "ok")
    store.set_status(r, "failed", "late")  # ignored: already final
    assert r.status == "completed" and r.detail == "ok"
    assert r.status is RequestStatus.COMPLETED and r.status.final and not RequestStatus.AWAITING_DEVICE.final
    assert store.n_active == 0
    with pytest.raises(ValueError, match="done"):
        store.set_status(store.add(RequestRecord("req-00002")), "done")  # not a status
    with pytest.raises(KeyError):
        store.add(RequestRecord("req-00001"))


def test_settings_validate_and_read_env(monkeypatch):
    with pytest.raises(ValueError, match="image_size"):
        ServerSettings(image_size=100)
    with pytest.raises(ValueError, match="wire_mode"):
        ServerSettings(wire_mode="fp8")
    with pytest.raises(ValueError):
        ServerSettings(slot_ms=-1)
    with pytest.raises(ValueError):
        ServerSettings(unknown_field=1)
    monkeypatch.setenv("MOBIGEN_SERVE_MAX_USERS", "7")
    s = ServerSettings.from_env(slot_ms=50.0, port=None)
    assert s.max_users == 7 and s.slot_ms == 50.0 and s.port == 8000


def test_admission_checks_name_the_field():
    from _serving_support import meta_dict

    from mobigen.serving import admission
    from mobigen.serving.edge import ServiceError

    settings = ServerSettings(max_prompt_chars=20, max_condition_bytes=100)
    for header in ("multipart/form-datax; boundary=a", "application/json", None, "multipart/mixed; boundary=a"):
        with pytest.raises(ServiceError) as e:
            admission.check_content_type(header)
        assert e.value.status_code == 415
    with pytest.raises(ServiceError, match="boundary") as e:
        admission.check_content_type("multipart/form-data")
    assert e.value.status_code == 400
    admission.check_content_type('Multipart/Form-Data; boundary="x y"')  # case-insensitive, quoted boundary
    admission.check_parts([("meta", "{}"), ("condition", object())])
    for items, needle in (([("meta", "{}")], "'condition': missing"), ([("meta", "{}"), ("meta", "{}")], "2 times"),
                          ([("meta", "{}"), ("condition", object()), ("x", "1")], "'x': unknown"),
                          ([("meta", object()), ("condition", object())], "'meta': must be a text part"),
                          ([("meta", "{}"), ("condition", "bytes")], "'condition': must be a file part")):
        with pytest.raises(ServiceError, match=needle):
            admission.check_parts(items)
    import json

    with pytest.raises(ServiceError, match="'meta.prompt'.*max_prompt_chars"):
        admission.parse_meta(json.dumps(meta_dict(prompt="x" * 21)), settings)
    m = admission.parse_meta(json.dumps(meta_dict(beta=1.0 + 1e-12)), settings)
    assert m.beta == 1.0  # snapped to the Table I level
    with pytest.raises(ServiceError, match="'meta.beta'"):
        admission.parse_meta(json.dumps(meta_dict(beta=1.0 + 1e-6)), settings)
    with pytest.raises(ServiceError, match="condition_too_large|exceeds") as e:
        admission.check_condition(b"\xff\xd8\xff" + b"\x00" * 200, m, settings)
    assert e.value.status_code == 413
    with pytest.raises(ServiceError, match="'meta.codec'"):
        admission.check_condition(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10, m, settings)


def test_build_slot_takes_each_request_own_values():
    from _serving_support import StepQuality, meta_dict

    from mobigen.scenario import CONDITIONS, preset
    from mobigen.serving.schemas import GenerateMeta
    from mobigen.serving.slotting import SlotRequest, build_slot
    from mobigen.system import SystemParams

    sc = preset("paper")
    reqs = [SlotRequest(GenerateMeta(**meta_dict(device_type=t, condition=c, omega_I=w, uplink_mbps=up)), n)
            for t, c, w, up, n in ((0, "canny", 0.1, 5.0, 3000), (3, "seg", 0.9, 20.0, 9000))]
    slot = build_slot(reqs, sc, SystemParams.from_scenario(sc), StepQuality())
    assert slot.K == 2 and slot.quality_backend == "test-model"
    assert slot.condition.tolist() == [CONDITIONS.index("canny"), CONDITIONS.index("seg")]
    assert slot.condition_bytes.tolist() == [3000, 9000]
    assert slot.omega_I.tolist() == [0.1, 0.9]
    assert slot.uplink_bps.tolist() == [5e6, 20e6]
    assert slot.f_device[0] == pytest.approx(sc.f_edge / 10) and slot.f_device[1] == pytest.approx(sc.f_edge / 3)
    assert slot.extraction_s[0] == pytest.approx(0.8 * 0.11 * 10)  # L⁰ = 0.8 ε₀ / f_k, eq. (2)
    assert slot.q_I.shape == (2, len(sc.steps_values))
    with pytest.raises(ValueError, match="condition"):
        build_slot([], sc, SystemParams.from_scenario(sc), StepQuality())


def test_records_expire_by_injected_clock_and_respect_max_records():
    from mobigen.serving.records import RecordStoreFull

    now = {"t": 0.0}
    store = RecordStore(ttl_s=10, max_records=3, clock=lambda: now["t"])
    done = [store.add(RequestRecord(f"req-{i:05d}")) for i in range(3)]
    for r in done[:2]:
        store.set_status(r, "completed")
    store.add(RequestRecord("req-00003"))  # full: the oldest final record goes first
    assert "req-00000" not in store and "req-00001" in store and len(store) == 3
    store.add(RequestRecord("req-00004"))
    assert "req-00001" not in store and {"req-00002", "req-00003", "req-00004"} <= {r.request_id for r in store.active()}
    with pytest.raises(RecordStoreFull, match="max_records 3"):  # nothing final left to evict
        store.add(RequestRecord("req-00005"))
    now["t"] = 5.0
    store.set_status(done[2], "failed", "why")  # final at t = 5
    now["t"] = 10.5  # before its TTL ends at 15: still there
    assert store.get("req-00002") is not None
    now["t"] = 15.5  # its TTL passed (and the once-a-second expiry is due)
    assert store.get("req-00002") is None and store.get("req-00003") is not None  # active ones never expire
