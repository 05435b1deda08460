"""The set-structured DDC actor π_φ(a|s): per-user diffusion (eq. 21) over x_k ∈ R³ conditioned on
the user's context h_k = SetEncoder(tokens)_k, then the hybrid heads of eq. (25) per user.

x_k = (m_k, w_k, u_k) exactly as in the flat DDC (``control.ddc.policy``): T_k categorical over the
allowed steps with ordinal logits and straight-through Gumbel-softmax, u_k = (tanh + 1)/2 the
edge fraction; the box action is ``control.action_map``'s flat [T coordinates, 2u − 1].
The schedule, reverse process, heads and Gumbel step are the flat DDC's functions. The number of
allowed steps n_T is read from the tokens (steps_min, steps_max), so one policy serves any range.
Inference is deterministic: a_N = 0, each reverse step's mean, T_k = argmax.
"""

from __future__ import annotations

import torch
from torch import nn

from mobigen.control.ddc.policy import (gumbel_step_coordinate, ordinal_heads, register_schedule, reverse_process,
                                        step_centres)
from mobigen.control.ddc_set.networks import SetDenoiser, SetEncoder
from mobigen.control.ddc_set.tokens import STEPS, STEPS_MAX, STEPS_MIN, TOKEN_DIM


def n_steps_allowed(s: torch.Tensor) -> int:
    """n_T = steps_max − steps_min + 1, read from the first token of a batch (B, K, TOKEN_DIM); every
    slot of a batch must share it (training batches are bucketed by (K, n_T))."""
    span = s[:, :, STEPS_MAX] - s[:, :, STEPS_MIN]
    n = torch.round(span * STEPS).to(torch.int64) + 1
    if not bool((n == n.flatten()[0]).all()):
        raise ValueError("tokens: every slot of a batch must have the same steps_min..steps_max")
    return int(n.flatten()[0])


class SetDiffusionPolicy(nn.Module):
    """π_φ(a|s) = N(a_N; 0, I) ∏_t p_φ(a_{t-1} | a_t, s) per user — eq. (21) — plus eq. (25)'s heads."""

    def __init__(self, *, n_steps: int = 3, hidden: int = 64, heads: int = 4, layers: int = 2,
                 t_dim: int = 16, mixer: str = "attention") -> None:
        super().__init__()
        if n_steps < 1:
            raise ValueError(f"policy 'n_steps' must be >= 1, got {n_steps}")
        self.n_steps = n_steps
        self.encoder = SetEncoder(TOKEN_DIM, hidden, heads, layers, mixer)
        self.denoiser = SetDenoiser(hidden, t_dim)
        register_schedule(self, n_steps, None)

    def forward(self, s: torch.Tensor, *, deterministic: bool = False,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        a, probs, _ = self.sample(s, deterministic=deterministic, generator=generator)
        return a, probs

    def sample(self, s: torch.Tensor, *, deterministic: bool = False,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(box action (B, 2K) in [-1, 1], T-probabilities (B, K, n_T), raw x₀ (B, K, 3))."""
        B, K, _ = s.shape
        n_T = n_steps_allowed(s)
        h = self.encoder(s)  # the slot context, once for the N reverse steps
        x0 = reverse_process(self, (B, K, 3), lambda x, t: self.denoiser(x, t, h), deterministic=deterministic,
                             generator=generator)
        c = step_centres(n_T)
        logits, u = ordinal_heads(x0[..., 0], x0[..., 1], x0[..., 2], c, 2.0 / n_T)
        t_coord, probs = gumbel_step_coordinate(logits, c, deterministic=deterministic, generator=generator)
        return torch.cat([t_coord, 2.0 * u - 1.0], dim=-1), probs, x0
