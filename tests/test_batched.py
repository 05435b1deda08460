"""Batched edge denoising (issue 14, point 1) against the unbatched ``denoise``.

Stated tolerance: a user's final fp32 latents in a batch of several users stay within BATCH_ATOL of
its unbatched run. The logic is exact (a batch of one user is bit-identical to ``denoise``, tested);
what differs is the backend's kernels, which may reduce the rows of a batched convolution or matmul
in another order than a batch of one (measured here on CPU: max |Δz| ≈ 1e-5..4e-5 after ≤ 12 steps,
for latents of magnitude ~1; also with oneDNN off, so it is the GEMMs, not only the convolutions).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from _generation_support import condition_pattern, one_torch_thread  # noqa: F401 - autouse fixture
from mobigen.generation.batched import BatchedDenoiser, MemberSpec, denoise_batched
from mobigen.generation.components import tiny_components
from mobigen.generation.denoise import denoise, encode_prompt, initial_latents, prepare_condition

BATCH_ATOL = 2e-4
"""Largest accepted |batched − unbatched| of a final fp32 latent (latent units; measured ≤ 4e-5)."""
SIDE = 64


@pytest.fixture(scope="module")
def tiny():
    return tiny_components(0)


def _spec(c, i, *, T, end, cond, w=7.5, cs=1.0, sched="ddim", start=0, neg=""):
    return MemberSpec(latents=initial_latents(c, 100 + i, SIDE, SIDE), start=start, end=end, total_steps=T,
                      embeddings=encode_prompt(c, f"prompt number {i}", neg),
                      condition_image=prepare_condition(c, condition_pattern(SIDE, i)), condition_type=cond,
                      guidance_scale=w, controlnet_scale=cs, scheduler_name=sched)


def _alone(c, s: MemberSpec) -> torch.Tensor:
    return denoise(c, latents=s.latents, start=s.start, end=s.end, total_steps=s.total_steps, embeddings=s.embeddings,
                   condition_image=s.condition_image, condition_type=s.condition_type, guidance_scale=s.guidance_scale,
                   controlnet_scale=s.controlnet_scale, scheduler_name=s.scheduler_name)


@pytest.fixture(scope="module")
def mixed(tiny):
    """Five users: own T, edge steps, condition type, guidance (one without CFG), ControlNet scale,
    scheduler (DDIM and Euler) and negative prompt; one zero-step slice."""
    c = tiny
    return [_spec(c, 0, T=10, end=6, cond="canny"),
            _spec(c, 1, T=7, end=7, cond="hed", w=1.0, cs=0.5),
            _spec(c, 2, T=12, end=3, cond="canny", w=3.0, cs=0.7, sched="euler", neg="blurry"),
            _spec(c, 3, T=5, end=0, cond="depth", w=5.0, cs=1.2),
            _spec(c, 4, T=9, end=9, cond="seg")]


def test_batched_equals_unbatched_within_stated_tolerance(tiny, mixed):
    got = denoise_batched(tiny, mixed)
    diffs = [float((g - _alone(tiny, s)).abs().max()) for g, s in zip(got, mixed)]
    assert max(diffs) <= BATCH_ATOL, diffs
    assert diffs[3] == 0.0  # the zero-step slice hands its latents back untouched
    for g, s in zip(got, mixed):  # and the batch did not collapse the users onto one result
        assert g.shape == s.latents.shape and g.dtype == torch.float32
    assert float((got[0] - got[4]).abs().max()) > 1e-2


def test_a_batch_of_one_is_bit_exact(tiny, mixed):
    for s in mixed:
        assert torch.equal(denoise_batched(tiny, [s])[0], _alone(tiny, s))
    for g, s in zip(denoise_batched(tiny, mixed, max_batch=1), mixed):  # max_batch=1: one user after another
        assert torch.equal(g, _alone(tiny, s))


def test_users_join_between_steps_and_leave_when_done(tiny):
    c = tiny
    a, b, late = (_spec(c, 10, T=8, end=5, cond="canny"), _spec(c, 11, T=6, end=2, cond="canny", sched="euler"),
                  _spec(c, 12, T=10, end=4, cond="hed", cs=0.8))
    eng = BatchedDenoiser(c)
    ka, kb = eng.add(a), eng.add(b)
    assert eng.rows == 4  # CFG doubles each user's rows
    eng.step()
    eng.step()
    out = eng.pop_finished()
    assert set(out) == {kb} and eng.size == 1  # b's two edge steps are done: it left
    kl = eng.add(late)  # a new user joins the running batch
    while eng.size:
        eng.step()
        out.update(eng.pop_finished())
    for key, spec in ((ka, a), (kb, b), (kl, late)):
        assert float((out[key] - _alone(c, spec)).abs().max()) <= BATCH_ATOL
    assert eng.step() == 0  # nothing left to step


def test_resumed_slice_in_a_batch(tiny):
    # a take-over style slice [k, T) from handed-over latents batches like an edge slice
    c = tiny
    head = _spec(c, 20, T=6, end=2, cond="canny")
    z_k = _alone(c, head)
    tail = MemberSpec(**{**{f: getattr(head, f) for f in MemberSpec.__dataclass_fields__}, "latents": z_k,
                         "start": 2, "end": 6})
    other = _spec(c, 21, T=6, end=6, cond="canny")
    got = denoise_batched(c, [tail, other])
    assert float((got[0] - _alone(c, tail)).abs().max()) <= BATCH_ATOL


def test_sdxl_batched_equals_unbatched():
    c = tiny_components(0, conditions=("canny", "depth"), family="sdxl")
    specs = [_spec(c, 30, T=3, end=3, cond="canny"), _spec(c, 31, T=4, end=2, cond="depth", w=2.0, cs=0.6)]
    got = denoise_batched(c, specs)
    for g, s in zip(got, specs):
        assert float((g - _alone(c, s)).abs().max()) <= BATCH_ATOL
    assert torch.equal(denoise_batched(c, specs[:1])[0], _alone(c, specs[0]))


def test_refusals_name_the_field(tiny):
    c = tiny
    good = _spec(c, 40, T=4, end=2, cond="canny")
    eng = BatchedDenoiser(c)
    eng.add(good)
    fields = {f: getattr(good, f) for f in MemberSpec.__dataclass_fields__}
    bad = [({"end": 5}, "end"), ({"guidance_scale": float("nan")}, "guidance_scale"),
           ({"controlnet_scale": -1.0}, "controlnet_scale"), ({"condition_type": "sketch"}, "condition_type"),
           ({"scheduler_name": "dpm++"}, "scheduler_name"),
           ({"latents": initial_latents(c, 0, 128, 128), "condition_image":
             prepare_condition(c, condition_pattern(128))}, "shape")]
    for change, word in bad:
        with pytest.raises(ValueError, match=word):
            eng.add(MemberSpec(**{**fields, **change}))
    with pytest.raises(ValueError, match="max_batch"):
        denoise_batched(c, [good], max_batch=0)
    with pytest.raises(ValueError, match="sd35"):
        BatchedDenoiser(tiny_components(0, conditions=("canny",), family="sd35"))


# ---- the worker's batched path (serving.batched_worker) ----------------------------------------------

def _edge_jobs(runner, n):
    from mobigen.serving.batched_worker import EdgeStepJob
    from mobigen.conditions import codec

    jobs = []
    for i in range(n):
        rgb = np.repeat(condition_pattern(512, 50 + i)[:, :, :1], 3, axis=2)
        data = codec.encode(rgb, alpha=0.25, beta=0.5, codec="jpeg")
        T = 4
        jobs.append(EdgeStepJob(runner, f"user {i}", data, ("canny", "hed")[i % 2], 7 + i, T, (2, 4, 3)[i % 3]))
    return jobs


def test_worker_batches_edge_jobs_and_replies_like_the_serial_edge():
    import asyncio

    from mobigen.generation.wire import decode_payload
    from mobigen.serving.splitrun import GenerationSpec, SplitRunner
    from mobigen.serving.worker import DenoiseWorker

    runner = SplitRunner(GenerationSpec(components="tiny", image_size=SIDE, wire_mode="fp32"))
    jobs = _edge_jobs(runner, 3)
    serial = [job() for job in jobs]  # the unbatched path, as DenoiseWorker(max_batch=1) runs it
    gate = threading.Event()

    async def go():
        w = DenoiseWorker(max_batch=4)
        try:
            blocker = w.submit(gate.wait)  # hold the worker so that all three are queued together
            futs = [w.submit(j) for j in jobs]
            plain = w.submit(lambda: "plain job")
            gate.set()
            await blocker
            return [await f for f in futs], await plain, w.batch_runner
        finally:
            await asyncio.to_thread(w.close)

    results, plain, batch = asyncio.run(go())
    assert plain.value == "plain job"
    assert batch.largest_batch == 3 and batch.steps_run == 4  # one batch: max(e_k) = 4 batched steps
    for (kind, data), (kind_s, data_s), job in zip([r.value for r in results], serial, jobs):
        assert kind == kind_s == ("image" if job.edge_steps == job.total_steps else "latent")
        got, want = decode_payload(data), decode_payload(data_s)
        assert (got.total_steps, got.seed, got.condition_type, got.request_digest) == \
               (want.total_steps, want.seed, want.condition_type, want.request_digest)
        if kind == "latent":
            assert got.steps_done == job.edge_steps
            assert float((got.latents - want.latents).abs().max()) <= BATCH_ATOL
        else:  # decoded image of the fully offloaded user: within one grey level
            assert np.abs(got.image.astype(int) - want.image.astype(int)).max() <= 1
    assert all(r.run_s > 0 and r.wait_s >= 0 for r in results)


def test_worker_batch_failure_reaches_every_request_and_the_worker_goes_on():
    import asyncio

    from mobigen.serving.splitrun import GenerationSpec, SplitRunner
    from mobigen.serving.worker import DenoiseWorker

    runner = SplitRunner(GenerationSpec(components="tiny", image_size=SIDE, wire_mode="fp32"))
    good, bad = _edge_jobs(runner, 2)
    bad = type(bad)(**{**bad.__dict__, "condition_data": b"not an image"})
    gate = threading.Event()

    async def go():
        w = DenoiseWorker(max_batch=4)
        try:
            w.submit(gate.wait)
            f_bad, f_good = w.submit(bad), w.submit(good)
            gate.set()
            with pytest.raises(Exception):
                await f_bad
            ok = await f_good
            again = await w.submit(good)  # the worker still serves
            return ok, again
        finally:
            await asyncio.to_thread(w.close)

    ok, again = asyncio.run(go())
    assert ok.value[0] == again.value[0] == "latent"
