"""In-process events of the edge service: a small pub/sub bus (``EventBus``) and its typed events.

``EdgeService`` publishes a ``SlotEvent`` when a slot's decision has been made (controller + guard,
the system model's prediction for every user) and a ``RequestEvent`` when the edge's part of a
request is done (its measured server timings and reply size). Anything in the process may
subscribe (the web console does); nothing here knows about HTTP.

Order: a slot's ``RequestEvent``s usually follow its ``SlotEvent``; on a control-plane-only server (no
edge job) the replies are built while the slot is handled, so they come first. Consumers match events
by ``request_id``.

Publishing never blocks the edge: every subscriber has a bounded queue, and when a slow subscriber's
queue is full its oldest event is dropped (and counted). The bus also keeps the most recent events
in a ring buffer for late joiners (``recent``).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UserSlotView:
    """One user of a closed slot: ν_k, preferences, the decision and the system model's prediction."""

    request_id: str
    """The request's id."""
    condition: str
    """λ_k, condition type."""
    alpha: float
    """α_k, resolution level."""
    beta: float
    """β_k, quality level."""
    codec: str
    """Codec of the uploaded condition."""
    omega_I: float
    """ω^I_k, preference for perceptual similarity."""
    qoe_threshold: float
    """Q̃_k, required QoE."""
    T: int
    """T_k, total denoising steps decided."""
    o: float
    """o_k, offloading ratio (derived from e_k: ``Decision.o``)."""
    edge_steps: int
    """e_k = ⌊o_k T_k⌋, steps on the edge (eq. 4; the decision's truth, ``system.offload``)."""
    local_steps: int
    """d_k = T_k − e_k, steps on the device (eq. 5)."""
    guard_repaired: bool
    """The feasibility guard changed this user's (T_k, o_k)."""
    uplink_bytes: int
    """D(I_k(ν_k)), bytes of the condition received (bytes)."""
    predicted: dict[str, float]
    """System-model latency parts (s): L1 (eq. 2), uplink, edge, downlink, local, L2 (eqs. 6-7), L = L1 + L2."""
    Q: float
    """Q_k predicted by the quality model (eq. 1); see ``SlotEvent.quality_backend``."""
    satisfied: bool
    """Q_k ≥ Q̃_k by the same quality model."""


@dataclass(frozen=True)
class SlotEvent:
    """A slot whose decision has just been made."""

    slot_id: int
    """Sequence number of the slot."""
    t_wall: float
    """Wall-clock time of the decision (Unix seconds)."""
    controller: str
    """Controller that decided (with any fallback noted)."""
    K: int
    """Users in the slot."""
    decision_s: float
    """Slot build + decide + guard (s)."""
    feasible: bool
    """The guard found a decision satisfying constraints (12)-(13)."""
    quality_backend: str
    """Backend of Q ('surrogate' unless configured)."""
    latency_threshold_s: float
    """L̃, the latency the system model is held to (s)."""
    edge_budget_steps: int
    """⌊C_E / ε₀⌋, the slot's edge budget (steps)."""
    edge_used_steps: int
    """Edge steps the decision spends, Σ e_k (steps; constraint (12))."""
    worker_queue: int
    """Jobs waiting in the edge's denoising worker right after this slot's jobs were queued."""
    worker_busy: bool
    """The worker was running a job when the slot closed."""
    users: tuple[UserSlotView, ...]
    """One entry per user, in arrival order."""
    kind: str = field(default="slot", init=False)
    """Event kind on the wire ('slot')."""

    @classmethod
    def build(cls, slot_id: int, slot: Any, decision: Any, outcome: Any, records: Sequence[Any], *,
              controller: str, decision_s: float, feasible: bool, repaired: Sequence[bool],
              budget_steps: int, worker: Any) -> "SlotEvent":
        """From the edge's objects: ``system.Slot``, ``Decision``, ``SlotOutcome``, the slot's
        ``RequestRecord``s (request id + validated meta) and its ``DenoiseWorker``."""
        from mobigen.system import transfer_time_s

        up_s = transfer_time_s(slot.condition_bytes, slot.uplink_bps)
        L = outcome.L
        sat = outcome.satisfied
        e, d, o = decision.edge_steps, decision.local_steps, decision.o  # eqs. (4), (5); o derived once
        users = []
        for k, rec in enumerate(records):
            m = rec.meta
            pred = {"L1": float(outcome.vce_s[k]), "uplink": float(up_s[k]), "edge": float(outcome.denoise.edge_s[k]),
                    "downlink": float(outcome.denoise.downlink_s[k]), "local": float(outcome.denoise.local_s[k]),
                    "L2": float(outcome.denoise.total_s[k]), "L": float(L[k])}
            users.append(UserSlotView(
                request_id=rec.request_id, condition=m.condition, alpha=float(m.alpha), beta=float(m.beta),
                codec=m.codec, omega_I=float(m.omega_I), qoe_threshold=float(m.qoe_threshold),
                T=int(decision.T[k]), o=float(o[k]), edge_steps=int(e[k]),
                local_steps=int(d[k]), guard_repaired=bool(repaired[k]),
                uplink_bytes=int(slot.condition_bytes[k]), predicted=pred, Q=float(outcome.Q[k]),
                satisfied=bool(sat[k])))
        return cls(slot_id=int(slot_id), t_wall=time.time(), controller=str(controller), K=len(users),
                   decision_s=float(decision_s), feasible=bool(feasible), quality_backend=slot.quality_backend,
                   latency_threshold_s=float(slot.params.latency_threshold_s), edge_budget_steps=int(budget_steps),
                   edge_used_steps=int(e.sum()), worker_queue=int(worker.queued),
                   worker_busy=bool(getattr(worker, "busy", False)), users=tuple(users))


