"""The slot-independent constants of the system model (``SystemParams``, from a Scenario).

Its own module so that ``constraints`` and ``slot`` both import it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mobigen.scenario import Scenario


@dataclass(frozen=True)
class SystemParams:
    """The slot-independent constants of the system model (from a Scenario)."""

    eps0: float
    """ε₀, FLOPs per denoising step (FLOPs)."""
    f_edge: float
    """f_E, edge computing capacity (FLOPS)."""
    edge_budget: float
    """C_E, edge compute budget per slot (FLOPs)."""
    latency_threshold_s: float
    """L̃ (s)."""
    eta: float
    """η of eq. (8) (1/s)."""
    delta: tuple[float, float, float, float]
    """δ₁..δ₄ of eq. (26)."""
    latent_bytes: int
    """D(z), bytes of an intermediate latent."""
    image_bytes: int
    """D(x₀), bytes of a final image."""
    steps_min: int
    """Smallest allowed T_k (steps)."""
    steps_max: int
    """Largest allowed T_k (steps)."""

    @classmethod
    def from_scenario(cls, sc: Scenario) -> "SystemParams":
        """The constants of scenario ``sc`` (f_E and C_E derived from its step time and budget in ε₀)."""
        return cls(
            eps0=sc.eps0_flops,
            f_edge=sc.f_edge,
            edge_budget=sc.edge_budget_flops,
            latency_threshold_s=sc.latency_threshold_s,
            eta=sc.eta_per_s,
            delta=tuple(sc.delta),  # type: ignore[arg-type]
            latent_bytes=sc.latent_bytes,
            image_bytes=sc.image_bytes,
            steps_min=sc.steps_min,
            steps_max=sc.steps_max,
        )

    @property
    def steps_values(self) -> np.ndarray:
        """Every allowed T_k, ascending."""
        return np.arange(self.steps_min, self.steps_max + 1)

    @property
    def edge_budget_steps(self) -> float:
        """C_E / ε₀ (steps)."""
        return self.edge_budget / self.eps0
