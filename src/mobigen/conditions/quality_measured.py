"""Measured quality model: generate with SD1.5 + ControlNet, score with DreamSim and ImageReward.

This is the real profiling path of the paper (Sec. III, Fig. 2/4/7): for each request (image,
prompt), condition configuration ν = (λ, α, β, codec) and step count T it

1. extracts the condition, encodes it at (α, β, codec) and decodes it (``condition_fn``, default:
   ``conditions.extractors`` + ``conditions.codec``), as the edge would receive it;
2. generates an image (``generator``, default adapter: ``mobigen.generation.denoise.generate``);
3. scores it: q^I = clip(1 − DreamSim distance(generated, source), 0, 1) and
   q^T = clip((ImageReward(prompt, generated) − R_min) / (R_max − R_min), 0, 1) with
   [R_min, R_max] = [−2.5, 2.5] (the paper only says the scores are "normalised"; ImageReward's
   raw rewards are roughly standard-normal over human-rated images, so ±2.5 covers ~99 %).

The rows form a *measured quality table* (``measure``); ``MeasuredQuality(table)`` then serves
``scores(...)`` as the mean over requests per (λ, α, β) and T, linear in T between measured step
counts (held constant outside), minus the per-request difficulty offset.

No weights ship. ``load_scorers`` / ``MeasuredQuality.from_weights`` read them from local folders
only and raise ``FileNotFoundError`` naming what is missing and where it was sought. Tests use tiny
stand-in components (``generation.components.tiny_components``) and tiny scorers with the same
interface (``SimilarityScorer`` / ``AlignmentScorer``).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Protocol, Sequence, runtime_checkable

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from mobigen.scenario import CONDITIONS

log = logging.getLogger(__name__)

BACKEND = "measured"
IR_RANGE: tuple[float, float] = (-2.5, 2.5)
"""[R_min, R_max] mapping raw ImageReward to [0, 1] (see module docstring)."""
TABLE_COLUMNS = ("image", "prompt", "condition", "alpha", "beta", "codec", "steps", "seed",
                 "ds_distance", "ir_reward", "q_I", "q_T")
"""Columns of a measured quality table (q_I/q_T normalised, the raw metric values beside them)."""


@runtime_checkable
class SimilarityScorer(Protocol):
    """DreamSim-like: perceptual distance between two uint8 HxWx3 images (lower = more similar)."""

    name: str

    def distance(self, generated: np.ndarray, reference: np.ndarray) -> float: ...


@runtime_checkable
class AlignmentScorer(Protocol):
    """ImageReward-like: how well an image matches a prompt (raw reward, higher = better)."""

    name: str

    def reward(self, generated: np.ndarray, prompt: str) -> float: ...


Generator = Callable[[np.ndarray, str, str, int, int], np.ndarray]
"""(condition_rgb uint8 512x512x3, prompt, condition_type, steps, seed) -> image uint8 HxWx3."""
ConditionFn = Callable[[np.ndarray, str, float, float, str], np.ndarray]
"""(source_rgb uint8 512x512x3, condition_type, alpha, beta, codec) -> decoded condition uint8 512x512x3."""


def normalise_ds(distance: float) -> float:
    """q^I from a DreamSim distance."""
    return float(np.clip(1.0 - distance, 0.0, 1.0))


def normalise_ir(reward: float) -> float:
    """q^T from a raw ImageReward score."""
    lo, hi = IR_RANGE
    return float(np.clip((reward - lo) / (hi - lo), 0.0, 1.0))


def default_condition_fn(source_rgb: np.ndarray, condition: str, alpha: float, beta: float, codec: str) -> np.ndarray:
    """Extract (``conditions.extractors``), encode at (α, β, codec) and decode (``conditions.codec``) — what the edge gets."""
    from mobigen.conditions import codec as codec_mod
    from mobigen.conditions.extractors import extract

    cond = extract(condition, source_rgb)
    return codec_mod.decode(codec_mod.encode(cond, alpha, beta, codec))


def diffusers_generator(components, guidance_scale: float = 7.5, scheduler_name: str | None = None) -> Generator:
    """Adapter from ``mobigen.generation`` (SD1.5 + ControlNet components) to ``Generator``."""
    from mobigen.generation.denoise import generate

    def gen(condition_rgb: np.ndarray, prompt: str, condition_type: str, steps: int, seed: int) -> np.ndarray:
        return generate(components, prompt=prompt, condition_rgb_uint8=condition_rgb, condition_type=condition_type,
                        seed=int(seed), total_steps=int(steps), guidance_scale=guidance_scale,
                        scheduler_name=scheduler_name)

    return gen


@dataclass(frozen=True)
class MeasureRequest:
    """One (image, prompt) pair to generate for."""

    image: str
    """Image identifier."""
    rgb: np.ndarray
    """The 512x512x3 uint8 source image."""
    prompt: str
    """The text prompt."""


def measure(requests: Sequence[MeasureRequest], configs: Iterable[tuple[str, float, float, str]],
            steps_values: Sequence[int], generator: Generator, similarity: SimilarityScorer,
            alignment: AlignmentScorer, *, condition_fn: ConditionFn = default_condition_fn, seed: int = 0,
            progress: bool = True) -> pd.DataFrame:
    """Generate and score every request × configuration × T; one row each (``TABLE_COLUMNS``).

    The initial noise seed of a request is ``seed + request index`` for every configuration and
    T, so configurations are compared on the same noise."""
    from tqdm import tqdm

    configs = list(configs)
    for c, a, b, k in configs:
        if c not in CONDITIONS:
            raise ValueError(f"condition: unknown type '{c}' (known: {', '.join(CONDITIONS)})")
    steps_values = [int(t) for t in steps_values]
    if not steps_values or min(steps_values) < 1:
        raise ValueError("steps_values: must list step counts >= 1")
    rows = []
    total = len(requests) * len(configs) * len(steps_values)
    bar = tqdm(total=total, desc="measure quality", disable=not progress)
    for r_i, req in enumerate(requests):
        for c, a, b, k in configs:
            cond = condition_fn(req.rgb, c, a, b, k)
            for T in steps_values:
                s = seed + r_i
                img = generator(cond, req.prompt, c, T, s)
                d = float(similarity.distance(img, req.rgb))
                rw = float(alignment.reward(img, req.prompt))
                rows.append(dict(image=req.image, prompt=req.prompt, condition=c, alpha=float(a), beta=float(b),
                                 codec=k, steps=T, seed=s, ds_distance=d, ir_reward=rw,
                                 q_I=normalise_ds(d), q_T=normalise_ir(rw)))
                bar.update(1)
    bar.close()
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


class MeasuredQuality:
    """``QualityModel`` backend "measured": means of a measured quality table (module docstring)."""

    backend = BACKEND

    def __init__(self, table: pd.DataFrame | str | os.PathLike[str]) -> None:
        if not isinstance(table, pd.DataFrame):
            p = Path(table)
            if not p.is_file():
                raise FileNotFoundError(f"measured quality table '{p}' not found")
            table = pd.read_csv(p)
        missing = [c for c in ("condition", "alpha", "beta", "steps", "q_I", "q_T") if c not in table.columns]
        if missing:
            raise ValueError(f"measured quality table: missing column '{missing[0]}'")
        if table.empty:
            raise ValueError("measured quality table: no rows")
        self.table = table
        g = table.groupby(["condition", "alpha", "beta", "steps"])[["q_I", "q_T"]].mean().reset_index()
        self._steps = np.array(sorted(g["steps"].unique()), dtype=float)
        self._cfg: dict[tuple[int, float, float], tuple[np.ndarray, np.ndarray]] = {}
        for (c, a, b), sub in g.groupby(["condition", "alpha", "beta"]):
            sub = sub.sort_values("steps")
            key = (CONDITIONS.index(c), round(float(a), 6), round(float(b), 6))
            self._cfg[key] = (sub["steps"].to_numpy(float), np.stack([sub["q_I"].to_numpy(float), sub["q_T"].to_numpy(float)]))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the table (CSV) with the backend in a sidecar JSON."""
        p = Path(path).with_suffix(".csv")
        p.parent.mkdir(parents=True, exist_ok=True)
        self.table.to_csv(p, index=False)
        p.with_suffix(".json").write_text('{"quality_backend": "measured"}', encoding="utf-8")
        return p

    def scores(self, condition: ArrayLike, alpha: ArrayLike, beta: ArrayLike, steps: ArrayLike,
               difficulty: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(q^I, q^T) in [0, 1], broadcast over the inputs (ValueError for an unmeasured configuration)."""
        c = np.asarray(condition)
        if c.dtype.kind not in "iu":
            from mobigen.system.quality import condition_index
            c = condition_index(c)
        c, a, b, T = np.broadcast_arrays(c, np.asarray(alpha, float), np.asarray(beta, float), np.asarray(steps, float))
        qi = np.empty(c.shape); qt = np.empty(c.shape)
        for idx in np.ndindex(c.shape):
            key = (int(c[idx]), round(float(a[idx]), 6), round(float(b[idx]), 6))
            hit = self._cfg.get(key)
            if hit is None:
                raise ValueError(f"configuration (condition={CONDITIONS[key[0]]}, alpha={key[1]}, beta={key[2]}) "
                                 "was not measured")
            ts, q = hit
            qi[idx] = np.interp(T[idx], ts, q[0])
            qt[idx] = np.interp(T[idx], ts, q[1])
        if difficulty is not None:
            d = np.asarray(difficulty, float)
            qi, qt = qi - d, qt - d
        return np.clip(qi, 0.0, 1.0), np.clip(qt, 0.0, 1.0)

    @classmethod
    def from_weights(cls, requests: Sequence[MeasureRequest], configs: Iterable[tuple[str, float, float, str]],
                     steps_values: Sequence[int], *, sd_dir: str | os.PathLike[str] | None = None,
                     dreamsim_dir: str | os.PathLike[str] | None = None,
                     imagereward_dir: str | os.PathLike[str] | None = None, device: str = "cpu",
                     seed: int = 0) -> "MeasuredQuality":
        """Load SD1.5 + ControlNet (``generation.components.load_components``) and the two scorers from
        local folders, then ``measure``. FileNotFoundError names whatever is missing."""
        from mobigen.settings import sd_dir as _sd_dir

        root = _sd_dir(sd_dir)
        if root is None or not Path(root).is_dir():
            raise FileNotFoundError(f"Stable Diffusion 1.5 + ControlNet weights: folder {str(root)!r} not found "
                                    "(pass sd_dir or set MOBIGEN_SD_DIR)")
        similarity, alignment = load_scorers(dreamsim_dir, imagereward_dir, device=device)
        from mobigen.generation.components import load_components
        configs = list(configs)
        conds = sorted({c for c, *_ in configs})
        components = load_components(root, conditions=conds, device=device)
        table = measure(requests, configs, steps_values, diffusers_generator(components), similarity, alignment, seed=seed)
        return cls(table)


# ---- real scorers (loaded from local folders only) ------------------------------------------------

def _weights_subdir(explicit: str | os.PathLike[str] | None, env: str, default_name: str) -> Path:
    if explicit is not None:
        return Path(explicit)
    if os.environ.get(env):
        return Path(os.environ[env])
    from mobigen.settings import weights_dir

    return weights_dir() / default_name


@contextlib.contextmanager
def hub_offline() -> Iterator[None]:
    """Keep the scorer packages' own model/tokenizer loads off the network while they run.

    ``dreamsim`` and ``image-reward`` load their backbones and tokenizers through huggingface_hub and
    transformers, which read ``HF_HUB_OFFLINE`` once, at import (long before this call), so setting the
    environment variable here would have no effect. Both consult ``huggingface_hub.constants.is_offline_mode()``
    at call time, which returns ``constants.HF_HUB_OFFLINE``: that flag is set for the duration of the load
    and restored afterwards; ``os.environ`` is never touched."""
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved


class DreamSimScorer:
    """DreamSim (Fu et al., 2023) from a local cache folder, via the ``dreamsim`` package."""

    name = "dreamsim"

    def __init__(self, folder: Path, device: str = "cpu") -> None:
        try:
            from dreamsim import dreamsim  # type: ignore[import-not-found]
        except ImportError as exc:
            raise ImportError("DreamSim scorer needs the 'dreamsim' package (pip install dreamsim)") from exc
        self._model, self._pre = dreamsim(pretrained=True, cache_dir=str(folder), device=device)
        self._device = device

    def distance(self, generated: np.ndarray, reference: np.ndarray) -> float:
        from PIL import Image

        a = self._pre(Image.fromarray(generated)).to(self._device)
        b = self._pre(Image.fromarray(reference)).to(self._device)
        return float(self._model(a, b).item())


class ImageRewardScorer:
    """ImageReward (Xu et al., 2023) from a local checkpoint, via the ``image-reward`` package."""

    name = "imagereward"

    def __init__(self, folder: Path, device: str = "cpu") -> None:
        try:
            import ImageReward as RM  # type: ignore[import-not-found]
        except ImportError as exc:
            raise ImportError("ImageReward scorer needs the 'image-reward' package (pip install image-reward)") from exc
        self._model = RM.load(str(folder / "ImageReward.pt"), device=device, download_root=str(folder),
                              med_config=str(folder / "med_config.json"))

    def reward(self, generated: np.ndarray, prompt: str) -> float:
        from PIL import Image

        return float(self._model.score(prompt, Image.fromarray(generated)))


def load_scorers(dreamsim_dir: str | os.PathLike[str] | None = None,
                 imagereward_dir: str | os.PathLike[str] | None = None,
                 device: str = "cpu") -> tuple[SimilarityScorer, AlignmentScorer]:
    """DreamSim and ImageReward from local folders (``MOBIGEN_DREAMSIM_DIR`` / ``MOBIGEN_IMAGEREWARD_DIR``,
    default ``<weights>/dreamsim`` and ``<weights>/imagereward``). Never downloads."""
    ds = _weights_subdir(dreamsim_dir, "MOBIGEN_DREAMSIM_DIR", "dreamsim")
    ir = _weights_subdir(imagereward_dir, "MOBIGEN_IMAGEREWARD_DIR", "imagereward")
    missing = []
    if not ds.is_dir() or not any(ds.iterdir()):
        missing.append(f"DreamSim weights (folder '{ds}'; set MOBIGEN_DREAMSIM_DIR)")
    if not (ir / "ImageReward.pt").is_file() or not (ir / "med_config.json").is_file():
        missing.append(f"ImageReward weights ('{ir / 'ImageReward.pt'}' and 'med_config.json'; set MOBIGEN_IMAGEREWARD_DIR)")
    if missing:
        raise FileNotFoundError("measured quality backend: missing " + "; ".join(missing))
    with hub_offline():
        return DreamSimScorer(ds, device), ImageRewardScorer(ir, device)