@dataclass(frozen=True)
class RequestEvent:
    """The edge's part of one request is done: its reply is built."""

    request_id: str
    """The request's id."""
    slot_id: int
    """Slot that served it."""
    status: str
    """Status after the reply ('awaiting_device' or 'edge_completed')."""
    payload_kind: str
    """'latent', 'image' or 'none'."""
    payload_bytes: int
    """D(z) or D(x₀): bytes of the wire payload alone (bytes)."""
    downlink_bytes: int
    """Bytes of the framed reply (bytes)."""
    timings: dict[str, float]
    """The server's measured timings (``schemas.Timings`` fields, s)."""
    t_wall: float = field(default_factory=time.time)
    """Wall-clock time (Unix seconds)."""
    kind: str = field(default="request", init=False)
    """Event kind on the wire ('request')."""


@dataclass(frozen=True)
class DeviceEvent:
    """A (simulated) device's own measurements of one finished request."""

    request_id: str
    """The request's id."""
    measured: dict[str, float]
    """Device-side measured parts (s): extraction, uplink, server_wait, downlink, local, L1, L2, L."""
    simulated: bool
    """True for the console's simulated device."""
    t_wall: float = field(default_factory=time.time)
    """Wall-clock time (Unix seconds)."""
    kind: str = field(default="device", init=False)
    """Event kind on the wire ('device')."""


def event_dict(event: Any) -> dict:
    """A JSON-ready dict of an event (a dataclass above, or already a dict)."""
    return asdict(event) if not isinstance(event, dict) else dict(event)


class Subscription:
    """One subscriber's bounded queue; iterate with ``await sub.get(timeout)``."""

    def __init__(self, bus: "EventBus", maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"field 'maxsize' must be ≥ 1, got {maxsize}")
        self._bus = bus
        self._loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue = asyncio.Queue(maxsize)
        self.dropped = 0
        """Events dropped because this subscriber was too slow (its queue was full)."""

    def _offer(self, item: tuple[int, Any]) -> None:
        """Put without blocking; when full, drop the oldest event."""
        while True:
            try:
                self.queue.put_nowait(item)
                return
            except asyncio.QueueFull:
                try:
                    self.queue.get_nowait()
                    self.dropped += 1
                except asyncio.QueueEmpty:
                    pass

    async def get(self, timeout_s: float) -> tuple[int, Any] | None:
        """The next (sequence number, event), or None after ``timeout_s`` without one."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout_s)
        except TimeoutError:
            return None

    def close(self) -> None:
        self._bus.unsubscribe(self)

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class EventBus:
    """Publish events to every subscriber without ever blocking the publisher."""

    def __init__(self, history: int = 500) -> None:
        if history < 1:
            raise ValueError(f"field 'history' must be ≥ 1, got {history}")
        self._lock = threading.Lock()
        self._subs: list[Subscription] = []
        self._recent: collections.deque = collections.deque(maxlen=history)
        self._seq = itertools.count(1)

    @property
    def n_subscribers(self) -> int:
        return len(self._subs)

    def subscribe(self, maxsize: int = 256) -> Subscription:
        """A new subscription (call on the event loop that will read it)."""
        sub = Subscription(self, maxsize)
        with self._lock:
            self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def publish(self, event: Any) -> int:
        """Record ``event`` and hand it to every subscriber; returns its sequence number. Safe from any thread."""
        with self._lock:
            seq = next(self._seq)
            self._recent.append((seq, event))
            subs = list(self._subs)
        for sub in subs:
            try:
                on_loop = asyncio.get_running_loop() is sub._loop
            except RuntimeError:
                on_loop = False
            if on_loop:
                sub._offer((seq, event))
            else:
                try:
                    sub._loop.call_soon_threadsafe(sub._offer, (seq, event))
                except RuntimeError:  # that subscriber's loop is closed
                    self.unsubscribe(sub)
        return seq

    def recent(self, limit: int | None = None, kind: str | None = None) -> list[tuple[int, Any]]:
        """The most recent (sequence number, event) pairs, oldest first, optionally of one ``kind``."""
        with self._lock:
            items = list(self._recent)
        if kind is not None:
            items = [it for it in items if getattr(it[1], "kind", None) == kind]
        return items[-limit:] if limit else items


__all__ = ["DeviceEvent", "EventBus", "RequestEvent", "SlotEvent", "Subscription", "UserSlotView", "event_dict"]
