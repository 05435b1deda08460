"""Where every request stands: an in-memory table of request records with a bounded lifetime.

Each request is recorded from the moment it is accepted until ``ttl_s`` after it reached a final
status, so a device (or an operator) can ask ``GET /v1/requests/{id}`` what happened to it —
nothing is dropped silently. Statuses are ``schemas.RequestStatus`` members (a ``StrEnum``: they
compare equal to, and serialise as, their string values).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mobigen.serving.schemas import RequestStatus

FINAL_STATUSES = frozenset(s for s in RequestStatus if s.final)
"""Statuses a request never leaves."""


@dataclass
class RequestRecord:
    """The server's state for one request."""

    request_id: str
    """The id (client-chosen or assigned)."""
    status: RequestStatus = RequestStatus.QUEUED
    """Where it stands."""
    detail: str = ""
    """Why it is in this status (failures, refusals, take-overs)."""
    slot_id: int | None = None
    """Slot that served it."""
    meta: Any = None
    """The validated GenerateMeta."""
    condition_data: bytes | None = None
    """The uploaded condition bytes (kept until the request is final: edge steps and a take-over need them)."""
    T: int = 0
    """T_k decided (steps)."""
    edge_steps: int = 0
    """⌊o_k T_k⌋ run on the edge (steps)."""
    latent_payload: bytes | None = None
    """The wire latent sent to the device (kept for a take-over after a missed deadline)."""
    image_payload: bytes | None = None
    """The final image held by the edge (o_k = 1 or after a take-over)."""
    deadline_handle: Any = None
    """asyncio TimerHandle of the completion deadline."""
    t_final: float | None = None
    """perf_counter time it reached a final status (s)."""
    history: list[tuple[float, str]] = field(default_factory=list)
    """(perf_counter time, status) transitions, for debugging and tests."""

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES


class RecordStoreFull(RuntimeError):
    """``max_records`` records are held and none of them is final (none can be evicted)."""


class RecordStore:
    """Request records by id, with expiry of final ones after ``ttl_s`` and at most ``max_records``
    held: past that, the oldest final records are evicted first (their ids then answer 404)."""

    def __init__(self, ttl_s: float = 600.0, max_records: int = 100_000,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        if not ttl_s > 0:
            raise ValueError(f"field 'ttl_s' must be > 0, got {ttl_s}")
        if max_records < 1:
            raise ValueError(f"field 'max_records' must be >= 1, got {max_records}")
        self.ttl_s = float(ttl_s)
        self.max_records = int(max_records)
        self._clock = clock
        """Time source (s); injected in tests so expiry needs no wall clock."""
        self._records: dict[str, RequestRecord] = {}
        self._active: set[str] = set()
        self._last_expiry = clock()

    def __contains__(self, request_id: str) -> bool:
        return request_id in self._records

    def __len__(self) -> int:
        return len(self._records)

    def get(self, request_id: str) -> RequestRecord | None:
        self._expire()
        return self._records.get(request_id)

    def add(self, record: RequestRecord) -> RequestRecord:
        """Hold ``record`` (KeyError for a known id; ``RecordStoreFull`` when nothing can be evicted)."""
        if record.request_id in self._records:
            raise KeyError(f"request_id {record.request_id!r} is already known")
        if len(self._records) >= self.max_records:
            self._expire(force=True)
            self._evict(len(self._records) - self.max_records + 1)
        record.history.append((self._clock(), record.status))
        self._records[record.request_id] = record
        if not record.final:
            self._active.add(record.request_id)
        return record

    @property
    def n_active(self) -> int:
        """Requests not yet final."""
        return len(self._active)

    def set_status(self, record: RequestRecord, status: RequestStatus | str, detail: str = "") -> None:
        """Move ``record`` to ``status`` (ValueError for an unknown one); a final record keeps its status
        (first final outcome wins)."""
        status = RequestStatus(status)
        if record.final:
            return
        record.status = status
        if detail:
            record.detail = detail
        now = self._clock()
        record.history.append((now, status))
        if record.final:
            self._active.discard(record.request_id)
            record.t_final = now
            record.condition_data = None
            record.latent_payload = None
            if record.deadline_handle is not None:
                record.deadline_handle.cancel()
                record.deadline_handle = None

    def active(self) -> list[RequestRecord]:
        """Records not yet final."""
        return [self._records[k] for k in list(self._active)]

    def _evict(self, n: int) -> None:
        """Drop the ``n`` oldest final records (insertion order); RecordStoreFull if there are fewer."""
        oldest = [k for k in self._records if k not in self._active][:n]
        if len(oldest) < n:
            raise RecordStoreFull(f"{len(self._records)} request records held (max_records {self.max_records}), "
                                  "none of them finished")
        for k in oldest:
            del self._records[k]

    def _expire(self, force: bool = False) -> None:
        now = self._clock()
        if not force and now - self._last_expiry < 1.0:  # at most once a second: lookups stay O(1)
            return
        self._last_expiry = now
        stale = [k for k, r in self._records.items() if r.t_final is not None and now - r.t_final > self.ttl_s]
        for k in stale:
            del self._records[k]


__all__ = ["FINAL_STATUSES", "RecordStore", "RecordStoreFull", "RequestRecord"]
