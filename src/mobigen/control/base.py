"""The controller interface shared by every decision maker: ``decide(slot) -> Decision``."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from mobigen.system.slot import Decision, Slot


@runtime_checkable
class Controller(Protocol):
    """Decides (T_k, e_k) — a ``Decision``, o_k derived — for every user of a slot. Random, SemGen, AaaS,
    OQC+, DDC, SAC, PPO and Exact all have this shape; the simulator, the evaluation and the live server call it."""

    name: str
    """Short name used in reports and on the command line."""

    def decide(self, slot: Slot) -> Decision:
        """The decision for this slot (it need not be feasible; see ``control.guard``)."""
        ...
