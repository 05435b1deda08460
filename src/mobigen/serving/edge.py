"""The edge server's logic (Fig. 5, right half), independent of HTTP: ``EdgeService``.

One request's life, and the part that handles each step:

1. the upload's fields are checked (``serving.admission``, in the route), then the edge's capacity
   (``serving.capacity.CapacityGate``: bounded queues, 503 + Retry-After, a request that cannot be
   served in time is told so);
2. it is recorded (``serving.records``: a status from ``schemas.RequestStatus``) and waits in the
   open slot (``serving.batcher.SlotBatcher``) until K requests are in or the window ends;
3. the slot is decided off the event loop (``serving.decision.SlotDecider``: controller + guard
   (11)-(13) + eqs. (1), (2), (6)-(8); a request that breaks the decision fails alone);
4. each user's ⌊o_k T_k⌋ edge steps run as a ``serving.jobs.EdgeJob`` on the worker pool
   (``serving.pool``: N replicas, in this process or on Ray Serve; a job whose replica died is run
   again on another one);
5. the reply (latent for o_k < 1, image for o_k = 1) is framed here (``_reply``);
6. for o_k < 1 the device must confirm by a deadline, else the edge takes over the remaining steps
   when the slot's edge budget C_E allows, or the request is marked failed
   (``serving.completion.CompletionTracker``).

Every request ends in a final status that ``state()`` reports; none is dropped silently. The
embedded engine and the Ray engine share all of this; only the worker pool's transport differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mobigen.scenario import resolve
from mobigen.serving.batcher import BatcherClosed, SlotBatcher
from mobigen.serving.capacity import CapacityGate, CapacityLimits, retry_after
from mobigen.serving.completion import CompletionTracker
from mobigen.serving.decision import (
    SlotDecider,
    SlotDecision,
    UndecidableRequest,
    default_controller,
    default_quality_model,
)
from mobigen.serving.events import EventBus, RequestEvent, SlotEvent
from mobigen.serving.jobs import EdgeJob
from mobigen.serving.metrics import ServerMetrics
from mobigen.serving.pool import EmbeddedWorkerPool, NoLiveWorker, WorkerPool
from mobigen.serving.protocol import encode_result
from mobigen.serving.records import RecordStore, RecordStoreFull, RequestRecord
from mobigen.serving.schemas import CompleteBody, GenerateMeta, RequestState, RequestStatus, ResultMeta
from mobigen.serving.service_error import ServiceError
from mobigen.serving.settings import ServerSettings
from mobigen.serving.slotting import SlotRequest
from mobigen.serving.splitrun import GenerationSpec, SplitRunner
from mobigen.serving.worker import JobResult, WorkerClosed
from mobigen.system import SystemParams, transfer_time_s

logger = logging.getLogger(__name__)

_SlotDecision = SlotDecision  # the name tests and older callers use


@dataclass
class _SlotItem:
    """A request waiting in the open slot."""

    record: RequestRecord
    request: SlotRequest
    t_submit: float
    t0: float
    ingest_processing_s: float
    ingest_cpu_s: float


@dataclass
class _Assignment:
    """One request's share of its decided slot (what ``_serve`` awaits)."""

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


@dataclass(frozen=True)
class _SlotColumns:
    """A decided slot's per-user figures as Python lists, converted once per slot: each user's reply
    then reads plain numbers instead of indexing a dozen numpy arrays and converting the scalars."""

    T: list[int]
    edge_steps: list[int]
    o: list[float]
    full_offload: list[bool]
    repaired: list[bool]
    """The guard changed this user's (T, e) (constraints (11)-(13))."""
    L1_s: list[float]
    uplink_s: list[float]
    L2_s: list[float]
    edge_s: list[float]
    downlink_s: list[float]
    local_s: list[float]
    Q: list[float]

    @classmethod
    def of(cls, sd: SlotDecision, changed: np.ndarray) -> "_SlotColumns":
        d, out = sd.decision, sd.outcome

        def floats(a: Any) -> list[float]:
            return np.asarray(a, dtype=float).tolist()

        return cls(T=np.asarray(d.T, dtype=np.int64).tolist(), edge_steps=np.asarray(d.edge_steps, dtype=np.int64).tolist(),
                   o=floats(d.o), full_offload=np.asarray(d.full_offload, dtype=bool).tolist(),
                   repaired=np.asarray(changed, dtype=bool).tolist(), L1_s=floats(out.vce_s),
                   uplink_s=floats(transfer_time_s(sd.slot.condition_bytes, sd.slot.uplink_bps)),
                   L2_s=floats(out.denoise.total_s), edge_s=floats(out.denoise.edge_s),
                   downlink_s=floats(out.denoise.downlink_s), local_s=floats(out.denoise.local_s), Q=floats(out.Q))


