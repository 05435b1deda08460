"""The slot decision: live requests → ``system.Slot`` → controller → guard (11)-(13) → evaluation.

``SlotDecider`` is what ``EdgeService`` asks once per closed slot (in a worker thread: the decision
never blocks the event loop, issue 14 point 7). It knows nothing of HTTP, records or workers:

1. ``decide(slot_id, requests)``: ``build_slot`` (``serving.slotting``), ``controller.decide`` (a
   controller that refuses the slot, e.g. a learned policy trained for another K, falls back to the
   exact optimum, noted in the name), ``guard`` (constraints 11-13), ``evaluate_decision`` (eqs. 1, 2,
   6-8); raises on any failure, including a decision or prediction that is not finite;
2. ``decide_isolating``: defence in depth (issue 12): when the whole slot cannot be decided, the
   requests that fail alone are dropped (each gets ``UndecidableRequest``, 422) and the rest decided
   again; when no single request is to blame the slot fails as a whole;
3. ``decide_off_loop``: 2 as the service runs it, one slot at a time (controllers and quality models
   are not assumed thread-safe), with the CPU time it took.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mobigen.scenario import Scenario
from mobigen.serving.schemas import DeviceProfile, GenerateMeta
from mobigen.serving.service_error import ServiceError
from mobigen.serving.slotting import SlotRequest, build_slot
from mobigen.system import Decision, SystemParams, evaluate_decision

logger = logging.getLogger(__name__)


class UndecidableRequest(ServiceError):
    """A request whose values broke its slot's decision although they passed admission: it alone
    fails (422) and its slot is decided again without it (defence in depth, issue 12)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(422, "undecidable_request",
                         f"the slot's decision failed on this request's values ({type(cause).__name__}: {cause}); "
                         "the other users of its slot were served without it")


@dataclass(frozen=True)
class SlotDecision:
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


def default_controller(name: str, scenario: Scenario, seed: int) -> Any:
    """The controller named ``name`` from ``control.registry.resolve_controller`` (learned policies load
    their shipped checkpoints; one that does not fit the scenario answers with Exact, and every reply's
    ``controller`` says so)."""
    from mobigen.control.registry import resolve_controller

    ctrl, why = resolve_controller(name, scenario, seed=seed)
    if why is not None:
        logger.warning("controller %s does not fit scenario '%s' (%s): exact answers its slots", name, scenario.name,
                       why)
    return ctrl


def default_quality_model(scenario: Scenario) -> Any:
    """The default quality model (``conditions.quality.make_quality_model``; surrogate unless configured)."""
    from mobigen.conditions.quality import make_quality_model

    return make_quality_model()


def reference_request(scenario: Scenario) -> SlotRequest:
    """A plain request of the scenario (device type 0, Table I levels, mid-range links): what
    ``decide_isolating`` decides to tell a broken request from a broken decision step."""
    sc = scenario
    meta = GenerateMeta.model_construct(
        request_id="reference", prompt="reference", condition=sc.conditions[0], alpha=sc.alphas[-1],
        beta=sc.betas[-1], codec="jpeg", omega_I=0.5, qoe_threshold=sc.qoe_threshold_range[0],
        device=DeviceProfile.model_construct(f_flops=sc.device_compute_ratios[0] * sc.f_edge,
                                             budget_flops=sc.device_budget_ratios[0] * sc.edge_budget_flops),
        uplink_mbps=sum(sc.uplink_mbps_range) / 2, downlink_mbps=sum(sc.downlink_mbps_range) / 2, seed=0,
        extraction_s=None)
    return SlotRequest(meta, 10_000)


