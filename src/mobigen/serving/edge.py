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
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mobigen.scenario import Scenario, resolve
from mobigen.serving.batched_worker import EdgeStepJob
from mobigen.serving.batcher import BatcherClosed, SlotBatcher
from mobigen.serving.events import EventBus, RequestEvent, SlotEvent
from mobigen.serving.metrics import ServerMetrics
from mobigen.serving.protocol import encode_result
from mobigen.serving.records import RecordStore, RecordStoreFull, RequestRecord
from mobigen.serving.schemas import (
    CompleteBody,
    DeviceProfile,
    GenerateMeta,
    RequestState,
    RequestStatus,
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


class UndecidableRequest(ServiceError):
    """A request whose values broke its slot's decision although they passed admission: it alone
    fails (422) and its slot is decided again without it (defence in depth, issue 12)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(422, "undecidable_request",
                         f"the slot's decision failed on this request's values ({type(cause).__name__}: {cause}); "
                         "the other users of its slot were served without it")


@dataclass(frozen=True)
class _SlotDecision:
    """One decided slot: eqs. (1), (2), (6)-(8) evaluated for the guard's decision."""

    slot: Any
    """The system.Slot built from the requests."""
    proposal: Decision
    """The controller's decision, before the guard."""
    decision: Decision
    """The guard's decision (constraints 11-13)."""
    feasible: bool
    """Whether the guard found a decision satisfying (12)-(13)."""
    outcome: Any
    """system.evaluate_decision of ``decision``."""
    controller_name: str
    """The controller that decided (with the fallback noted)."""


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
    full_offload: bool = False
    """e_k = T_k (``Decision.full_offload``): the edge returns the image, eq. (7)."""


@dataclass
class _SlotLedger:
    budget_steps: int
    """⌊C_E / ε₀⌋, the slot's edge budget (steps)."""
    used_steps: int
    """Edge steps spent on this slot so far, take-overs included (steps)."""


def default_controller(name: str, scenario: Scenario, seed: int) -> Any:
    """The controller named ``name`` from ``control.registry.make_controller`` (learned policies load
    their shipped checkpoints and fall back to Exact for a K they were not trained for)."""
    from mobigen.control.registry import resolve_controller

    ctrl, why = resolve_controller(name, scenario, seed=seed)
    if why is not None:
        logger.warning("controller %s does not fit scenario '%s' (%s): its slots are answered by exact, and every "
                       "reply says so", name, scenario.name, why)
    return ctrl


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
        self.events = EventBus()
        """In-process pub/sub of SlotEvent / RequestEvent (the web console subscribes)."""
        self.records = RecordStore(settings.record_ttl_s, settings.max_records)
        self.worker = DenoiseWorker(max_batch=settings.edge_max_batch)  # edge shares batched (batched_worker)
        self.batcher: SlotBatcher | None = None
        self.ledgers: dict[int, _SlotLedger] = {}
        self._decide_lock = threading.Lock()
        """Serialises slot decisions, which run off the event loop (``_decide_off_loop``)."""
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
        busy = (RequestStatus.QUEUED, RequestStatus.DECIDING, RequestStatus.EDGE_RUNNING)
        for rec in self.records.active():
            if rec.status == RequestStatus.AWAITING_DEVICE:
                self._finalise(rec, RequestStatus.FAILED, "the edge server shut down before the device confirmed completion; "
                               "the device holds the latent and may still finish locally")
            elif rec.status in busy:
                self._finalise(rec, RequestStatus.REFUSED, "refused: the edge server shut down before this request was served")

    def _finalise(self, rec: RequestRecord, status: RequestStatus, detail: str = "") -> None:
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
        try:
            rec = self.records.add(RequestRecord(request_id=rid, meta=meta, condition_data=condition_data))
        except RecordStoreFull as exc:
            raise ServiceError(503, "overloaded", f"refused: {exc}; retry later") from None
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
            self._finalise(rec, RequestStatus.REFUSED, str(exc))
            raise ServiceError(503, "shutting_down", str(exc)) from None
        try:
            a: _Assignment = await asyncio.shield(fut)
        except BatcherClosed as exc:
            self._finalise(rec, RequestStatus.REFUSED, str(exc))
            raise ServiceError(503, "shutting_down", str(exc)) from None
        except asyncio.CancelledError:
            self._finalise(rec, RequestStatus.ABANDONED, "the client went away before its slot closed")
            raise
        except UndecidableRequest as exc:  # this request alone broke its slot's decision; the others were served
            self._finalise(rec, RequestStatus.FAILED, exc.detail)
            raise
        except Exception as exc:  # the slot failed as a whole
            self._finalise(rec, RequestStatus.FAILED, f"slot decision failed: {exc}")
            raise ServiceError(500, "slot_failed", f"the slot's decision failed: {exc}") from None

        job: JobResult | None = None
        if a.edge_future is not None:
            try:
                job = await asyncio.shield(a.edge_future)
            except WorkerClosed as exc:
                self._finalise(rec, RequestStatus.REFUSED, str(exc))
                raise ServiceError(503, "shutting_down", str(exc)) from None
            except asyncio.CancelledError:
                self._finalise(rec, RequestStatus.ABANDONED, "the client went away during edge denoising; its share was discarded")
                raise
            except Exception as exc:  # noqa: BLE001 - generation failure of this request only
                self._finalise(rec, RequestStatus.FAILED, f"edge denoising failed: {exc}")
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
        full = a.full_offload
        if full:
            self._finalise(rec, RequestStatus.EDGE_COMPLETED, "o_k = 1: the edge ran every step and returned the image")
            deadline = None
        else:
            rec.latent_payload = payload if kind == "latent" else None
            self.records.set_status(rec, RequestStatus.AWAITING_DEVICE)
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
        self.events.publish(RequestEvent(rid, a.slot_id, rec.status, kind, len(payload), len(frame), meta_json["timings"]))
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
        self.metrics.disconnects.labels(stage="reply").inc()
        if kind == "image":
            rec.image_payload = payload
            rec.detail = "the client disconnected before receiving the image; the edge holds it"
        logger.info("request %s: reply not delivered (client disconnected)", request_id)

    # ---- one slot ------------------------------------------------------------------------------
    def _decide(self, slot_id: int, items: Sequence[_SlotItem]) -> _SlotDecision:
        """Build the slot, let the controller decide, guard (11)-(13) and evaluate; raises on any failure,
        including a decision or prediction that is not finite."""
        slot = build_slot([it.request for it in items], self.scenario, self.params, self.quality)
        controller_name = self.controller_name
        n_fallback = getattr(self.controller, "n_fallback", None)  # control.registry.KFallback counts Exact's slots
        try:
            proposal = self.controller.decide(slot)
            if n_fallback is not None and self.controller.n_fallback > n_fallback:
                why = getattr(self.controller, "reason", None) or self.controller.slot_reason(slot)
                controller_name = f"exact (fallback: {controller_name}: {why})"
        except ValueError as exc:  # e.g. a learned policy trained for another K: fall back to the optimum
            from mobigen.control.exact import ExactController

            logger.warning("controller %s refused slot %d (%s); using exact", controller_name, slot_id, exc)
            proposal = ExactController().decide(slot)
            controller_name = f"exact (fallback: {controller_name} refused: {exc})"
        self.metrics.slots_decided.labels(ran_as=controller_name.split(" ")[0]).inc()
        g = self.guard_fn(slot, proposal)  # constraints (11)-(13)
        outcome = evaluate_decision(slot, g.decision)  # eqs. (1), (2), (6)-(8)
        for name, values in (("o", g.decision.o), ("L1", outcome.vce_s), ("L2", outcome.denoise.total_s),
                             ("Q", outcome.Q)):
            if not np.all(np.isfinite(np.asarray(values, dtype=float))):
                raise ValueError(f"the decision's {name} is not finite: {np.asarray(values).tolist()}")
        return _SlotDecision(slot, proposal, g.decision, bool(g.feasible), outcome, controller_name)

    def _decide_isolating(self, slot_id: int, items: Sequence[_SlotItem]
                          ) -> tuple[list[int], _SlotDecision | None, dict[int, BaseException]]:
        """(kept indices, their decision, {index: cause} of the requests that broke it).

        Defence in depth: when the whole slot cannot be decided, each request is decided alone; the
        ones that fail alone (while a reference request of the scenario decides fine alone, so the
        server itself is sound) are dropped and the slot is decided again without them. When no single
        request is to blame, the reference fails too, or the rest still fails, the original error is
        raised: the slot fails as a whole (500)."""
        try:
            return list(range(len(items))), self._decide(slot_id, items), {}
        except Exception as exc:  # noqa: BLE001 - isolated below
            first = exc
        try:
            self._decide(slot_id, [self._reference_item()])
        except Exception:  # noqa: BLE001 - the server cannot decide even a Table I request: not the users' fault
            raise first from None
        culprits: dict[int, BaseException] = {}
        for i, it in enumerate(items):
            try:
                self._decide(slot_id, [it])
            except Exception as exc:  # noqa: BLE001
                culprits[i] = exc
        if not culprits:
            raise first
        kept = [i for i in range(len(items)) if i not in culprits]
        logger.warning("slot %d: the decision failed (%s); deciding again without request(s) %s", slot_id, first,
                       [items[i].record.request_id for i in culprits])
        if not kept:
            return [], None, culprits
        try:
            return kept, self._decide(slot_id, [items[i] for i in kept]), culprits
        except Exception:  # noqa: BLE001 - the rest fails too: the slot fails as a whole
            raise first from None

    def _reference_item(self) -> _SlotItem:
        """A plain request of the scenario (device type 0, Table I levels, mid-range links) for
        ``_decide_isolating`` to tell a broken request from a broken decision step."""
        sc = self.scenario
        meta = GenerateMeta.model_construct(
            request_id="reference", prompt="reference", condition=sc.conditions[0], alpha=sc.alphas[-1],
            beta=sc.betas[-1], codec="jpeg", omega_I=0.5, qoe_threshold=sc.qoe_threshold_range[0],
            device=DeviceProfile.model_construct(f_flops=sc.device_compute_ratios[0] * sc.f_edge,
                                                 budget_flops=sc.device_budget_ratios[0] * sc.edge_budget_flops),
            uplink_mbps=sum(sc.uplink_mbps_range) / 2, downlink_mbps=sum(sc.downlink_mbps_range) / 2, seed=0,
            extraction_s=None)
        return _SlotItem(RequestRecord(request_id="reference"), SlotRequest(meta, 10_000), 0.0, 0.0, 0.0, 0.0)

    def _decide_off_loop(self, slot_id: int, items: Sequence[_SlotItem]
                         ) -> tuple[list[int], _SlotDecision | None, dict[int, BaseException], float]:
        """``_decide_isolating`` as ``_handle_slot`` runs it, in a worker thread (issue 14, point 7: the
        decision never blocks the event loop), one slot at a time (controllers and quality models are
        not assumed thread-safe); returns its result and the CPU time it took in that thread (s)."""
        with self._decide_lock:
            c0 = time.thread_time()
            kept, sd, culprits = self._decide_isolating(slot_id, items)
            return kept, sd, culprits, time.thread_time() - c0

    async def _handle_slot(self, slot_id: int, all_items: Sequence[_SlotItem]) -> list[_Assignment | BaseException]:
        t_close = time.perf_counter()
        c_close = time.thread_time()
        for it in all_items:
            self.records.set_status(it.record, RequestStatus.DECIDING)
        kept, sd, culprits, decide_cpu_s = await asyncio.to_thread(self._decide_off_loop, slot_id, all_items)
        if sd is None:
            return [UndecidableRequest(culprits[i]) for i in range(len(all_items))]
        items = [all_items[i] for i in kept]
        slot, proposal, decision, outcome, controller_name = sd.slot, sd.proposal, sd.decision, sd.outcome, sd.controller_name
        if not sd.feasible:
            logger.warning("slot %d: no decision satisfies (12)-(13); executing the least-violating one", slot_id)
        decision_s = time.perf_counter() - t_close
        decision_cpu_s = time.thread_time() - c_close + decide_cpu_s
        K = slot.K
        self.metrics.slot_size.observe(K)
        self.metrics.decision_seconds.observe(decision_s)
        changed = (proposal.T != decision.T) | (proposal.e != decision.e)
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
                self.records.set_status(rec, RequestStatus.EDGE_RUNNING)
                fut = self.worker.submit(self._edge_job(rec))
            a = _Assignment(slot_id, K, t_close, decision_s, decision_cpu_s, info, model, fut,
                            full_offload=bool(decision.full_offload[k]))
            if fut is None:  # nothing to wait for: reply now, while the slot is being handled
                a.ready = self._reply(rec, a, None, it.t_submit, it.t0, it.ingest_processing_s, it.ingest_cpu_s,
                                      it.request.condition_bytes)
            out.append(a)
        self.metrics.queue_depth.set(self.worker.queued)
        self.events.publish(SlotEvent.build(slot_id, slot, decision, outcome, [it.record for it in items],
                                            controller=controller_name, decision_s=decision_s, feasible=sd.feasible,
                                            repaired=changed, budget_steps=self.ledgers[slot_id].budget_steps,
                                            worker=self.worker))
        served = iter(out)  # one result per request of the slot, in order: culprits get their own error
        return [UndecidableRequest(culprits[i]) if i in culprits else next(served) for i in range(len(all_items))]

    def _trim_ledgers(self, keep: int = 4096) -> None:
        if len(self.ledgers) > keep:
            for sid in sorted(self.ledgers)[: len(self.ledgers) - keep]:
                del self.ledgers[sid]

    def _edge_job(self, rec: RequestRecord) -> EdgeStepJob:
        """The request's edge share: run alone when called, or batched by the worker (``batched_worker``).
        The 512² condition is decoded from the uploaded bytes, exactly as the device decodes its own."""
        return EdgeStepJob(self.runner, rec.meta.prompt, rec.condition_data, rec.meta.condition, rec.meta.seed,
                           rec.T, rec.edge_steps)

    # ---- completion, deadline, take-over ---------------------------------------------------------
    def complete(self, request_id: str, body: CompleteBody) -> RequestState:
        """The device's confirmation (``ok``) or its report that it could not finish (``ok=False``)."""
        rec = self.records.get(request_id)
        if rec is None:
            raise ServiceError(404, "unknown_request", f"no request with id {request_id!r} (or it expired)")
        if rec.status != RequestStatus.AWAITING_DEVICE:
            raise ServiceError(409, "not_awaiting_device",
                               f"request {request_id!r} is '{rec.status}', not awaiting a device confirmation"
                               + (f" ({rec.detail})" if rec.detail else ""))
        if body.ok:
            self._finalise(rec, RequestStatus.COMPLETED, "the device confirmed it finished the local steps")
        else:
            self._take_over(rec, "the device reported it could not finish the local steps")
        return self.state(request_id)

    def _on_deadline(self, request_id: str) -> None:
        rec = self.records.get(request_id)
        if rec is None or rec.status != RequestStatus.AWAITING_DEVICE:
            return
        rec.deadline_handle = None
        self._take_over(rec, f"the device did not confirm completion within {self.deadline_s:g} s")

    def _take_over(self, rec: RequestRecord, why: str) -> None:
        remaining = rec.T - rec.edge_steps
        if self.runner is None or self._closing:
            reason = "the server is shutting down" if self._closing else "this server runs no generation (control plane only)"
            self._finalise(rec, RequestStatus.FAILED, f"{why}; the edge cannot take over: {reason}")
            logger.info("request %s failed: %s", rec.request_id, rec.detail)
            return
        ledger = self.ledgers.get(rec.slot_id) if rec.slot_id is not None else None
        if ledger is None or rec.latent_payload is None or ledger.used_steps + remaining > ledger.budget_steps:
            used = ledger.used_steps if ledger else "?"
            budget = ledger.budget_steps if ledger else "?"
            self._finalise(rec, RequestStatus.FAILED, f"{why}; the edge cannot finish the {remaining} remaining steps: "  # (12)
                           f"slot {rec.slot_id} has used {used} of its {budget} edge steps (C_E)")
            logger.warning("request %s failed: %s", rec.request_id, rec.detail)
            return
        ledger.used_steps += remaining
        self.records.set_status(rec, RequestStatus.EDGE_RUNNING, f"{why}; the edge is running the {remaining} remaining steps")
        self._spawn(self._run_take_over(rec, why, remaining))

    async def _run_take_over(self, rec: RequestRecord, why: str, remaining: int) -> None:
        from mobigen.generation import wire

        runner, meta, data, payload = self.runner, rec.meta, rec.condition_data, rec.latent_payload
        spec = self.spec

        def job() -> bytes:
            from mobigen.conditions import codec

            p = wire.decode_payload(payload)
            img = runner.finish(p, prompt=meta.prompt, condition_rgb=codec.decode(data),
                                expected_digest=runner.request_digest(prompt=meta.prompt, condition_bytes=data,
                                                                      seed=meta.seed, total_steps=rec.T,
                                                                      edge_steps=rec.edge_steps))
            return wire.encode_image(img, total_steps=p.total_steps, seed=p.seed, condition_type=p.condition_type,
                                     scheduler_config=p.scheduler_config, fmt=spec.image_format)

        try:
            res = await self.worker.submit(job)
        except WorkerClosed as exc:
            self._finalise(rec, RequestStatus.FAILED, f"{why}; the take-over was refused: {exc}")
            return
        except Exception as exc:  # noqa: BLE001
            self._finalise(rec, RequestStatus.FAILED, f"{why}; the edge take-over failed: {exc}")
            return
        rec.image_payload = res.value
        self._finalise(rec, RequestStatus.EDGE_COMPLETED, f"{why}; the edge ran the {remaining} remaining steps "
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


__all__ = ["EdgeService", "ServiceError", "UndecidableRequest", "default_controller", "default_quality_model"]
