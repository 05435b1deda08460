"""The DDC actor π_φ(a|s): a diffusion model that denoises a Gaussian vector into the action
(eq. 21), followed by the hybrid heads of eq. (25).

The denoised vector x₀ ∈ R^(3K) (unclipped: the tanh heads bound it, and a clip would cut the
gradient) holds, per user, a preferred step coordinate m_k, a spread w_k and an offloading
fraction u_k = (tanh(x)+1)/2.
T_k is categorical over the n_T allowed steps with ordinal logits −(c_i − m_k)²/(2w_k²); a one-hot
is drawn with Gumbel-softmax, straight-through, as eq. 25's text says. (A free logit per step —
K·n_T numbers — left the softmax flat and untrainable through the straight-through gradient in
our runs; the ordinal form keeps "Gumbel-softmax over the allowed steps" with a gradient that
says "more steps" or "fewer".) The action the critics and the environment see is the shared box
action of ``control.action_map``: a = [centre of T_k's bin, 2u_k − 1] ∈ [-1, 1]^(2K), so
e_k = ⌊u_k(T_k+1)⌋ capped at T_k.

Noise schedule: the variance-preserving schedule of Diffusion-QL (β_min 0.1, β_max 10) over N
reverse steps (default 3, the paper's deployment). Inference is deterministic: a_N = 0 and
the mean of every reverse step (no sampled noise), T_k = argmax of its logits.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mobigen.control.ddc.networks import Denoiser


def vp_beta_schedule(n_steps: int) -> np.ndarray:
    """β_t of the variance-preserving schedule (Diffusion-QL), t = 1..N."""
    t = np.arange(1, n_steps + 1)
    b_min, b_max = 0.1, 10.0
    alpha = np.exp(-b_min / n_steps - 0.5 * (b_max - b_min) * (2 * t - 1) / n_steps**2)
    return 1.0 - alpha


def register_schedule(module: nn.Module, n_steps: int, n_T: int | None) -> None:
    """Register the reverse-process coefficients of eq. (21) (VP schedule, N = ``n_steps``) and, with
    ``n_T``, the centres of the n_T step bins in [-1, 1] (``step_centres``) as buffers of ``module``."""
    betas = torch.tensor(vp_beta_schedule(n_steps), dtype=torch.float32)
    alphas = 1.0 - betas
    ac = torch.cumprod(alphas, 0)
    ac_prev = torch.cat([torch.ones(1), ac[:-1]])
    post_var = betas * (1.0 - ac_prev) / (1.0 - ac)
    module.register_buffer("sqrt_recip_ac", torch.sqrt(1.0 / ac))
    module.register_buffer("sqrt_recipm1_ac", torch.sqrt(1.0 / ac - 1.0))
    module.register_buffer("post_c1", betas * torch.sqrt(ac_prev) / (1.0 - ac))
    module.register_buffer("post_c2", (1.0 - ac_prev) * torch.sqrt(alphas) / (1.0 - ac))
    module.register_buffer("post_logvar", torch.log(torch.clamp(post_var, min=1e-20)))
    if n_T is not None:
        module.register_buffer("t_centres", step_centres(n_T))
        module.bin_width = 2.0 / n_T


def step_centres(n_T: int) -> torch.Tensor:
    """Centres of the n_T equal bins of [-1, 1] that ``control.action_map`` maps to T = steps_min + i."""
    return (torch.arange(n_T, dtype=torch.float32) + 0.5) / n_T * 2.0 - 1.0


def reverse_process(module: nn.Module, shape: tuple[int, ...], eps_fn, *, deterministic: bool,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """The N reverse steps of eq. (21) from a_N ~ N(0, I) (or a_N = 0 and each step's mean when
    ``deterministic``); ``eps_fn(x, t)`` is the denoiser ε_φ(a_t, t, s) with s bound; ``module``
    holds the buffers of ``register_schedule``."""
    B = shape[0]
    x = torch.zeros(shape) if deterministic else torch.randn(shape, generator=generator)
    for i in reversed(range(len(module.post_c1))):
        t = torch.full((B,), i, dtype=torch.long)
        eps = eps_fn(x, t)
        x0 = (module.sqrt_recip_ac[i] * x - module.sqrt_recipm1_ac[i] * eps)
        mean = module.post_c1[i] * x0 + module.post_c2[i] * x
        if i > 0 and not deterministic:
            x = mean + torch.exp(0.5 * module.post_logvar[i]) * torch.randn(shape, generator=generator)
        else:
            x = mean
    return x


def ordinal_heads(m_raw: torch.Tensor, w_raw: torch.Tensor, u_raw: torch.Tensor, centres: torch.Tensor,
                  bin_width: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. (25)'s heads for any leading shape (..., K): (ordinal logits of T over the step bins,
    shape (..., K, n_T); u ∈ [0, 1], shape (..., K)); see ``DiffusionPolicy.heads``."""
    m = torch.tanh(m_raw)
    w = bin_width * (0.25 + torch.nn.functional.softplus(w_raw))
    logits = -((centres - m[..., None]) ** 2) / (2.0 * w[..., None] ** 2)
    return logits, (torch.tanh(u_raw) + 1.0) / 2.0


