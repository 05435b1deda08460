"""The set-structured DDC's neural networks (no update rules here): a shared per-user encoder with
self-attention across users, a per-user denoiser conditioned on its token's context, and
permutation-invariant twin critics (Algorithm 3 line 1).

Shapes: tokens ``s`` (B, K, TOKEN_DIM); actor noise / x (B, K, 3); box actions (B, 2K) in the flat
layout of ``control.action_map`` ([T coordinates (K), edge coordinates (K)]). Every module maps a
permutation of the K users to the same permutation of its per-user outputs (the encoder: a shared
MLP and self-attention without positional encoding; the critics: attention, then a mean over
users), so the networks are defined for any K.
"""

from __future__ import annotations

import torch
from torch import nn

from mobigen.control.ddc.networks import SinusoidalTimeEmbedding
from mobigen.control.ddc_set.tokens import (DEVICE_BUDGET, DEVICE_STEP_S, EDGE_SHARE, EDGE_STEP_S, ETA, ETA_SCALE,
                                            IMAGE_DOWN_S, L_SCALE_S, LATENCY_THRESHOLD, LATENT_DOWN_S, Q_FIRST,
                                            QOE_THRESHOLD, STEPS, STEPS_MAX, STEPS_MIN, TIME_S, TOKEN_DIM, VCE_S)
from mobigen.control.observation import Q_POINTS


