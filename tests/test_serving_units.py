"""Unit tests of the serving building blocks: batcher, worker, records, framing, settings, limits."""

from __future__ import annotations

import asyncio
import time

import pytest

from mobigen.serving.batcher import BatcherClosed, SlotBatcher
from mobigen.serving.protocol import FramingError, decode_result, encode_result
from mobigen.serving.records import RecordStore, RequestRecord
from mobigen.serving.settings import ServerSettings
from mobigen.serving.shaping import TokenBucket
from mobigen.serving.worker import DenoiseWorker, WorkerClosed


def run(coro):  # noqa: ANN001, ANN201
    return asyncio.run(coro)


def test_batcher_closes_at_K_and_on_window():
    seen: list[tuple[int, list]] = []

    async def handler(slot_id, items):  # noqa: ANN001, ANN202
        seen.append((slot_id, list(items)))
        return [f"r{x}" for x in items]

    async def main():  # noqa: ANN202
        b = SlotBatcher(handler, max_users=3, window_s=1.0)
        t0 = time.perf_counter()
        futs = [b.submit(i) for i in range(3)]  # K reached: closes at once
        assert await asyncio.gather(*futs) == ["r0", "r1", "r2"]
        t_full = time.perf_counter() - t0
        t1 = time.perf_counter()
        futs = [b.submit(i) for i in (10, 11)]  # 2 < K: closes when the window ends
        assert await asyncio.gather(*futs) == ["r10", "r11"]
        t_window = time.perf_counter() - t1
        return t_full, t_window

    t_full, t_window = run(main())
    assert [s for s, _ in seen] == [0, 1]
    assert [len(items) for _, items in seen] == [3, 2]
    assert t_full < 0.9  # did not wait for the 1 s window (generous margin for a loaded machine)
    assert 0.95 <= t_window < 5.0  # waited for the window, and no longer than a loaded machine explains


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
    assert store.n_active == 0
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


def test_multipart_parser_round_trip_and_refusals():
    from mobigen.serving.client import build_multipart
    from mobigen.serving.multipart import MultipartError, parse_form

    body, ctype = build_multipart({"a": 1}, b"\x00\r\n--not-a-boundary\r\nbytes")
    parts = parse_form(body, ctype)
    assert set(parts) == {"meta", "condition"}
    assert parts["meta"].filename is None and parts["meta"].data == b'{"a": 1}'
    assert parts["condition"].filename == "condition" and parts["condition"].data == b"\x00\r\n--not-a-boundary\r\nbytes"
    with pytest.raises(MultipartError, match="boundary"):
        parse_form(body, "multipart/form-data")
    with pytest.raises(MultipartError, match="closing boundary"):
        parse_form(body[:-12], ctype)
    with pytest.raises(MultipartError, match="does not contain"):
        parse_form(b"hello", ctype)
    dup = body.replace(b'name="condition"', b'name="meta"')
    with pytest.raises(MultipartError, match="twice"):
        parse_form(dup, ctype)


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
