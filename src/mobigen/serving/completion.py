"""Completion tracking: what happens to a request after its reply (Fig. 5, the device's local steps).

``CompletionTracker`` holds, for one edge:

- the slots' edge-budget ledgers (``SlotLedger``: ⌊C_E/ε₀⌋ steps per slot, constraint 12, with the
  steps spent so far, take-overs included);
- final statuses (``finalise``: the first final outcome stands, and is counted in the metrics);
- completion deadlines: after a latent reply the device must confirm by ``deadline_s``
  (``arm_deadline``); the device's confirmation or failure report (``complete``);
- take-overs: when the device misses its deadline or reports it could not finish, the edge runs the
  remaining T_k − e_k steps itself (a ``serving.jobs.TakeOverJob`` on the worker pool) if the slot's
  ledger allows them, else the request is marked failed with the reason;
- the queries ``state`` and ``image`` and ``note_undelivered`` (a reply the client did not read).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mobigen.serving.jobs import TakeOverJob
from mobigen.serving.metrics import ServerMetrics
from mobigen.serving.records import RecordStore, RequestRecord
from mobigen.serving.schemas import CompleteBody, RequestState, RequestStatus
from mobigen.serving.service_error import ServiceError
from mobigen.serving.worker import WorkerClosed

logger = logging.getLogger(__name__)


@dataclass
class SlotLedger:
    """One slot's edge budget and what it has spent."""

    budget_steps: int
    """⌊C_E / ε₀⌋, the slot's edge budget (steps)."""
    used_steps: int
    """Edge steps spent on this slot so far, take-overs included (steps)."""


def _unknown(request_id: str) -> ServiceError:
    return ServiceError(404, "unknown_request", f"no request with id {request_id!r} (or it expired)")