class PoolBlock(nn.Module):
    """h_k ← h_k + MLP([LN(h_k), mean_j LN(h_j)]): the DeepSets interaction (a cheaper alternative to
    self-attention; every user sees the slot's mean context)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.mlp = nn.Sequential(nn.Linear(2 * hidden, 2 * hidden), nn.SiLU(), nn.Linear(2 * hidden, hidden))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        z = self.norm(h)
        return h + self.mlp(torch.cat([z, z.mean(1, keepdim=True).expand_as(z)], dim=-1))


MIXERS = ("attention", "pool")
"""How users interact in the encoders: self-attention blocks or mean-pooling blocks."""


class SetEncoder(nn.Module):
    """Tokens (B, K, d_in) -> per-user context (B, K, hidden): a shared MLP, then ``layers``
    pre-norm self-attention blocks (``mixer="attention"``) or mean-pooling blocks (``"pool"``) over
    the users (the edge budget C_E couples them)."""

    def __init__(self, d_in: int, hidden: int = 64, heads: int = 4, layers: int = 2, mixer: str = "attention") -> None:
        super().__init__()
        if mixer not in MIXERS:
            raise ValueError(f"encoder 'mixer' must be one of {MIXERS}, got {mixer!r}")
        self.embed = nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        if mixer == "attention":
            self.blocks = nn.ModuleList(
                nn.TransformerEncoderLayer(hidden, heads, dim_feedforward=2 * hidden, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True) for _ in range(layers))
        else:
            self.blocks = nn.ModuleList(PoolBlock(hidden) for _ in range(layers))
        self.norm = nn.LayerNorm(hidden)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        h = self.embed(s)
        for blk in self.blocks:
            h = blk(h)
        return self.norm(h)


class SetDenoiser(nn.Module):
    """ε_φ(a_t, t, s) per user: each user's 3 numbers x_k at reverse step t from (x_k, t, h_k), h_k
    its token's context from ``SetEncoder`` (computed once per slot, reused by the N steps)."""

    def __init__(self, hidden: int = 64, t_dim: int = 16, x_dim: int = 3) -> None:
        super().__init__()
        self.time = nn.Sequential(SinusoidalTimeEmbedding(t_dim), nn.Linear(t_dim, 2 * t_dim), nn.SiLU(),
                                  nn.Linear(2 * t_dim, t_dim))
        self.mid = nn.Sequential(nn.Linear(x_dim + t_dim + hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, x_dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        te = self.time(t)[:, None, :].expand(-1, x.shape[1], -1)
        return self.mid(torch.cat([x, te, h], dim=-1))


def soft_steps(s: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A differentiable reading of the box action's (T_k, e_k) (steps), each (B, K): the continuous
    coordinates inside their bins (``control.action_map`` floors them)."""
    K = s.shape[1]
    lo, hi = s[..., STEPS_MIN] * STEPS, s[..., STEPS_MAX] * STEPS
    T = lo + (a[:, :K].clamp(-1, 1) + 1.0) / 2.0 * (hi - lo + 1.0) - 0.5
    return T, (a[:, K:].clamp(-1, 1) + 1.0) / 2.0 * (T + 1.0) - 0.5


N_ACTION_FEATURES = 10
"""Per-user action features of ``action_features``."""


def action_features(s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """What the system model says about each user's action, read off the token — the critics'
    per-user input besides (token, a_k); (B, K, N_ACTION_FEATURES), differentiable in ``a``.

    From the soft (T, e) of ``soft_steps``: T, e, d = T − e (steps / STEPS); Q_k(T) interpolated
    between the token's Q samples (eq. 1); the latency L¹ + e ε₀/f_E + d ε₀/f_k + download of the
    latent or, when e = T, the image (eqs. 2, 6, 7; s / L̃); U = Q − ηL (eq. 8); the shortfalls
    (Q̃ − Q)⁺, (L − L̃)⁺/L̃ and (d − C_k/ε₀)⁺/STEPS of eqs. (13)-(15); and how full the offload is."""
    T, e = soft_steps(s, a)
    lo, hi = s[..., STEPS_MIN] * STEPS, s[..., STEPS_MAX] * STEPS
    d = (T - e).clamp_min(0.0)
    q = s[..., Q_FIRST:Q_FIRST + Q_POINTS]
    pos = ((T - lo) / (hi - lo).clamp_min(1.0) * (Q_POINTS - 1)).clamp(0.0, Q_POINTS - 1.0)
    i0 = pos.detach().floor().clamp(max=Q_POINTS - 2).long()
    w = pos - i0
    Q = torch.gather(q, -1, i0[..., None])[..., 0] * (1 - w) + torch.gather(q, -1, (i0 + 1)[..., None])[..., 0] * w
    full = torch.sigmoid(4.0 * (e - T + 0.5))
    L = (s[..., VCE_S] + e * s[..., EDGE_STEP_S] + d * s[..., DEVICE_STEP_S]
         + (1 - full) * s[..., LATENT_DOWN_S] + full * s[..., IMAGE_DOWN_S]) * TIME_S
    L_max = s[..., LATENCY_THRESHOLD] * L_SCALE_S
    U = Q - s[..., ETA] * ETA_SCALE * L
    return torch.stack([T / STEPS, e / STEPS, d / STEPS, Q, L / L_max, U,
                        torch.relu(s[..., QOE_THRESHOLD] - Q), torch.relu(L - L_max) / L_max,
                        torch.relu(d - s[..., DEVICE_BUDGET] * STEPS) / STEPS, full], dim=-1)


class SetCritic(nn.Module):
    """Q_ψ(s, a), permutation-invariant: per user [token, (a_T, a_e)_k, action features] -> shared
    MLP -> (optional) interaction blocks across users -> per-user value; Q = mean over users plus a
    head on the mean context and the soft edge load mean_k e_k − C_E/K (the coupling term of eq. 26).

    It predicts the reward per user (eq. 26 / K), so one critic serves every K."""

    def __init__(self, hidden: int = 64, heads: int = 4, layers: int = 1, mixer: str = "attention") -> None:
        super().__init__()
        self.enc = SetEncoder(TOKEN_DIM + 2 + N_ACTION_FEATURES, hidden, heads, layers, mixer)
        self.user = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))
        self.slot = nn.Sequential(nn.Linear(hidden + 2, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        K = s.shape[1]
        f = action_features(s, a)
        e = f[..., 1] * STEPS
        x = torch.cat([s, a[:, :K, None], a[:, K:, None], f], dim=-1)
        h = self.enc(x)
        load = e.mean(1) / STEPS - s[:, 0, EDGE_SHARE]  # (Σ e_k − C_E)/K in STEPS units
        g = torch.cat([h.mean(1), load[:, None], torch.relu(load)[:, None]], dim=-1)
        return self.user(h).squeeze(-1).mean(1) + self.slot(g).squeeze(-1)


class TwinSetCritic(nn.Module):
    """Q_ψ1 and Q_ψ2 (Algorithm 3 line 1); ``min`` is the clipped double-Q of eqs. (27), (29)."""

    def __init__(self, hidden: int = 64, heads: int = 4, layers: int = 1, mixer: str = "attention") -> None:
        super().__init__()
        self.q1 = SetCritic(hidden, heads, layers, mixer)
        self.q2 = SetCritic(hidden, heads, layers, mixer)

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.q1(s, a), self.q2(s, a)

    def min(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        q1, q2 = self(s, a)
        return torch.minimum(q1, q2)
