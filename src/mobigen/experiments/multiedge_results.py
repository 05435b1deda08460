"""The typed results of the multi-edge sweep (``experiments.multiedge.run_sweep``; issue 11), part of
``mobigen evaluate``'s results (``results.EvalResults.multiedge``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class Interval(_Frozen):
    """A mean and its 95% interval."""

    mean: float
    """Mean over slots (the quantity's unit)."""
    lo: float
    """Lower end of the 95% Student-t interval over slots."""
    hi: float
    """Upper end of the 95% Student-t interval over slots."""


class MultiEdgePoint(_Frozen):
    """One (users, edges, policy) point of the sweep."""

    users: int
    """K, users per slot."""
    edges: int
    """M, edge sites."""
    policy: str
    """Association policy."""
    satisfaction: Interval
    """Share of users with Q_k ≥ Q̃_k per slot (share; quality backend)."""
    round_latency_s: Interval
    """max_k L_k per slot (s)."""
    latency_s: float
    """Mean L_k over users and slots (s)."""
    reward: float
    """Mean slot reward Σ_m eq. (26) (reward units)."""


class MultiEdgeSweep(_Frozen):
    """The sweep of ``run_sweep``."""

    scenario: str
    """Base scenario name."""
    edges_kind: str
    """"same" or "mixed" edge sites (module docstring)."""
    slots_per_point: int
    """Slots drawn per (users, edges) pair, shared by every policy."""
    quality_backend: str
    """Quality model behind the satisfaction numbers."""
    points: list[MultiEdgePoint]
    """Every point; M = 1 has one policy (association is trivial)."""
    notes: dict[str, str] = {}
    """Policy → why it ran as something else (e.g. no set-DDC checkpoint)."""
