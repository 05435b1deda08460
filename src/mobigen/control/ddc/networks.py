"""DDC's neural networks (no update rules here): the conditional denoiser of the actor and the
twin critics of Algorithm 3 line 1."""

from __future__ import annotations

import math

import torch
from torch import nn


class SinusoidalTimeEmbedding(nn.Module):
    """The sinusoidal embedding of the reverse-step index t (as in DDPM/Diffusion-QL)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim < 2 or dim % 2:
            raise ValueError(f"time embedding 'dim' must be an even number >= 2, got {dim}")
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / max(half - 1, 1))
        arg = t.float()[:, None] * freqs[None, :]
        return torch.cat([arg.sin(), arg.cos()], dim=-1)


class Denoiser(nn.Module):
    """ε_φ(a_t, t, s): predicts the noise in the action vector a_t at reverse step t, conditioned on
    the state s (eq. 21's p_φ(a_{t-1} | a_t, s) is built from it in ``policy``)."""

    def __init__(self, action_dim: int, state_dim: int, hidden: int = 128, t_dim: int = 16) -> None:
        super().__init__()
        self.time = nn.Sequential(SinusoidalTimeEmbedding(t_dim), nn.Linear(t_dim, 2 * t_dim), nn.Mish(),
                                  nn.Linear(2 * t_dim, t_dim))
        self.state = nn.Sequential(nn.Linear(state_dim, hidden), nn.Mish())
        self.mid = nn.Sequential(
            nn.Linear(action_dim + t_dim + hidden, hidden), nn.Mish(),
            nn.Linear(hidden, hidden), nn.Mish(),
            nn.Linear(hidden, action_dim),
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return self.mid(torch.cat([x, self.time(t), self.state(s)], dim=-1))


class Critic(nn.Module):
    """Q_ψ(s, a): a state-action value MLP."""

    def __init__(self, state_dim: int, action_dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(state_dim + action_dim, hidden), nn.Mish(),
            nn.Linear(hidden, hidden), nn.Mish(),
            nn.Linear(hidden, 1),
        )

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([s, a], dim=-1)).squeeze(-1)


class TwinCritic(nn.Module):
    """Q_ψ1 and Q_ψ2 (Algorithm 3 line 1); ``min`` gives the clipped double-Q of eqs. (27), (29)."""

    def __init__(self, state_dim: int, action_dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.q1 = Critic(state_dim, action_dim, hidden)
        self.q2 = Critic(state_dim, action_dim, hidden)

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.q1(s, a), self.q2(s, a)

    def min(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        q1, q2 = self(s, a)
        return torch.minimum(q1, q2)
