"""Time-slot batching (Fig. 5): requests gather into a slot that closes when K are in or the window ends.

``SlotBatcher`` is pure asyncio and knows nothing of HTTP or generation: ``submit(item)`` returns a
future for the item's result, and ``handler(slot_id, items)`` (a coroutine) is awaited once per
closed slot and must return one result (or exception) per item, in order. A slot's window starts
with its first request. Each closed slot is handled in its own task, so a slow slot (or a client
that went away) never holds up the next one; ordering of edge work is the worker queue's job.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

SlotHandler = Callable[[int, Sequence[Any]], Awaitable[Sequence[Any]]]

Scheduler = Callable[[float, Callable[[], None]], Any]
"""``call_later(delay_s, callback)`` returning a handle with ``cancel()`` (default: the running loop's)."""


class BatcherClosed(RuntimeError):
    """The batcher no longer accepts requests (shutting down)."""


@dataclass
class _Pending(Generic[T]):
    item: T
    future: asyncio.Future
    t_submit: float = field(default_factory=time.perf_counter)


class SlotBatcher:
    """Collects submitted items into slots of at most ``max_users``, closed after ``window_s``."""

    def __init__(self, handler: SlotHandler, *, max_users: int, window_s: float,
                 call_later: Scheduler | None = None) -> None:
        if max_users < 1:
            raise ValueError(f"field 'max_users' must be >= 1, got {max_users}")
        if not window_s > 0:
            raise ValueError(f"field 'window_s' must be > 0, got {window_s}")
        self._handler = handler
        self._call_later = call_later
        """Injected timer (tests drive the window without a wall clock); None = ``loop.call_later``."""
        self.max_users = max_users
        self.window_s = window_s
        self._current: list[_Pending] = []
        self._timer: Any = None
        self._closed = False
        self._next_slot = 0
        self._slot_tasks: set[asyncio.Task] = set()

    @property
    def pending(self) -> int:
        """Requests waiting in the open slot."""
        return len(self._current)

    @property
    def closed(self) -> bool:
        return self._closed

    def submit(self, item: Any) -> asyncio.Future:
        """Add ``item`` to the open slot; the future resolves to its result."""
        if self._closed:
            raise BatcherClosed("the server is shutting down and accepts no new requests")
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._current.append(_Pending(item, fut))
        if len(self._current) == 1:
            self._timer = (self._call_later or loop.call_later)(self.window_s, self._close_slot)
        if len(self._current) >= self.max_users:
            self._close_slot()
        return fut

    def _close_slot(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._current:
            return
        batch, self._current = self._current, []
        slot_id = self._next_slot
        self._next_slot += 1
        task = asyncio.get_running_loop().create_task(self._run_slot(slot_id, batch))
        self._slot_tasks.add(task)
        task.add_done_callback(self._slot_tasks.discard)

    async def _run_slot(self, slot_id: int, batch: list[_Pending]) -> None:
        try:
            results = await self._handler(slot_id, [p.item for p in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"slot handler returned {len(results)} results for {len(batch)} requests")
        except Exception as exc:  # the whole slot failed: every request gets the error, none is lost
            logger.exception("slot %d failed", slot_id)
            results = [exc] * len(batch)
        for p, r in zip(batch, results):
            if p.future.done():  # cancelled: the client went away
                continue
            if isinstance(r, BaseException):
                p.future.set_exception(r)
            else:
                p.future.set_result(r)

    def flush(self) -> None:
        """Close the open slot now (used at shutdown so queued requests are still served)."""
        self._close_slot()

    def stop_accepting(self) -> None:
        """Refuse new submits from now on and close the open slot (its requests are still served)."""
        self._closed = True
        self._close_slot()

    async def aclose(self, *, flush: bool = True, timeout_s: float | None = None) -> None:
        """Stop accepting; close the open slot (``flush``) or refuse it, and wait for running slots."""
        self._closed = True
        if flush:
            self._close_slot()
        else:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            for p in self._current:
                if not p.future.done():
                    p.future.set_exception(BatcherClosed("refused: the server shut down before this request's slot closed"))
            self._current = []
        if self._slot_tasks:
            await asyncio.wait(list(self._slot_tasks), timeout=timeout_s)


__all__ = ["BatcherClosed", "SlotBatcher"]
