"""Batched edge denoising: one denoiser forward for every active user's step (issue 14, point 1).

The edge runs the first ⌊o_k T_k⌋ steps of each user's own T_k-step schedule (eq. 4). A real edge
GPU runs those steps for several users in *one* batch. :class:`BatchedDenoiser` keeps a set of
members, each a slice [start, end) of one user's schedule with its own latents, timesteps, prompt
embeddings, condition image, guidance scale w and ControlNet scale, and :meth:`BatchedDenoiser.step`
advances every member by one step with

- one ControlNet forward per condition type present (all members of that type stacked; one
  ControlNet for the whole batch when the users share a condition type), at ``conditioning_scale=1``,
  the residuals then multiplied by each row's own ControlNet scale (what diffusers does with a scalar
  scale: ``residual * scale``, so per-row scales give the same numbers);
- one denoiser forward over all rows, with per-row timesteps (UNet2DConditionModel and ControlNetModel
  take a (B,) timestep tensor) and per-row prompt embeddings; classifier-free guidance doubles a
  member's rows ([negative, positive], as :func:`mobigen.generation.denoise.denoise` builds them), a
  member with w ≤ 1 contributes one row;
- the scheduler update applied *per member* with the member's own diffusers scheduler object. DDIM's
  update is elementwise with coefficients of the member's timestep alone, Euler keeps a step index in
  the scheduler: each member's update is therefore exactly the call its unbatched run makes, on the
  same (1, C, h, w) slice (vectorising DDIM across members would re-implement diffusers' arithmetic;
  the update costs O(latent size) per member, nothing next to the forward).

A member leaves the batch when its slice is done (:meth:`BatchedDenoiser.pop_finished`), and new
members may join between any two steps (:meth:`BatchedDenoiser.add`): continuous batching. Each
member's result equals its unbatched ``denoise`` run up to the batch dependence of the backend's
kernels (the rows of a batched convolution or matmul may be reduced in another order than a batch of
one); the tests state the tolerance and report the measured difference.

Scope: the UNet families (sd15, sd21, sdxl). SD3.5's MMDiT (``FLOW_FAMILIES``) is refused with a
clear error; callers run it unbatched.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import Any

import torch

from mobigen.generation.components import FLOW_FAMILIES, Components
from mobigen.generation.denoise import (
    PromptEmbeddings,
    _check_latents,
    _check_slice,
    _sdxl_added_conditioning,
    check_scales,
    make_scheduler,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemberSpec:
    """One user's slice of denoising, as :func:`mobigen.generation.denoise.denoise` takes it."""

    latents: torch.Tensor
    """z at step ``start`` (unscaled z_T when ``start`` = 0), shape (1, C, h, w)."""
    start: int
    """First step to run (0 on the edge, eq. 4)."""
    end: int
    """One past the last step to run (⌊o_k T_k⌋ on the edge)."""
    total_steps: int
    """T_k, the length of this user's schedule (steps)."""
    embeddings: PromptEmbeddings
    """Prompt and negative-prompt encoder states (``encode_prompt``)."""
    condition_image: torch.Tensor
    """The visual condition, (1, 3, 8h, 8w) in [0, 1] (``prepare_condition``)."""
    condition_type: str
    """Which ControlNet conditions this user."""
    guidance_scale: float = 7.5
    """Classifier-free guidance w (off for w ≤ 1)."""
    controlnet_scale: float = 1.0
    """Weight of this user's ControlNet residuals."""
    scheduler_name: str | None = None
    """``ddim`` / ``euler`` (None: the family default)."""


@dataclass
class _Member:
    """A member in flight: its spec, scheduler, fp32 latents and the network inputs fixed for its run."""

    key: int
    spec: MemberSpec
    scheduler: Any
    z: torch.Tensor
    step: int
    cfg: bool
    text: torch.Tensor
    cond: torch.Tensor
    added: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return 2 if self.cfg else 1

    @property
    def done(self) -> bool:
        return self.step >= self.spec.end


@dataclass(frozen=True)
class _Group:
    """The rows of one condition type: one ControlNet forward."""

    condition_type: str
    rows: slice
    text: torch.Tensor
    cond: torch.Tensor
    extra: dict[str, Any]


@dataclass(frozen=True)
class _Layout:
    """The batch's inputs that stay fixed while its membership does (keyed by the members' keys)."""

    key: tuple[int, ...]
    groups: list[_Group]
    text: torch.Tensor
    extra: dict[str, Any]
    scale: torch.Tensor | None