class SlotDecider:
    """Decides slots for one edge (module docstring)."""

    def __init__(self, scenario: Scenario, params: SystemParams, controller: Any, quality: Any,
                 guard_fn: Any = None) -> None:
        if guard_fn is None:
            from mobigen.control.guard import guard as guard_fn
        self.scenario = scenario
        self.params = params
        self.controller = controller
        self.quality = quality
        self.guard_fn = guard_fn
        self._lock = threading.Lock()

    @property
    def controller_name(self) -> str:
        return str(getattr(self.controller, "name", type(self.controller).__name__))

    def decide(self, slot_id: int, requests: Sequence[SlotRequest]) -> SlotDecision:
        """Step 1 of the module docstring."""
        slot = build_slot(list(requests), self.scenario, self.params, self.quality)
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
        g = self.guard_fn(slot, proposal)  # constraints (11)-(13)
        outcome = evaluate_decision(slot, g.decision)  # eqs. (1), (2), (6)-(8)
        for name, values in (("o", g.decision.o), ("L1", outcome.vce_s), ("L2", outcome.denoise.total_s),
                             ("Q", outcome.Q)):
            if not np.all(np.isfinite(np.asarray(values, dtype=float))):
                raise ValueError(f"the decision's {name} is not finite: {np.asarray(values).tolist()}")
        return SlotDecision(slot, proposal, g.decision, bool(g.feasible), outcome, controller_name)

    def decide_isolating(self, slot_id: int, requests: Sequence[SlotRequest], ids: Sequence[str] = ()
                         ) -> tuple[list[int], SlotDecision | None, dict[int, BaseException]]:
        """Step 2: (kept indices, their decision, {index: cause} of the requests that broke it).

        When no single request is to blame, the reference request fails too, or the rest still fails,
        the original error is raised: the slot fails as a whole (500)."""
        try:
            return list(range(len(requests))), self.decide(slot_id, requests), {}
        except Exception as exc:  # noqa: BLE001 - isolated below
            first = exc
        try:
            self.decide(slot_id, [reference_request(self.scenario)])
        except Exception:  # noqa: BLE001 - the server cannot decide even a Table I request: not the users' fault
            raise first from None
        culprits: dict[int, BaseException] = {}
        for i, r in enumerate(requests):
            try:
                self.decide(slot_id, [r])
            except Exception as exc:  # noqa: BLE001
                culprits[i] = exc
        if not culprits:
            raise first
        kept = [i for i in range(len(requests)) if i not in culprits]
        logger.warning("slot %d: the decision failed (%s); deciding again without request(s) %s", slot_id, first,
                       [ids[i] if i < len(ids) else i for i in culprits])
        if not kept:
            return [], None, culprits
        try:
            return kept, self.decide(slot_id, [requests[i] for i in kept]), culprits
        except Exception:  # noqa: BLE001 - the rest fails too: the slot fails as a whole
            raise first from None

    def warm_up(self, k: int) -> None:
        """Decide one slot of ``k`` reference requests and drop it: the controller's first call (numpy's
        and the solver's first-use costs, a learned policy's first forward) happens before the first
        real slot. A failure is logged, not raised: real slots report their own errors."""
        t0 = time.perf_counter()
        try:
            with self._lock:
                self.decide(-1, [reference_request(self.scenario)] * max(1, int(k)))
        except Exception as exc:  # noqa: BLE001 - see the docstring
            logger.warning("controller warm-up on a slot of %d reference requests failed: %s", k, exc)
            return
        logger.info("controller %s warmed up on a slot of %d users in %.1f ms", self.controller_name, k,
                    (time.perf_counter() - t0) * 1000.0)

    def decide_off_loop(self, slot_id: int, requests: Sequence[SlotRequest], ids: Sequence[str] = ()
                        ) -> tuple[list[int], SlotDecision | None, dict[int, BaseException], float]:
        """Step 3 (call it in a worker thread): ``decide_isolating`` one slot at a time, and the CPU
        time it took in that thread (s)."""
        with self._lock:
            c0 = time.thread_time()
            kept, sd, culprits = self.decide_isolating(slot_id, requests, ids)
            return kept, sd, culprits, time.thread_time() - c0


__all__ = ["SlotDecider", "SlotDecision", "UndecidableRequest", "default_controller", "default_quality_model",
           "reference_request"]