def gumbel_step_coordinate(logits: torch.Tensor, centres: torch.Tensor, *, deterministic: bool,
                           generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(the chosen step bin's centre in [-1, 1], the T-probabilities softmax(logits)).

    Stochastic: a one-hot by straight-through Gumbel-softmax (temperature 1, eq. 25's text),
    differentiable. Deterministic: the argmax."""
    n_T = logits.shape[-1]
    probs = torch.softmax(logits, dim=-1)
    if deterministic:
        onehot = torch.nn.functional.one_hot(logits.argmax(-1), n_T).float()
    else:
        U = torch.rand(logits.shape, generator=generator).clamp(1e-10, 1.0 - 1e-10)
        y = torch.softmax(logits - torch.log(-torch.log(U)), dim=-1)  # Gumbel-softmax (eq. 25 text)
        hard = torch.nn.functional.one_hot(y.argmax(-1), n_T).float()
        onehot = hard + y - y.detach()  # straight-through
    return onehot @ centres, probs


class DiffusionPolicy(nn.Module):
    """π_φ(a|s) = N(a_N; 0, I) ∏_t p_φ(a_{t-1} | a_t, s) — eq. (21) — plus the eq. (25) heads."""

    def __init__(self, state_dim: int, K: int, n_T: int, *, n_steps: int = 3, hidden: int = 128,
                 t_dim: int = 16) -> None:
        super().__init__()
        if n_steps < 1:
            raise ValueError(f"policy 'n_steps' must be >= 1, got {n_steps}")
        self.K, self.n_T, self.n_steps = K, n_T, n_steps
        self.x_dim = 3 * K
        self.denoiser = Denoiser(self.x_dim, state_dim, hidden, t_dim)
        register_schedule(self, n_steps, n_T)

    def denoise(self, s: torch.Tensor, *, deterministic: bool, generator: torch.Generator | None = None) -> torch.Tensor:
        """Run the N reverse steps of eq. (21) from a_N (≈ N(0, I), or 0 when deterministic)."""
        B = s.shape[0]
        return reverse_process(self, (B, self.x_dim), lambda x, t: self.denoiser(x, t, s),
                               deterministic=deterministic, generator=generator)

    def heads(self, x0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits of T_k over the n_T allowed steps, shape (B, K, n_T); u_k ∈ [0, 1], shape (B, K)).

        Ordinal logits: logit_i = −(c_i − m_k)² / (2 w_k²), c_i the bin centres in [-1, 1],
        m_k = tanh(x) the preferred step coordinate, w_k = bin width · (0.25 + softplus(x)) the spread."""
        K = self.K
        return ordinal_heads(x0[:, :K], x0[:, K:2 * K], x0[:, 2 * K:], self.t_centres, self.bin_width)

    def forward(self, s: torch.Tensor, *, deterministic: bool = False,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        a, probs, _ = self.sample(s, deterministic=deterministic, generator=generator)
        return a, probs

    def sample(self, s: torch.Tensor, *, deterministic: bool = False,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(box action (B, 2K) in [-1, 1], T-probabilities (B, K, n_T), raw x₀ (B, 3K)).

        Stochastic: T_k one-hot by straight-through Gumbel-softmax (temperature 1), differentiable.
        Deterministic: T_k = argmax."""
        x0 = self.denoise(s, deterministic=deterministic, generator=generator)
        logits, u = self.heads(x0)
        t_coord, probs = gumbel_step_coordinate(logits, self.t_centres, deterministic=deterministic,
                                                generator=generator)
        return torch.cat([t_coord, 2.0 * u - 1.0], dim=-1), probs, x0