class CompletionTracker:
    """Ledgers, deadlines, take-overs and final statuses of one edge (module docstring)."""

    def __init__(self, records: RecordStore, metrics: ServerMetrics, *, deadline_s: float, edge_budget_steps: float,
                 pool: Any = None, closing: Callable[[], bool] = lambda: False,
                 spawn: Callable[[Any], None] | None = None, keep_ledgers: int = 4096) -> None:
        self.records = records
        self.metrics = metrics
        self.deadline_s = float(deadline_s)
        """Seconds after a latent reply by which the device must confirm (s)."""
        self.budget_steps = int(math.floor(edge_budget_steps + 1e-9))
        self.pool = pool
        """The worker pool take-overs run on; None for a control-plane-only server."""
        self._closing = closing
        self._spawn = spawn or (lambda coro: asyncio.get_running_loop().create_task(coro))
        self.ledgers: dict[int, SlotLedger] = {}
        self._keep = keep_ledgers

    # ---- statuses and ledgers ------------------------------------------------------------------
    def finalise(self, rec: RequestRecord, status: RequestStatus, detail: str = "") -> None:
        """Give ``rec`` its final status (the first final outcome stands)."""
        if rec.final:
            return
        self.records.set_status(rec, status, detail)
        self.metrics.completions.labels(status=status).inc()

    def open_ledger(self, slot_id: int, used_steps: int) -> SlotLedger:
        """The ledger of a just-decided slot whose decision spends ``used_steps`` edge steps."""
        ledger = self.ledgers[slot_id] = SlotLedger(budget_steps=self.budget_steps, used_steps=int(used_steps))
        if len(self.ledgers) > self._keep:
            for sid in sorted(self.ledgers)[: len(self.ledgers) - self._keep]:
                del self.ledgers[sid]
        return ledger

    def arm_deadline(self, rec: RequestRecord) -> float:
        """``rec`` awaits its device: start its completion deadline on the running loop; returns it (s)."""
        self.records.set_status(rec, RequestStatus.AWAITING_DEVICE)
        rec.deadline_handle = asyncio.get_running_loop().call_later(self.deadline_s, self.on_deadline, rec.request_id)
        return self.deadline_s

    # ---- the device's side -----------------------------------------------------------------------
    def complete(self, request_id: str, body: CompleteBody) -> RequestState:
        """The device's confirmation (``ok``) or its report that it could not finish (``ok=False``)."""
        rec = self.records.get(request_id)
        if rec is None:
            raise _unknown(request_id)
        if rec.status != RequestStatus.AWAITING_DEVICE:
            raise ServiceError(409, "not_awaiting_device",
                               f"request {request_id!r} is '{rec.status}', not awaiting a device confirmation"
                               + (f" ({rec.detail})" if rec.detail else ""))
        if body.ok:
            self.finalise(rec, RequestStatus.COMPLETED, "the device confirmed it finished the local steps")
        else:
            self.take_over(rec, "the device reported it could not finish the local steps")
        return self.state(request_id)

    def on_deadline(self, request_id: str) -> None:
        rec = self.records.get(request_id)
        if rec is None or rec.status != RequestStatus.AWAITING_DEVICE:
            return
        rec.deadline_handle = None
        self.take_over(rec, f"the device did not confirm completion within {self.deadline_s:g} s")

    # ---- take-over -------------------------------------------------------------------------------
    def take_over(self, rec: RequestRecord, why: str) -> None:
        """Run the remaining steps on the edge when the slot's ledger allows (12), else fail ``rec``."""
        remaining = rec.T - rec.edge_steps
        closing = self._closing()
        if self.pool is None or closing:
            reason = "the server is shutting down" if closing else "this server runs no generation (control plane only)"
            self.finalise(rec, RequestStatus.FAILED, f"{why}; the edge cannot take over: {reason}")
            logger.info("request %s failed: %s", rec.request_id, rec.detail)
            return
        ledger = self.ledgers.get(rec.slot_id) if rec.slot_id is not None else None
        if ledger is None or rec.latent_payload is None or ledger.used_steps + remaining > ledger.budget_steps:
            used = ledger.used_steps if ledger else "?"
            budget = ledger.budget_steps if ledger else "?"
            self.finalise(rec, RequestStatus.FAILED, f"{why}; the edge cannot finish the {remaining} remaining steps: "  # (12)
                          f"slot {rec.slot_id} has used {used} of its {budget} edge steps (C_E)")
            logger.warning("request %s failed: %s", rec.request_id, rec.detail)
            return
        ledger.used_steps += remaining
        self.records.set_status(rec, RequestStatus.EDGE_RUNNING, f"{why}; the edge is running the {remaining} remaining steps")
        job = TakeOverJob(rec.request_id, rec.meta.prompt, rec.condition_data, rec.meta.seed, rec.T, rec.edge_steps,
                          rec.latent_payload)
        self._spawn(self._run_take_over(rec, job, why, remaining))

    async def _run_take_over(self, rec: RequestRecord, job: TakeOverJob, why: str, remaining: int) -> None:
        try:
            res = await self.pool.submit(job)
        except WorkerClosed as exc:
            self.finalise(rec, RequestStatus.FAILED, f"{why}; the take-over was refused: {exc}")
            return
        except Exception as exc:  # noqa: BLE001
            self.finalise(rec, RequestStatus.FAILED, f"{why}; the edge take-over failed: {exc}")
            return
        rec.image_payload = res.value
        self.finalise(rec, RequestStatus.EDGE_COMPLETED, f"{why}; the edge ran the {remaining} remaining steps "
                      f"({res.run_s:.3f} s) and holds the image (GET /v1/requests/{rec.request_id}/image)")

    # ---- queries ---------------------------------------------------------------------------------
    def state(self, request_id: str) -> RequestState:
        rec = self.records.get(request_id)
        if rec is None:
            raise _unknown(request_id)
        return RequestState(request_id=rec.request_id, status=rec.status, detail=rec.detail, slot_id=rec.slot_id,
                            image_available=rec.image_payload is not None)

    def image(self, request_id: str) -> bytes:
        rec = self.records.get(request_id)
        if rec is None:
            raise _unknown(request_id)
        if rec.image_payload is None:
            raise ServiceError(404, "no_image", f"the edge holds no image for {request_id!r} (status '{rec.status}')")
        return rec.image_payload

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


__all__ = ["CompletionTracker", "SlotLedger"]
