"""The multi-edge controller interface and "associate, then decide per edge" (the shape of every
controller but the joint oracle)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from mobigen.control.base import Controller
from mobigen.control.exact import ExactController
from mobigen.system.multiedge import MultiDecision, MultiEdgeSlot
from mobigen.system.slot import Decision

Associator = Callable[[MultiEdgeSlot], np.ndarray]
"""mslot -> the associated edge index of every user, shape (K,)."""


@runtime_checkable
class MultiEdgeController(Protocol):
    """Decides the association and (T_k, e_k) of every user of a multi-edge slot."""

    name: str
    """Short name used in reports and on the command line."""

    def decide(self, mslot: MultiEdgeSlot) -> MultiDecision:
        """The decision for this slot."""
        ...


def decide_per_edge(mslot: MultiEdgeSlot, edge: np.ndarray, controller: Controller) -> MultiDecision:
    """Run a one-edge ``controller`` on each edge's users (edge m's own slot: f_E^m, C_E^m, links to m)."""
    edge = np.asarray(edge, dtype=np.int64)
    T = np.zeros(mslot.K, dtype=np.int64)
    e = np.zeros(mslot.K, dtype=np.int64)
    for m in range(mslot.M):
        users = np.flatnonzero(edge == m)
        if users.size == 0:
            continue
        d = controller.decide(mslot.edge_slot(m, users))
        T[users], e[users] = d.T, d.e
    return MultiDecision(edge=edge, decision=Decision(T=T, e=e))


class AssociateThenDecide:
    """An association rule followed by a one-edge controller per edge (default: the exact per-edge DP)."""

    def __init__(self, name: str, associate: Associator, per_edge: Controller | None = None) -> None:
        self.name = name
        self.associate = associate
        self.per_edge: Controller = per_edge if per_edge is not None else ExactController()
        self.fallback_reason: str | None = None
        """Why ``per_edge`` is not the controller the name says (None: it is)."""

    def decide(self, mslot: MultiEdgeSlot) -> MultiDecision:
        return decide_per_edge(mslot, self.associate(mslot), self.per_edge)