class EdgeService:
    """One edge: capacity, slots, decisions, the worker pool, completion tracking and metrics.

    ``pool`` is the worker pool (default: ``EmbeddedWorkerPool`` with ``settings.workers`` threads;
    the Ray engine passes a ``serving.ray.pool.RayWorkerPool``)."""

    def __init__(
        self,
        settings: ServerSettings,
        *,
        controller: Any = None,
        quality_model: Any = None,
        runner: SplitRunner | None = None,
        guard_fn: Any = None,
        pool: WorkerPool | None = None,
    ) -> None:
        self.settings = settings
        self.scenario = resolve(settings.scenario)
        self.params = SystemParams.from_scenario(self.scenario)
        self.quality = quality_model if quality_model is not None else default_quality_model(self.scenario)
        self.decider = SlotDecider(self.scenario, self.params, controller if controller is not None else
                                   default_controller(settings.controller, self.scenario, settings.controller_seed),
                                   self.quality, guard_fn)
        self.spec = GenerationSpec(settings.components, settings.components_seed, settings.image_size,
                                   settings.wire_mode, settings.image_format)
        # the weights load lazily: with the Ray engine they load in the worker replicas, never here
        self.runner = (runner if runner is not None else SplitRunner(self.spec)) if settings.denoise == "run" else None
        self.metrics = ServerMetrics()
        self.events = EventBus()
        """In-process pub/sub of SlotEvent / RequestEvent (the web console subscribes)."""
        self.records = RecordStore(settings.record_ttl_s, settings.max_records)
        self.pool: WorkerPool = pool if pool is not None else EmbeddedWorkerPool(
            self.runner, settings.workers, max_batch=settings.edge_max_batch)
        self.capacity = CapacityGate(CapacityLimits(
            queue_limit=settings.queue_limit, max_edge_queue=settings.max_edge_queue,
            max_wait_s=float(settings.max_wait_s or self.scenario.latency_threshold_s),
            slot_window_s=settings.slot_ms / 1000.0, steps_min=self.params.steps_min, eps0_flops=self.params.eps0,
            edge_budget_steps=self.params.edge_budget_steps))
        self.batcher: SlotBatcher | None = None
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()
        self.completion = CompletionTracker(
            self.records, self.metrics, deadline_s=float(settings.completion_deadline_s or self.scenario.latency_threshold_s),
            edge_budget_steps=self.params.edge_budget_steps, pool=self.pool if self.runner is not None else None,
            closing=lambda: self._closing, spawn=self._spawn)
        self._serving = 0
        """``submit`` calls between acceptance and their answer (reply built or error raised)."""
        self._idle = asyncio.Event()
        """Set whenever ``_serving`` is 0: shutdown waits on it instead of guessing from statuses."""
        self._idle.set()

    # ---- parts, as the app, the console and the tests see them -------------------------------------
    @property
    def worker(self) -> WorkerPool:
        """The worker pool (``queued``, ``busy``, ``closed``, ``close``), under its older name."""
        return self.pool

    @property
    def controller(self) -> Any:
        return self.decider.controller

    @property
    def controller_name(self) -> str:
        return self.decider.controller_name

    @property
    def deadline_s(self) -> float:
        """Seconds after a latent reply by which the device must confirm completion (s)."""
        return self.completion.deadline_s

    @property
    def ledgers(self) -> dict:
        """Slot id → ``completion.SlotLedger`` (edge budget (12) and what it has spent)."""
        return self.completion.ledgers

    @property
    def components_label(self) -> str:
        """'tiny(seed=N)', a weights directory, or 'none (control plane only)'."""
        return self.spec.label if self.runner is not None else "none (control plane only)"

    @property
    def closing(self) -> bool:
        """True once shutdown has begun (new requests get 503)."""
        return self._closing

    # ---- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Warm the workers and create the batcher on the running loop (call once, from the app's startup)."""
        self._loop = asyncio.get_running_loop()
        if self.runner is not None:
            if self.settings.torch_threads > 0:  # before the workers' first torch op: they take it then
                import torch

                torch.set_num_threads(self.settings.torch_threads)
            await self.pool.warm_up()  # the weights load before the first slot, in the workers (off the loop)
        await asyncio.to_thread(self.decider.warm_up, self.settings.max_users)  # the first slot is not the slow one
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
        await self.pool.aclose(finish=finish, timeout_s=grace)
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
        self.completion.finalise(rec, status, detail)

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
        self.capacity.check(meta, in_flight=self.records.n_active, pool=self.pool if self.runner is not None else None,
                            slot_pending=self.batcher.pending)  # 503 + Retry-After, or 422: serving.capacity
        rid = meta.request_id or uuid.uuid4().hex
        if rid in self.records:
            raise ServiceError(409, "duplicate_request", f"field 'request_id': {rid!r} was already submitted; "
                               f"query GET /v1/requests/{rid}")
        try:
            rec = self.records.add(RequestRecord(request_id=rid, meta=meta, condition_data=condition_data))
        except RecordStoreFull as exc:
            raise ServiceError(503, "overloaded", f"refused: {exc}; retry later", headers=retry_after(None)) from None
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
        a = await self._await_slot(rec, _SlotItem(rec, SlotRequest(meta, condition_bytes), t_submit, t0,
                                                  ingest_processing_s, ingest_cpu_s))
        job = await self._await_edge(rec, a) if a.edge_future is not None else None
        if a.ready is not None:  # built with the whole slot (no edge job): see _handle_slot
            return a.ready
        return self._reply(rec, a, job, t_submit, t0, ingest_processing_s, ingest_cpu_s, condition_bytes)

    async def _await_slot(self, rec: RequestRecord, item: _SlotItem) -> _Assignment:
        """Steps 2-3: wait for the slot's decision; each failure gives ``rec`` its final status."""
        try:
            fut = self.batcher.submit(item)
            return await asyncio.shield(fut)
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

    async def _await_edge(self, rec: RequestRecord, a: _Assignment) -> JobResult:
        """Step 4: wait for the request's edge job; each failure gives ``rec`` its final status."""
        try:
            return await asyncio.shield(a.edge_future)
        except WorkerClosed as exc:
            self._finalise(rec, RequestStatus.REFUSED, str(exc))
            raise ServiceError(503, "shutting_down", str(exc)) from None
        except asyncio.CancelledError:
            self._finalise(rec, RequestStatus.ABANDONED, "the client went away during edge denoising; its share was discarded")
            raise
        except NoLiveWorker as exc:  # every replica died under it (serving.pool): a clear failure, never a hang
            self._finalise(rec, RequestStatus.FAILED, f"edge denoising failed: {exc}")
            raise ServiceError(503, "no_edge_worker", f"edge denoising failed: {exc}",
                               headers=retry_after(self.settings.slot_ms / 1000.0)) from None
        except Exception as exc:  # noqa: BLE001 - generation failure of this request only
            self._finalise(rec, RequestStatus.FAILED, f"edge denoising failed: {exc}")
            raise ServiceError(500, "edge_failed", f"edge denoising failed: {exc}") from None

    def _reply(self, rec: RequestRecord, a: "_Assignment", job: JobResult | None, t_submit: float, t0: float,
               ingest_processing_s: float, ingest_cpu_s: float, condition_bytes: int) -> tuple[ResultMeta, bytes, bytes]:
        """Step 5: final status or completion deadline, timings and the framed reply of one request."""
        t_resume = time.perf_counter()
        c_resume = time.thread_time()
        rid = rec.request_id
        kind, payload = job.value if job is not None else ("none", b"")
        if a.full_offload:
            self._finalise(rec, RequestStatus.EDGE_COMPLETED, "o_k = 1: the edge ran every step and returned the image")
            deadline = None
        else:
            rec.latent_payload = payload if kind == "latent" else None
            deadline = self.completion.arm_deadline(rec)
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

    # ---- one slot ------------------------------------------------------------------------------
    def _decide(self, slot_id: int, items: Sequence[_SlotItem]) -> SlotDecision:
        """``SlotDecider.decide`` of these waiting requests (raises on any failure)."""
        return self.decider.decide(slot_id, [it.request for it in items])

    def _decide_isolating(self, slot_id: int, items: Sequence[_SlotItem]
                          ) -> tuple[list[int], SlotDecision | None, dict[int, BaseException]]:
        """``SlotDecider.decide_isolating``: (kept indices, their decision, {index: cause})."""
        return self.decider.decide_isolating(slot_id, [it.request for it in items],
                                             [it.record.request_id for it in items])

    async def _handle_slot(self, slot_id: int, all_items: Sequence[_SlotItem]) -> list[_Assignment | BaseException]:
        """Steps 3-4 for one closed slot: one result per request, in order (culprits get their own error)."""
        t_close = time.perf_counter()
        c_close = time.thread_time()
        for it in all_items:
            self.records.set_status(it.record, RequestStatus.DECIDING)
        kept, sd, culprits, decide_cpu_s = await asyncio.to_thread(  # never on the event loop (point 7)
            self.decider.decide_off_loop, slot_id, [it.request for it in all_items],
            [it.record.request_id for it in all_items])
        if sd is None:
            return [UndecidableRequest(culprits[i]) for i in range(len(all_items))]
        items = [all_items[i] for i in kept]
        if not sd.feasible:
            logger.warning("slot %d: no decision satisfies (12)-(13); executing the least-violating one", slot_id)
        decision_s = time.perf_counter() - t_close
        decision_cpu_s = time.thread_time() - c_close + decide_cpu_s
        self.metrics.slot_size.observe(sd.slot.K)
        self.metrics.slots_decided.labels(ran_as=sd.controller_name.split(" ")[0]).inc()  # 'exact' on a fallback
        self.metrics.decision_seconds.observe(decision_s)
        changed = (sd.proposal.T != sd.decision.T) | (sd.proposal.e != sd.decision.e)
        self.metrics.guard_repairs.inc(int(changed.sum()))
        ledger = self.completion.open_ledger(slot_id, int(sd.decision.edge_steps.sum()))
        cols = _SlotColumns.of(sd, changed)
        out = [self._assign(slot_id, k, it, sd, cols, t_close, decision_s, decision_cpu_s) for k, it in enumerate(items)]
        self.metrics.queue_depth.set(self.pool.queued)
        self.events.publish(SlotEvent.build(slot_id, sd.slot, sd.decision, sd.outcome, [it.record for it in items],
                                            controller=sd.controller_name, decision_s=decision_s, feasible=sd.feasible,
                                            repaired=changed, budget_steps=ledger.budget_steps, worker=self.pool))
        served = iter(out)
        return [UndecidableRequest(culprits[i]) if i in culprits else next(served) for i in range(len(all_items))]

    def _assign(self, slot_id: int, k: int, it: _SlotItem, sd: SlotDecision, cols: "_SlotColumns",
                t_close: float, decision_s: float, decision_cpu_s: float) -> _Assignment:
        """User ``k``'s share of the decided slot; its edge job is started on the pool."""
        rec = it.record
        rec.slot_id = slot_id
        rec.T = cols.T[k]
        rec.edge_steps = cols.edge_steps[k]
        info = dict(T=rec.T, o=cols.o[k], edge_steps=rec.edge_steps,  # schemas.DecisionInfo
                    local_steps=rec.T - rec.edge_steps, controller=sd.controller_name, guard_repaired=cols.repaired[k])
        model = dict(  # schemas.ModelPrediction
            L1_s=cols.L1_s[k], uplink_s=cols.uplink_s[k], L2_s=cols.L2_s[k], edge_s=cols.edge_s[k],
            downlink_s=cols.downlink_s[k], local_s=cols.local_s[k], Q=cols.Q[k], quality_backend=sd.slot.quality_backend,
        )
        fut = None
        if self.runner is not None:
            self.records.set_status(rec, RequestStatus.EDGE_RUNNING)
            fut = self.pool.submit(EdgeJob(rec.request_id, rec.meta.prompt, rec.condition_data, rec.meta.condition,
                                           rec.meta.seed, rec.T, rec.edge_steps))
        a = _Assignment(slot_id, sd.slot.K, t_close, decision_s, decision_cpu_s, info, model, fut,
                        full_offload=cols.full_offload[k])
        if fut is None:  # nothing to wait for: reply now, while the slot is being handled
            a.ready = self._reply(rec, a, None, it.t_submit, it.t0, it.ingest_processing_s, it.ingest_cpu_s,
                                  it.request.condition_bytes)
        return a

    # ---- completion, deadline, take-over (serving.completion) -----------------------------------
    def complete(self, request_id: str, body: CompleteBody) -> RequestState:
        """The device's confirmation (``ok``) or its report that it could not finish (``ok=False``)."""
        return self.completion.complete(request_id, body)

    def state(self, request_id: str) -> RequestState:
        return self.completion.state(request_id)

    def image(self, request_id: str) -> bytes:
        return self.completion.image(request_id)

    def note_undelivered(self, request_id: str, kind: str, payload: bytes) -> None:
        """The client went away before reading its whole reply (``CompletionTracker.note_undelivered``)."""
        self.completion.note_undelivered(request_id, kind, payload)


__all__ = ["EdgeService", "ServiceError", "UndecidableRequest", "default_controller", "default_quality_model"]
