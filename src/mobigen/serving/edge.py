"""The edge server's logic (Fig. 5, right half), independent of HTTP.

One request's life: validated and decoded by the app → waits in the open slot (``SlotBatcher``) →
the slot closes (K requests or the window) → ``build_slot`` → ``controller.decide(slot)`` →
``guard`` (constraints 11-13) → the edge's ⌊o_k T_k⌋ steps in the one ``DenoiseWorker`` → the
reply (latent for o_k < 1, image for o_k = 1) → for o_k < 1 the device must confirm completion
by a deadline; if it does not, the edge runs the remaining steps itself when the slot's edge
budget C_E allows, else the request is marked failed. Every request ends in a final status that
``state()`` reports; none is dropped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mobigen.scenario import Scenario, resolve
from mobigen.serving.batcher import BatcherClosed, SlotBatcher
from mobigen.serving.metrics import ServerMetrics
from mobigen.serving.protocol import encode_result
from mobigen.serving.records import RecordStore, RequestRecord
from mobigen.serving.schemas import (
    CompleteBody,
    GenerateMeta,
    RequestState,
    ResultMeta,
)
from mobigen.serving.settings import ServerSettings
from mobigen.serving.slotting import SlotRequest, build_slot
from mobigen.serving.splitrun import GenerationSpec, SplitRunner
from mobigen.serving.worker import DenoiseWorker, JobResult, WorkerClosed
from mobigen.system import Decision, SystemParams, evaluate_decision, transfer_time_s

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """A request the service answers with an HTTP error status and a clear message."""

    def __init__(self, status_code: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.error = error
        self.detail = detail


@dataclass
class _SlotItem:
    record: RequestRecord
    request: SlotRequest
    t_submit: float
    t0: float
    ingest_processing_s: float
    ingest_cpu_s: float


@dataclass
class _Assignment:
    slot_id: int
    slot_size: int
    t_close: float
    decision_s: float
    decision_cpu_s: float
    info: dict
    """schemas.DecisionInfo as a plain dict (serialised for every reply)."""
    model: dict
    """schemas.ModelPrediction as a plain dict."""
    edge_future: asyncio.Future | None
    ready: tuple | None = None
    """The finished reply when there is no edge job (control-plane mode), built with the whole slot."""


@dataclass
class _SlotLedger:
    budget_steps: int
    """⌊C_E / ε₀⌋, the slot's edge budget (steps)."""
    used_steps: int
    """Edge steps spent on this slot so far, take-overs included (steps)."""


def default_controller(name: str, scenario: Scenario, seed: int) -> Any:
    """The controller named ``name`` from ``control.registry.make_controller`` (learned policies load
    their shipped checkpoints and fall back to Exact for a K they were not trained for)."""
    from mobigen.control.registry import make_controller

    return make_controller(name, scenario, seed=seed)


def default_quality_model(scenario: Scenario) -> Any:
    """The default quality model (``conditions.quality.make_quality_model``; surrogate unless configured)."""
    from mobigen.conditions.quality import make_quality_model

    return make_quality_model()