class BatchedDenoiser:
    """Continuous batching of denoising slices over one set of components (module docstring)."""

    def __init__(self, components: Components) -> None:
        if components.family in FLOW_FAMILIES:
            raise ValueError(f"batched denoising supports the UNet families; family {components.family!r} "
                             "(MMDiT, rectified flow) runs unbatched")
        self.components = components
        self._members: dict[int, _Member] = {}
        self._keys = itertools.count()
        self._shape: tuple[int, ...] | None = None
        self._cached: _Layout | None = None

    # ---- membership ------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Members in the batch (finished ones count until popped)."""
        return len(self._members)

    @property
    def rows(self) -> int:
        """Rows of the next denoiser forward (2 per guided member, 1 otherwise), unfinished members only."""
        return sum(m.rows for m in self._members.values() if not m.done)

    def add(self, spec: MemberSpec) -> int:
        """Validate a slice as ``denoise`` does and add it to the batch; returns its key.

        Every member must have the latent shape of the others (one batched forward); a zero-step
        slice is accepted and finishes at once with its latents unchanged."""
        c = self.components
        _check_slice(spec.start, spec.end, spec.total_steps)
        check_scales(spec.guidance_scale, spec.controlnet_scale)
        scheduler = make_scheduler(c, spec.total_steps, spec.scheduler_name)
        c.controlnet(spec.condition_type)  # ValueError naming the loaded ones
        _check_latents(c, spec.latents, spec.condition_image)
        shape = tuple(spec.latents.shape)
        live = [m for m in self._members.values() if not m.done]
        if live and self._shape is not None and shape != self._shape:
            raise ValueError(f"latents shape {shape} differs from the batch's {self._shape}: one batched forward "
                             "needs one image size")
        self._shape = shape
        member = self._build(next(self._keys), spec, scheduler)
        self._members[member.key] = member
        return member.key

    def _build(self, key: int, spec: MemberSpec, scheduler: Any) -> _Member:
        """The member's fixed inputs, exactly as ``denoise._unet_steps`` prepares them."""
        c = self.components
        dev, dt = c.device, c.dtype
        z = spec.latents.to(device=dev, dtype=torch.float32)
        if spec.start == 0 and spec.end > 0:
            z = z * scheduler.init_noise_sigma  # z_T enters the first application of eq. (3)
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(spec.start)  # Euler: step index = start (DDIM ignores it)
        cfg = float(spec.guidance_scale) > 1.0
        emb = spec.embeddings
        text = (torch.cat([emb.negative, emb.positive]) if cfg else emb.positive).to(device=dev, dtype=dt)
        cond = spec.condition_image.to(device=dev, dtype=dt)
        added: dict[str, torch.Tensor] = {}
        if c.family == "sdxl":
            added = _sdxl_added_conditioning(c, emb, cond.shape[2], cond.shape[3], cfg)
        cond = torch.cat([cond, cond]) if cfg else cond
        return _Member(key, spec, scheduler, z, spec.start, cfg, text, cond, added)

    def pop_finished(self) -> dict[int, torch.Tensor]:
        """Remove the members whose slice is done; {key: float32 latents after their last step}."""
        done = {k: m.z for k, m in self._members.items() if m.done}
        for k in done:
            del self._members[k]
        return done

    # ---- one batched step ------------------------------------------------------------------------
    @torch.no_grad()
    def step(self) -> int:
        """Advance every unfinished member by one step (eq. 3) in one batched forward; returns how
        many members stepped (0 when none is left to step)."""
        live = [m for m in self._members.values() if not m.done]
        if not live:
            return 0
        live.sort(key=lambda m: (m.spec.condition_type, m.key))  # each ControlNet's rows contiguous
        lay = self._layout(live)  # the inputs fixed while the membership stays
        z_in, t_in = self._model_inputs(live)  # 1. per-row inputs
        down, mid = self._controlnet_residuals(lay, z_in, t_in)  # 2. one ControlNet forward per type
        eps = self.components.denoiser(z_in, t_in, encoder_hidden_states=lay.text,  # 3. one denoiser forward
                                       down_block_additional_residuals=down, mid_block_additional_residual=mid,
                                       return_dict=False, **lay.extra)[0].to(torch.float32)
        self._scheduler_updates(live, eps)  # 4. each member's own scheduler step
        return len(live)

    def _layout(self, live: list[_Member]) -> "_Layout":
        """The stacked prompt states, condition images, SDXL extras and ControlNet scales of ``live``,
        rebuilt only when the membership changes (a 512² condition per row is worth not copying each step)."""
        key = tuple(m.key for m in live)
        if self._cached is not None and self._cached.key == key:
            return self._cached
        c = self.components
        groups: list[_Group] = []
        row = 0
        for ctype in dict.fromkeys(m.spec.condition_type for m in live):
            members = [m for m in live if m.spec.condition_type == ctype]
            n = sum(m.rows for m in members)
            groups.append(_Group(ctype, slice(row, row + n), torch.cat([m.text for m in members]),
                                 torch.cat([m.cond for m in members]), self._added_conditioning(members)))
            row += n
        scale = None
        if any(float(m.spec.controlnet_scale) != 1.0 for m in live):
            # float32 scales, the product cast back: a half-precision residual times a Python-float scale
            # is computed in float and rounded once, so is this (a half-precision scale would round twice)
            scale = torch.cat([torch.full((m.rows,), float(m.spec.controlnet_scale)) for m in live])
            scale = scale.to(device=c.device)[:, None, None, None]
        text = groups[0].text if len(groups) == 1 else torch.cat([g.text for g in groups])
        self._cached = _Layout(key, groups, text, self._added_conditioning(live), scale)
        return self._cached

    def _model_inputs(self, live: list[_Member]) -> tuple[torch.Tensor, torch.Tensor]:
        """The stacked scaled model inputs (network dtype) and the per-row timesteps (B,)."""
        dt = self.components.dtype
        zs, ts = [], []
        for m in live:
            t = m.scheduler.timesteps[m.step]
            z = torch.cat([m.z, m.z]) if m.cfg else m.z
            zs.append(m.scheduler.scale_model_input(z, t).to(dt))
            ts.append(t.reshape(1).expand(m.rows))
        t_in = torch.cat(ts)
        if t_in.is_floating_point():  # Euler's float timesteps next to DDIM's integers: one float row vector
            t_in = t_in.to(torch.float32)
        return torch.cat(zs), t_in.to(self.components.device)

    def _controlnet_residuals(self, lay: "_Layout", z_in: torch.Tensor, t_in: torch.Tensor
                              ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """ControlNet residuals of every row, each row scaled by its member's ControlNet scale."""
        c = self.components
        downs: list[list[torch.Tensor]] = []
        mids: list[torch.Tensor] = []
        for g in lay.groups:
            d, md = c.controlnet(g.condition_type)(z_in[g.rows], t_in[g.rows], encoder_hidden_states=g.text,
                                                   controlnet_cond=g.cond, conditioning_scale=1.0,
                                                   return_dict=False, **g.extra)
            downs.append(list(d))
            mids.append(md)
        down = [parts[0] if len(parts) == 1 else torch.cat(parts) for parts in zip(*downs)]
        mid = mids[0] if len(mids) == 1 else torch.cat(mids)
        if lay.scale is None:
            return down, mid  # x · 1.0 = x: what diffusers computes at scale 1
        return [(r * lay.scale).to(c.dtype) for r in down], (mid * lay.scale).to(c.dtype)

    def _added_conditioning(self, members: list[_Member]) -> dict[str, Any]:
        """SDXL's pooled text and size ids, stacked (nothing for SD1.5/2.1)."""
        if self.components.family != "sdxl":
            return {}
        return {"added_cond_kwargs": {key: torch.cat([m.added[key] for m in members])
                                      for key in ("text_embeds", "time_ids")}}

    @staticmethod
    def _scheduler_updates(live: list[_Member], eps: torch.Tensor) -> None:
        """Classifier-free guidance and the scheduler update of each member on its own rows."""
        row = 0
        for m in live:
            p = eps[row: row + m.rows]
            row += m.rows
            if m.cfg:
                uncond, text = p.chunk(2)
                p = uncond + float(m.spec.guidance_scale) * (text - uncond)
            t = m.scheduler.timesteps[m.step]
            m.z = m.scheduler.step(p, t, m.z, return_dict=False)[0]  # deterministic (DDIM η=0)
            m.step += 1


def denoise_batched(components: Components, specs: list[MemberSpec], *, max_batch: int | None = None
                    ) -> list[torch.Tensor]:
    """Run every slice to its end with continuous batching (at most ``max_batch`` members at once,
    the rest joining as others leave); returns the final float32 latents in the order of ``specs``."""
    if max_batch is not None and (isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1):
        raise ValueError(f"max_batch must be a positive integer, got {max_batch!r}")
    engine = BatchedDenoiser(components)
    waiting = list(enumerate(specs))
    keys: dict[int, int] = {}
    out: dict[int, torch.Tensor] = {}
    while waiting or engine.size:
        while waiting and (max_batch is None or engine.size < max_batch):
            i, spec = waiting.pop(0)
            keys[engine.add(spec)] = i
        engine.step()
        for key, z in engine.pop_finished().items():
            out[keys.pop(key)] = z
    return [out[i] for i in range(len(specs))]


__all__ = ["BatchedDenoiser", "MemberSpec", "denoise_batched"]