class EdgeService:
    """Slot batching, decisions, edge denoising, completion tracking and metrics for one server."""

    def __init__(
        self,
        settings: ServerSettings,
        *,
        controller: Any = None,
        quality_model: Any = None,
        runner: SplitRunner | None = None,
        guard_fn: Any = None,
    ) -> None:
        self.settings = settings
        self.scenario = resolve(settings.scenario)
        self.params = SystemParams.from_scenario(self.scenario)
        self.controller = controller if controller is not None else default_controller(
            settings.controller, self.scenario, settings.controller_seed)
        self.quality = quality_model if quality_model is not None else default_quality_model(self.scenario)
        if guard_fn is None:
            from mobigen.control.guard import guard as guard_fn
        self.guard_fn = guard_fn
        self.spec = GenerationSpec(settings.components, settings.components_seed, settings.image_size,
                                   settings.wire_mode, settings.image_format)
        if settings.denoise == "run":
            self.runner = runner if runner is not None else SplitRunner(self.spec)
        else:
            self.runner = None
        self.metrics = ServerMetrics()
        self.records = RecordStore(settings.record_ttl_s)
        self.worker = DenoiseWorker()
        self.batcher: SlotBatcher | None = None
        self.ledgers: dict[int, _SlotLedger] = {}
        self.deadline_s = float(settings.completion_deadline_s or self.scenario.latency_threshold_s)
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()
        self._serving = 0
        """``submit`` calls between acceptance and their answer (reply built or error raised)."""
        self._idle = asyncio.Event()
        """Set whenever ``_serving`` is 0: shutdown waits on it instead of guessing from statuses."""
        self._idle.set()

    # ---- lifecycle ---------------------------------------------------------------------------
    @property
    def components_label(self) -> str:
        """'tiny(seed=N)', a weights directory, or 'none (control plane only)'."""
        return self.spec.label if self.runner is not None else "none (control plane only)"

    @property
    def closing(self) -> bool:
        """True once shutdown has begun (new requests get 503)."""
        return self._closing

    @property
    def controller_name(self) -> str:
        return str(getattr(self.controller, "name", type(self.controller).__name__))

    async def start(self) -> None:
        """Create the batcher on the running loop (call once, from the app's startup)."""
        self._loop = asyncio.get_running_loop()
        if self.runner is not None:  # load the weights before the first slot (in the worker: off the loop)
            runner = self.runner
            await self.worker.submit(runner.ensure_ready)
        self.batcher = SlotBatcher(self._handle_slot, max_users=self.settings.max_users,
                                   window_s=self.settings.slot_ms / 1000.0)

    def begin_shutdown(self) -> None:
        """Stop accepting new requests and close the open slot now (its requests are still served)."""
        self._closing = True
        if self.batcher is not None:
            self.batcher.stop_accepting()

    def begin_shutdown_threadsafe(self) -> None:
        """``begin_shutdown`` from any thread (a signal handler, ``ServerThread.stop``); a no-op before
        ``start`` or after the loop closed."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            loop.call_soon_threadsafe(self.begin_shutdown)

    async def aclose(self, *, finish: bool = True, grace_s: float | None = None) -> None:
        """Graceful shutdown: queued work is finished (``finish``, within ``grace_s``) or refused;
        requests still waiting for a device confirmation are marked failed with the reason."""
        self._closing = True
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        if self.batcher is not None:
            await self.batcher.aclose(flush=finish, timeout_s=grace)
        await asyncio.to_thread(self.worker.close, finish=finish, timeout_s=grace)
        if self._tasks:  # take-overs: their jobs were finished or refused above
            await asyncio.wait(list(self._tasks), timeout=1.0)
        # requests still being served: each one's own coroutine gives it its final status and its answer
        # (the result, or 503 refused) once its slot / worker future resolves, which the closes above
        # guarantee. Wait for exactly those coroutines: finalising a record from here while its
        # coroutine is about to answer would let the reply and the record disagree.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout=max(grace, 5.0))
        busy = ("queued", "deciding", "edge_running")
        for rec in self.records.active():
            if rec.status == "awaiting_device":
                self._finalise(rec, "failed", "the edge server shut down before the device confirmed completion; "
                               "the device holds the latent and may still finish locally")
            elif rec.status in busy:
                self._finalise(rec, "refused", "refused: the edge server shut down before this request was served")

    def _finalise(self, rec: RequestRecord, status: str, detail: str = "") -> None:
        if rec.final:  # the first final outcome stands
            return
        self.records.set_status(rec, status, detail)
        self.metrics.completions.labels(status=status).inc()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- one request ---------------------------------------------------------------------------
    async def submit(self, meta: GenerateMeta, condition_bytes: int, condition_data: bytes | None,
                     t0: float, ingest_processing_s: float = 0.0,
                     ingest_cpu_s: float = 0.0) -> tuple[ResultMeta, bytes, bytes]:
        """Serve one validated request; returns (result metadata, wire payload, framed reply body).

        ``condition_data`` is the validated condition bytes (None for a control-plane-only server; they are
        decoded again in the worker, so a waiting request holds kilobytes, not a 512² image). ``t0`` is when
        the body had been received; ``ingest_processing_s`` the app's own parsing and
        validation work for this request."""
        if self._closing or self.batcher is None or self.batcher.closed:
            raise ServiceError(503, "shutting_down", "refused: the edge server is shutting down")
        if self.records.n_active >= self.settings.queue_limit:
            raise ServiceError(503, "overloaded", f"refused: {self.records.n_active} requests in flight "
                               f"(queue_limit {self.settings.queue_limit}); retry later")
        rid = meta.request_id or uuid.uuid4().hex
        if rid in self.records:
            raise ServiceError(409, "duplicate_request", f"field 'request_id': {rid!r} was already submitted; "
                               f"query GET /v1/requests/{rid}")
        rec = self.records.add(RequestRecord(request_id=rid, meta=meta, condition_data=condition_data))
        self._serving += 1
        self._idle.clear()
        try:
            return await self._serve(rec, meta, condition_bytes, t0, ingest_processing_s, ingest_cpu_s)
        finally:
            self._serving -= 1
            if self._serving == 0:
                self._idle.set()

    async def _serve(self, rec: RequestRecord, meta: GenerateMeta, condition_bytes: int, t0: float,
                     ingest_processing_s: float, ingest_cpu_s: float) -> tuple[ResultMeta, bytes, bytes]:
        """From the open slot to the reply; every exit gives ``rec`` its final status or 'awaiting_device'."""
        t_submit = time.perf_counter()
        try:
            fut = self.batcher.submit(_SlotItem(rec, SlotRequest(meta, condition_bytes), t_submit, t0,
                                                ingest_processing_s, ingest_cpu_s))
        except BatcherClosed as exc:
            self._finalise(rec, "refused", str(exc))
            raise ServiceError(503, "shutting_down", str(exc)) from None
        try:
            a: _Assignment = await asyncio.shield(fut)
        except BatcherClosed as exc:
            self._finalise(rec, "refused", str(exc))
            raise ServiceError(503, "shutting_down", str(exc)) from None
        except asyncio.CancelledError:
            self._finalise(rec, "abandoned", "the client went away before its slot closed")
            raise
        except Exception as exc:  # the slot failed as a whole
            self._finalise(rec, "failed", f"slot decision failed: {exc}")
            raise ServiceError(500, "slot_failed", f"the slot's decision failed: {exc}") from None

        job: JobResult | None = None
        if a.edge_future is not None:
            try:
                job = await asyncio.shield(a.edge_future)
            except WorkerClosed as exc:
                self._finalise(rec, "refused", str(exc))
                raise ServiceError(503, "shutting_down", str(exc)) from None
            except asyncio.CancelledError:
                self._finalise(rec, "abandoned", "the client went away during edge denoising; its share was discarded")
                raise
            except Exception as exc:  # noqa: BLE001 - generation failure of this request only
                self._finalise(rec, "failed", f"edge denoising failed: {exc}")
                raise ServiceError(500, "edge_failed", f"edge denoising failed: {exc}") from None
        if a.ready is not None:  # built with the whole slot (no edge job): see _handle_slot
            return a.ready
        return self._reply(rec, a, job, t_submit, t0, ingest_processing_s, ingest_cpu_s, condition_bytes)

    def _reply(self, rec: RequestRecord, a: "_Assignment", job: JobResult | None, t_submit: float, t0: float,
               ingest_processing_s: float, ingest_cpu_s: float, condition_bytes: int) -> tuple[ResultMeta, bytes, bytes]:
        """Final status, completion deadline, timings and the framed reply of one request."""
        t_resume = time.perf_counter()
        c_resume = time.thread_time()
        rid = rec.request_id
        kind, payload = job.value if job is not None else ("none", b"")
        full = a.info["edge_steps"] == a.info["T"]
        if full:
            self._finalise(rec, "edge_completed", "o_k = 1: the edge ran every step and returned the image")
            deadline = None
        else:
            rec.latent_payload = payload if kind == "latent" else None
            self.records.set_status(rec, "awaiting_device")
            deadline = self.deadline_s
            loop = asyncio.get_running_loop()
            rec.deadline_handle = loop.call_later(deadline, self._on_deadline, rid)
        queue_s = a.t_close - t_submit
        edge_wait = job.wait_s if job else 0.0
        edge_run = job.run_s if job else 0.0
        meta_json = {
            "request_id": rid, "slot_id": a.slot_id, "slot_size": a.slot_size, "status": rec.status,
            "decision": a.info, "model": a.model, "payload_kind": kind, "payload_bytes": len(payload),
            "uplink_bytes": condition_bytes, "completion_deadline_s": deadline, "components": self.components_label,
        }
        t_ready = time.perf_counter()
        total = t_ready - t0
        overhead = max(0.0, total - queue_s - edge_wait - edge_run)  # wall time, loop queueing included
        processing = ingest_processing_s + a.decision_s + (t_ready - t_resume)
        processing_cpu = ingest_cpu_s + a.decision_cpu_s + (time.thread_time() - c_resume)
        meta_json["timings"] = {"queue_s": queue_s, "decision_s": a.decision_s, "edge_wait_s": edge_wait,
                                "edge_denoise_s": edge_run, "overhead_s": overhead, "processing_s": processing,
                                "processing_cpu_s": processing_cpu, "server_total_s": total}
        frame = encode_result(meta_json, payload)
        self.metrics.overhead_seconds.observe(overhead)
        if job is not None:
            self.metrics.edge_seconds.observe(edge_run)
        return ResultMeta.model_construct(**meta_json), payload, frame

    def note_undelivered(self, request_id: str, kind: str, payload: bytes) -> None:
        """The client went away before reading its whole reply. An o_k = 1 image is kept for
        ``GET /v1/requests/{id}/image``; a latent's request stays 'awaiting_device', so the deadline
        logic (take-over or failure) still gives it a final status."""
        rec = self.records.get(request_id)
        if rec is None:
            return
        self.metrics.errors.labels(kind="client_disconnected").inc()
        if kind == "image":
            rec.image_payload = payload
            rec.detail = "the client disconnected before receiving the image; the edge holds it"
        logger.info("request %s: reply not delivered (client disconnected)", request_id)

    # ---- one slot ------------------------------------------------------------------------------
    async def _handle_slot(self, slot_id: int, items: Sequence[_SlotItem]) -> list[_Assignment]:
        t_close = time.perf_counter()
        c_close = time.thread_time()
        for it in items:
            self.records.set_status(it.record, "deciding")
        slot = build_slot([it.request for it in items], self.scenario, self.params, self.quality)
        controller_name = self.controller_name
        try:
            proposal = self.controller.decide(slot)
        except ValueError as exc:  # e.g. a learned policy trained for another K: fall back to the optimum
            from mobigen.control.exact import ExactController

            logger.warning("controller %s refused slot %d (%s); using exact", controller_name, slot_id, exc)
            proposal = ExactController().decide(slot)
            controller_name = f"exact (fallback: {controller_name} refused: {exc})"
        g = self.guard_fn(slot, proposal)  # constraints (11)-(13)
        decision: Decision = g.decision
        if not g.feasible:
            logger.warning("slot %d: no decision satisfies (12)-(13); executing the least-violating one", slot_id)
        outcome = evaluate_decision(slot, decision)  # eqs. (1), (2), (6)-(8)
        decision_s = time.perf_counter() - t_close
        decision_cpu_s = time.thread_time() - c_close
        K = slot.K
        self.metrics.slot_size.observe(K)
        self.metrics.decision_seconds.observe(decision_s)
        changed = (np.asarray(proposal.T) != decision.T) | ~np.isclose(np.asarray(proposal.o, float), decision.o)
        self.metrics.guard_repairs.inc(int(changed.sum()))
        e = decision.edge_steps
        self.ledgers[slot_id] = _SlotLedger(budget_steps=int(math.floor(self.params.edge_budget_steps + 1e-9)),
                                            used_steps=int(e.sum()))
        self._trim_ledgers()
        up_s = transfer_time_s(slot.condition_bytes, slot.uplink_bps)
        out: list[_Assignment] = []
        for k, it in enumerate(items):
            rec = it.record
            rec.slot_id = slot_id
            rec.T = int(decision.T[k])
            rec.edge_steps = int(e[k])
            info = dict(T=rec.T, o=float(decision.o[k]), edge_steps=rec.edge_steps,  # schemas.DecisionInfo
                        local_steps=rec.T - rec.edge_steps, controller=controller_name,
                        guard_repaired=bool(changed[k]))
            model = dict(  # schemas.ModelPrediction
                L1_s=float(outcome.vce_s[k]), uplink_s=float(up_s[k]), L2_s=float(outcome.denoise.total_s[k]),
                edge_s=float(outcome.denoise.edge_s[k]), downlink_s=float(outcome.denoise.downlink_s[k]),
                local_s=float(outcome.denoise.local_s[k]), Q=float(outcome.Q[k]), quality_backend=slot.quality_backend,
            )
            fut = None
            if self.runner is not None:
                self.records.set_status(rec, "edge_running")
                fut = self.worker.submit(self._edge_job(rec))
            a = _Assignment(slot_id, K, t_close, decision_s, decision_cpu_s, info, model, fut)
            if fut is None:  # nothing to wait for: reply now, while the slot is being handled
                a.ready = self._reply(rec, a, None, it.t_submit, it.t0, it.ingest_processing_s, it.ingest_cpu_s,
                                      it.request.condition_bytes)
            out.append(a)
        self.metrics.queue_depth.set(self.worker.queued)
        return out

    def _trim_ledgers(self, keep: int = 4096) -> None:
        if len(self.ledgers) > keep:
            for sid in sorted(self.ledgers)[: len(self.ledgers) - keep]:
                del self.ledgers[sid]

    def _edge_job(self, rec: RequestRecord) -> Any:
        runner, meta, data, T, e = self.runner, rec.meta, rec.condition_data, rec.T, rec.edge_steps

        def job() -> tuple[str, bytes]:
            from mobigen.conditions import codec

            rgb = codec.decode(data)  # the 512² condition, exactly as the device decodes its own bytes
            return runner.run_edge(prompt=meta.prompt, condition_rgb=rgb, condition_type=meta.condition,
                                   seed=meta.seed, total_steps=T, edge_steps=e)

        return job

    # ---- completion, deadline, take-over ---------------------------------------------------------
    def complete(self, request_id: str, body: CompleteBody) -> RequestState:
        """The device's confirmation (``ok``) or its report that it could not finish (``ok=False``)."""
        rec = self.records.get(request_id)
        if rec is None:
            raise ServiceError(404, "unknown_request", f"no request with id {request_id!r} (or it expired)")
        if rec.status != "awaiting_device":
            raise ServiceError(409, "not_awaiting_device",
                               f"request {request_id!r} is '{rec.status}', not awaiting a device confirmation"
                               + (f" ({rec.detail})" if rec.detail else ""))
        if body.ok:
            self._finalise(rec, "completed", "the device confirmed it finished the local steps")
        else:
            self._take_over(rec, "the device reported it could not finish the local steps")
        return self.state(request_id)

    def _on_deadline(self, request_id: str) -> None:
        rec = self.records.get(request_id)
        if rec is None or rec.status != "awaiting_device":
            return
        rec.deadline_handle = None
        self._take_over(rec, f"the device did not confirm completion within {self.deadline_s:g} s")

    def _take_over(self, rec: RequestRecord, why: str) -> None:
        remaining = rec.T - rec.edge_steps
        if self.runner is None or self._closing:
            reason = "the server is shutting down" if self._closing else "this server runs no generation (control plane only)"
            self._finalise(rec, "failed", f"{why}; the edge cannot take over: {reason}")
            logger.info("request %s failed: %s", rec.request_id, rec.detail)
            return
        ledger = self.ledgers.get(rec.slot_id) if rec.slot_id is not None else None
        if ledger is None or rec.latent_payload is None or ledger.used_steps + remaining > ledger.budget_steps:
            used = ledger.used_steps if ledger else "?"
            budget = ledger.budget_steps if ledger else "?"
            self._finalise(rec, "failed", f"{why}; the edge cannot finish the {remaining} remaining steps: "  # (12)
                           f"slot {rec.slot_id} has used {used} of its {budget} edge steps (C_E)")
            logger.warning("request %s failed: %s", rec.request_id, rec.detail)
            return
        ledger.used_steps += remaining
        self.records.set_status(rec, "edge_running", f"{why}; the edge is running the {remaining} remaining steps")
        self._spawn(self._run_take_over(rec, why, remaining))

    async def _run_take_over(self, rec: RequestRecord, why: str, remaining: int) -> None:
        from mobigen.generation import wire

        runner, meta, data, payload = self.runner, rec.meta, rec.condition_data, rec.latent_payload
        spec = self.spec

        def job() -> bytes:
            from mobigen.conditions import codec

            p = wire.decode_payload(payload)
            img = runner.finish(p, prompt=meta.prompt, condition_rgb=codec.decode(data))
            return wire.encode_image(img, total_steps=p.total_steps, seed=p.seed, condition_type=p.condition_type,
                                     scheduler_config=p.scheduler_config, fmt=spec.image_format)

        try:
            res = await self.worker.submit(job)
        except WorkerClosed as exc:
            self._finalise(rec, "failed", f"{why}; the take-over was refused: {exc}")
            return
        except Exception as exc:  # noqa: BLE001
            self._finalise(rec, "failed", f"{why}; the edge take-over failed: {exc}")
            return
        rec.image_payload = res.value
        self._finalise(rec, "edge_completed", f"{why}; the edge ran the {remaining} remaining steps "
                       f"({res.run_s:.3f} s) and holds the image (GET /v1/requests/{rec.request_id}/image)")

    def state(self, request_id: str) -> RequestState:
        rec = self.records.get(request_id)
        if rec is None:
            raise ServiceError(404, "unknown_request", f"no request with id {request_id!r} (or it expired)")
        return RequestState(request_id=rec.request_id, status=rec.status, detail=rec.detail, slot_id=rec.slot_id,
                            image_available=rec.image_payload is not None)

    def image(self, request_id: str) -> bytes:
        rec = self.records.get(request_id)
        if rec is None:
            raise ServiceError(404, "unknown_request", f"no request with id {request_id!r} (or it expired)")
        if rec.image_payload is None:
            raise ServiceError(404, "no_image", f"the edge holds no image for {request_id!r} (status '{rec.status}')")
        return rec.image_payload


__all__ = ["EdgeService", "ServiceError", "default_controller", "default_quality_model"]
