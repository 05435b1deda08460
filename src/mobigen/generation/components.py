"""The diffusion components one generation needs, loaded from local weights or built tiny in code.

Section IV-C of the paper generates with a latent diffusion model (SD v1.5) guided by ControlNet v1.1;
Fig. 15(a) repeats the evaluation with SD v2.1, SD-XL and SD v3.5. This module loads those components
from a local diffusers-format directory or a Hugging Face cache *without ever reaching a hub*
(every ``from_pretrained`` gets ``local_files_only=True``, and cache entries are found with
``huggingface_hub.try_to_load_from_cache``, which only reads the disk; nothing depends on
``HF_HUB_OFFLINE``), and it builds tiny random-weight stand-ins for tests and the offline demo.

Expected layout of a weights root (``--weights DIR``, ``MOBIGEN_SD_DIR``, or the HF cache)::

    ROOT/
      stable-diffusion-v1-5/           # diffusers layout: model_index.json, unet/, vae/,
                                       #   text_encoder/, tokenizer/, scheduler/
      control_v11p_sd15_canny/         # config.json + diffusion_pytorch_model.safetensors
      control_v11p_sd15_softedge/      # the "hed" condition (ControlNet 1.1 soft edge)
      control_v11f1p_sd15_depth/
      control_v11p_sd15_seg/

Each entry may also be ``ROOT/<owner>/<name>/`` or a Hugging Face cache entry
``ROOT/models--<owner>--<name>/snapshots/<revision>/`` (the revision that ``refs/main`` names, as
huggingface_hub resolves it). Only the ControlNets of the requested conditions have to be present.

SD v3.5 (``family="sd35"``) is an MMDiT transformer trained with rectified flow: its base folder
(``stable-diffusion-3.5-large``) holds ``transformer/ vae/ text_encoder/ text_encoder_2/
text_encoder_3/ tokenizer/ tokenizer_2/ tokenizer_3/ scheduler/``, and its ControlNets are
``SD3ControlNetModel`` folders (``stable-diffusion-3.5-large-controlnet-canny``, ``-depth``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import constants as hf_constants
from huggingface_hub import try_to_load_from_cache

from mobigen.settings import sd_dir

log = logging.getLogger(__name__)

#: ``tiny_components`` seeds torch's process-wide RNG while it builds; two threads building at once
#: (an edge worker and a device in one process) would interleave draws and get different weights.
_TINY_BUILD_LOCK = threading.Lock()

#: The four condition types of the paper (Table I), in the order of ``mobigen.scenario.CONDITIONS``.
CONDITION_TYPES: tuple[str, ...] = ("canny", "hed", "depth", "seg")

#: Base model repositories per family (first match wins; the legacy SD1.5 id is kept as a fallback).
BASE_REPOS: dict[str, tuple[str, ...]] = {
    "sd15": ("stable-diffusion-v1-5/stable-diffusion-v1-5", "runwayml/stable-diffusion-v1-5"),
    "sd21": ("stabilityai/stable-diffusion-2-1", "stabilityai/stable-diffusion-2-1-base"),
    "sdxl": ("stabilityai/stable-diffusion-xl-base-1.0",),
    # The official SD3.5 ControlNets are trained for the 8B "large" transformer (they reuse its patch
    # embedding); SD3.5 medium has no official ControlNet, so only "large" is a valid base here.
    "sd35": ("stabilityai/stable-diffusion-3.5-large",),
}

#: ControlNet repositories per family and condition type. SD1.5 uses the official ControlNet v1.1
#: set (the paper's "HED" is v1.1's soft-edge model, trained on HED/PiDiNet maps). SD2.1 and SDXL
#: have no official ControlNet set; the entries below are the widely used community/diffusers ones
#: and a family lacking a condition says so when it is asked for.
CONTROLNET_REPOS: dict[str, dict[str, str]] = {
    "sd15": {
        "canny": "lllyasviel/control_v11p_sd15_canny",
        "hed": "lllyasviel/control_v11p_sd15_softedge",
        "depth": "lllyasviel/control_v11f1p_sd15_depth",
        "seg": "lllyasviel/control_v11p_sd15_seg",
    },
    "sd21": {
        "canny": "thibaud/controlnet-sd21-canny-diffusers",
        "hed": "thibaud/controlnet-sd21-hed-diffusers",
        "depth": "thibaud/controlnet-sd21-depth-diffusers",
        "seg": "thibaud/controlnet-sd21-ade20k-diffusers",
    },
    "sdxl": {
        "canny": "diffusers/controlnet-canny-sdxl-1.0",
        "depth": "diffusers/controlnet-depth-sdxl-1.0",
    },
    # Stability's official SD3.5 Large ControlNets (SD3ControlNetModel); the third one, "blur", is
    # not a condition of the paper. No official HED/soft-edge or segmentation ControlNet exists.
    "sd35": {
        "canny": "stabilityai/stable-diffusion-3.5-large-controlnet-canny",
        "depth": "stabilityai/stable-diffusion-3.5-large-controlnet-depth",
    },
}

#: Families this module can run. ``sd35`` is the MMDiT transformer family (SD3Transformer2DModel +
#: SD3ControlNetModel, rectified-flow Euler schedule); the other three are UNet latent diffusion.
FAMILIES: tuple[str, ...] = ("sd15", "sd21", "sdxl", "sd35")

#: Families whose denoiser is an SD3 MMDiT transformer driven by a flow-matching schedule.
FLOW_FAMILIES: tuple[str, ...] = ("sd35",)

#: The SD1.5 scheduler configuration (``scheduler/scheduler_config.json`` of the SD1.5 repository),
#: used by the tiny components so that they walk exactly the timesteps a real SD1.5 run walks.
SD15_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "prediction_type": "epsilon",
    "timestep_spacing": "leading",
}

#: The SD3.5 scheduler configuration (``scheduler/scheduler_config.json`` of
#: stabilityai/stable-diffusion-3.5-large: FlowMatchEulerDiscreteScheduler, 1000 training steps,
#: timestep shift 3.0), used by the tiny sd35 components.
SD35_SCHEDULER_CONFIG: dict[str, Any] = {"num_train_timesteps": 1000, "shift": 3.0}

#: T5 prompt length of the SD3 pipelines (``max_sequence_length`` default of diffusers).
T5_MAX_SEQUENCE_LENGTH = 256


@dataclass(frozen=True)
class Components:
    """Everything one family needs to run ControlNet-guided denoising and VAE decoding."""

    denoiser: Any
    """The denoiser (θ of eq. 3): ``UNet2DConditionModel``, or ``SD3Transformer2DModel`` for sd35."""
    controlnets: Mapping[str, Any]
    """One ``ControlNetModel`` (``SD3ControlNetModel`` for sd35) per condition type name."""
    vae: Any
    """The ``AutoencoderKL`` whose decoder maps z_0 to the image x_0 (Sec. IV-C)."""
    text_encoder: Any
    """The CLIP text encoder producing the prompt part of z_c (sd35: CLIP-L with projection)."""
    tokenizer: Any
    """The CLIP tokenizer for ``text_encoder``."""
    scheduler_config: Mapping[str, Any]
    """The diffusion schedule (betas, training timesteps, prediction type, spacing) as a plain dict."""
    family: str
    """Model family: ``sd15``, ``sd21``, ``sdxl`` or ``sd35``."""
    device: torch.device
    """Where the networks live."""
    dtype: torch.dtype
    """Network weight dtype (float32 on CPU; float16/bfloat16 on a GPU)."""
    source: str
    """Where the weights came from: a directory path, or ``tiny(seed=N)`` for random stand-ins."""
    text_encoder_2: Any = None
    """SDXL and SD3.5: the second (OpenCLIP bigG) text encoder with projection."""
    tokenizer_2: Any = None
    """SDXL and SD3.5: the tokenizer of ``text_encoder_2``."""
    text_encoder_3: Any = None
    """SD3.5 only: the T5 encoder (``T5EncoderModel``) whose hidden states join the CLIP ones."""
    tokenizer_3: Any = None
    """SD3.5 only: the tokenizer of ``text_encoder_3``."""
    force_zeros_for_empty_prompt: bool = False
    """SDXL: an empty negative prompt is encoded as zeros, not as the text "" (diffusers' pipeline flag
    of that name, read from ``model_index.json``; true for SDXL base and when the file does not say)."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Free-form facts about the load (e.g. the resolved directory of each part)."""

    @property
    def vae_scale_factor(self) -> int:
        """Pixels per latent cell along one side (8 for every SD family)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        """Channels of the latent z (4 for SD1.5/2.1/XL, 16 for SD3.5)."""
        return int(self.denoiser.config.in_channels)

    @property
    def conditions(self) -> tuple[str, ...]:
        """The condition types a ControlNet is loaded for."""
        return tuple(self.controlnets)

    def controlnet(self, condition_type: str) -> Any:
        """The ControlNet for one condition type, or ``ValueError`` naming the loaded ones."""
        try:
            return self.controlnets[condition_type]
        except KeyError:
            raise ValueError(
                f"condition_type {condition_type!r} has no ControlNet loaded; loaded: {sorted(self.controlnets)}"
            ) from None


def cast_quietly(module: torch.nn.Module, dtype: torch.dtype) -> None:
    """``module.to(dtype)`` without diffusers' "modules that should be kept in float32: []" notice."""
    from diffusers.utils import logging as diffusers_logging

    verbosity = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()
    try:
        module.to(dtype=dtype)
    finally:
        diffusers_logging.set_verbosity(verbosity)


# --------------------------------------------------------------------------------------------
# finding real weights on disk
# --------------------------------------------------------------------------------------------


def _check_conditions(conditions: Sequence[str]) -> tuple[str, ...]:
    """``conditions`` as a non-empty tuple of known condition types, else ``ValueError``."""
    conditions = tuple(conditions)
    if not conditions:
        raise ValueError("conditions must name at least one condition type")
    for c in conditions:
        if c not in CONDITION_TYPES:
            raise ValueError(f"conditions: unknown condition type {c!r}; expected one of {CONDITION_TYPES}")
    return conditions


def _check_request(family: str, conditions: Sequence[str]) -> tuple[str, ...]:
    """Validate a load request: a known family and conditions it has a ControlNet repository for."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    conditions = _check_conditions(conditions)
    known = CONTROLNET_REPOS[family]
    for c in conditions:
        if c not in known:
            raise ValueError(
                f"conditions: family {family!r} has no known ControlNet for {c!r} (known: {sorted(known)})"
            )
    return conditions


def _default_roots() -> list[Path]:
    """Where to look when no path is given: ``MOBIGEN_SD_DIR``, then huggingface_hub's cache folder."""
    configured = sd_dir()
    return [*([configured] if configured is not None else []), Path(hf_constants.HF_HUB_CACHE)]


def _weight_roots(path: str | os.PathLike[str] | None) -> list[Path]:
    """The roots to search: ``path`` (and its parent when it is a base-model folder), else the defaults."""
    if path is None:
        return _default_roots()
    p = Path(path)
    if not p.is_dir():
        raise FileNotFoundError(f"weights path {p} is not a directory")
    return [p.parent, p] if (p / "model_index.json").is_file() else [p]


def _cached_snapshot(root: Path, repo_id: str, marker: str) -> Path | None:
    """The snapshot folder of ``repo_id`` in a Hugging Face cache at ``root`` if it holds ``marker``.

    huggingface_hub's own lookup (``refs/main`` -> ``snapshots/<sha>``); it reads the disk only."""
    found = try_to_load_from_cache(repo_id, marker, cache_dir=root)
    return Path(found).parent if isinstance(found, str) else None


def resolve_repo_dir(roots: Sequence[Path], repo_ids: Sequence[str], marker: str) -> Path | None:
    """First directory under ``roots`` that holds one of ``repo_ids`` and contains the file ``marker``:
    ``ROOT/<name>``, ``ROOT/<owner>/<name>`` or the Hugging Face cache entry of the repository."""
    for root in roots:
        if not root.is_dir():
            continue
        for repo_id in repo_ids:
            owner, name = repo_id.split("/", 1)
            for folder in (root / name, root / owner / name):
                if (folder / marker).is_file():
                    return folder
            cached = _cached_snapshot(root, repo_id, marker)
            if cached is not None:
                return cached
    return None


def _locate_weights(path: str | os.PathLike[str] | None, family: str,
                    conditions: Sequence[str]) -> tuple[Path, dict[str, Path]]:
    """The base-model folder and one ControlNet folder per condition, or ``FileNotFoundError`` naming
    every missing part and every root searched."""
    roots = _weight_roots(path)
    known = CONTROLNET_REPOS[family]
    given_base = path is not None and (Path(path) / "model_index.json").is_file()
    base_dir = Path(path) if given_base else resolve_repo_dir(roots, BASE_REPOS[family], "model_index.json")
    cn_dirs = {c: resolve_repo_dir(roots, (known[c],), "config.json") for c in conditions}
    missing = []
    if base_dir is None:
        missing.append(f"base model {' or '.join(BASE_REPOS[family])} (a folder with model_index.json)")
    missing += [f"ControlNet {known[c]} for condition {c!r}" for c, d in cn_dirs.items() if d is None]
    if missing or base_dir is None:
        where = ", ".join(str(r) for r in roots)
        raise FileNotFoundError(
            "missing local diffusion weights: " + "; ".join(missing) + f". Searched: {where} (as ROOT/<name>, "
            "ROOT/<owner>/<name> and the Hugging Face cache entry ROOT/models--<owner>--<name>). Nothing is "
            "downloaded; place the diffusers-format folders there (README: 'Pointing mobigen at real SD1.5 + "
            "ControlNet v1.1')."
        )
    return base_dir, {c: d for c, d in cn_dirs.items() if d is not None}


# --------------------------------------------------------------------------------------------
# loading real weights: one loader per model family
# --------------------------------------------------------------------------------------------


def _require_subfolders(base_dir: Path, subfolders: Iterable[str]) -> None:
    """``FileNotFoundError`` naming the sub-folders a base-model folder lacks."""
    lacking = [sub for sub in subfolders if not (base_dir / sub).is_dir()]
    if lacking:
        raise FileNotFoundError(f"base model folder {base_dir} lacks the sub-folder(s) {lacking}")


def _pretrained(cls: Any, folder: Path, subfolder: str | None = None, dtype: torch.dtype | None = None) -> Any:
    """``cls.from_pretrained`` from a local folder, never from a hub (``local_files_only=True``)."""
    kw: dict[str, Any] = {"local_files_only": True}
    if subfolder is not None:
        kw["subfolder"] = subfolder
    if dtype is not None:
        kw["torch_dtype"] = dtype
    return cls.from_pretrained(folder, **kw)


def _scheduler_config(cls: Any, base_dir: Path) -> dict[str, Any]:
    """The base model's ``scheduler/scheduler_config.json`` without diffusers' private ``_`` keys."""
    cfg = dict(cls.load_config(base_dir, subfolder="scheduler", local_files_only=True))
    return {k: v for k, v in cfg.items() if not k.startswith("_")}


def _pipeline_flag(base_dir: Path, name: str, default: bool) -> bool:
    """A boolean pipeline setting from ``model_index.json`` (``default`` when the file does not say)."""
    value = json.loads((base_dir / "model_index.json").read_text()).get(name)
    return default if value is None else bool(value)


def _ready(modules: Iterable[torch.nn.Module], device: torch.device, cast_to: torch.dtype | None = None) -> None:
    """Put networks on ``device`` in inference mode with gradients off (cast to ``cast_to`` if given)."""
    for m in modules:
        m.to(device=device)
        if cast_to is not None and cast_to != torch.float32:
            cast_quietly(m, cast_to)
        m.eval()
        m.requires_grad_(False)


def _networks(parts: Mapping[str, Any]) -> list[torch.nn.Module]:
    """The ``torch.nn.Module`` values among components (tokenizers and ``None`` left out)."""
    return [v for v in parts.values() if isinstance(v, torch.nn.Module)]


#: Sub-folders of an SD1.5 / SD2.1 base model (SDXL adds ``text_encoder_2/ tokenizer_2/``).
_UNET_SUBFOLDERS: tuple[str, ...] = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")


def _load_sd15(base_dir: Path, cn_dirs: Mapping[str, Path], dtype: torch.dtype) -> dict[str, Any]:
    """SD1.5 / SD2.1: UNet, VAE, one CLIP text encoder, ``ControlNetModel`` per condition, DDIM-style schedule."""
    from diffusers import AutoencoderKL, ControlNetModel, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    _require_subfolders(base_dir, _UNET_SUBFOLDERS)
    return dict(
        denoiser=_pretrained(UNet2DConditionModel, base_dir, "unet", dtype),
        vae=_pretrained(AutoencoderKL, base_dir, "vae", dtype),
        text_encoder=_pretrained(CLIPTextModel, base_dir, "text_encoder", dtype),
        tokenizer=_pretrained(CLIPTokenizer, base_dir, "tokenizer"),
        controlnets={c: _pretrained(ControlNetModel, d, dtype=dtype) for c, d in cn_dirs.items()},
        scheduler_config=_scheduler_config(DDIMScheduler, base_dir),
    )


def _load_sdxl(base_dir: Path, cn_dirs: Mapping[str, Path], dtype: torch.dtype) -> dict[str, Any]:
    """SDXL: the SD1.5 parts plus the second (OpenCLIP bigG) text encoder with projection and its
    tokenizer, and the pipeline's ``force_zeros_for_empty_prompt`` flag (diffusers' default: true)."""
    from transformers import CLIPTextModelWithProjection, CLIPTokenizer

    _require_subfolders(base_dir, (*_UNET_SUBFOLDERS, "text_encoder_2", "tokenizer_2"))
    return dict(
        _load_sd15(base_dir, cn_dirs, dtype),
        text_encoder_2=_pretrained(CLIPTextModelWithProjection, base_dir, "text_encoder_2", dtype),
        tokenizer_2=_pretrained(CLIPTokenizer, base_dir, "tokenizer_2"),
        force_zeros_for_empty_prompt=_pipeline_flag(base_dir, "force_zeros_for_empty_prompt", True),
    )


def _load_sd35(base_dir: Path, cn_dirs: Mapping[str, Path], dtype: torch.dtype) -> dict[str, Any]:
    """SD3.5: MMDiT transformer, 16-channel VAE, CLIP-L + CLIP-G (with projection) + T5 text encoders,
    ``SD3ControlNetModel`` per condition, flow-matching Euler schedule."""
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, SD3ControlNetModel, SD3Transformer2DModel
    from transformers import AutoTokenizer, CLIPTextModelWithProjection, CLIPTokenizer, T5EncoderModel

    _require_subfolders(base_dir, ("transformer", "vae", "text_encoder", "text_encoder_2", "text_encoder_3",
                                   "tokenizer", "tokenizer_2", "tokenizer_3", "scheduler"))
    return dict(
        denoiser=_pretrained(SD3Transformer2DModel, base_dir, "transformer", dtype),
        vae=_pretrained(AutoencoderKL, base_dir, "vae", dtype),
        text_encoder=_pretrained(CLIPTextModelWithProjection, base_dir, "text_encoder", dtype),
        text_encoder_2=_pretrained(CLIPTextModelWithProjection, base_dir, "text_encoder_2", dtype),
        text_encoder_3=_pretrained(T5EncoderModel, base_dir, "text_encoder_3", dtype),
        tokenizer=_pretrained(CLIPTokenizer, base_dir, "tokenizer"),
        tokenizer_2=_pretrained(CLIPTokenizer, base_dir, "tokenizer_2"),
        tokenizer_3=_pretrained(AutoTokenizer, base_dir, "tokenizer_3"),
        controlnets={c: _pretrained(SD3ControlNetModel, d, dtype=dtype) for c, d in cn_dirs.items()},
        scheduler_config=_scheduler_config(FlowMatchEulerDiscreteScheduler, base_dir),
    )


#: The loader of each family (SD2.1 has SD1.5's architecture). Each returns the ``Components`` fields
#: it read from disk; :func:`load_components` moves the networks to the device and assembles them.
FAMILY_LOADERS: dict[str, Callable[[Path, Mapping[str, Path], torch.dtype], dict[str, Any]]] = {
    "sd15": _load_sd15,
    "sd21": _load_sd15,
    "sdxl": _load_sdxl,
    "sd35": _load_sd35,
}


def load_components(
    path: str | os.PathLike[str] | None = None,
    conditions: Sequence[str] = CONDITION_TYPES,
    family: str = "sd15",
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Components:
    """Load a family's base model and one ControlNet per condition from local files only.

    ``path`` is a weights root (layout in the module docstring), or a base-model directory itself
    (one that holds ``model_index.json``; ControlNets are then looked up beside it). Without
    ``path`` the roots are ``MOBIGEN_SD_DIR`` and the HF cache. Raises ``ValueError`` for an unknown
    family or condition and ``FileNotFoundError`` naming every missing part and where it was sought.
    No network call is made whatever ``HF_HUB_OFFLINE`` says.
    """
    conditions = _check_request(family, conditions)  # 1. a valid request
    base_dir, cn_dirs = _locate_weights(path, family, conditions)  # 2. every folder present
    parts = FAMILY_LOADERS[family](base_dir, cn_dirs, dtype)  # 3. the family's networks, local files only
    dev = torch.device(device)
    _ready([*_networks(parts), *parts["controlnets"].values()], dev)  # 4. on the device, inference only
    if family in FLOW_FAMILIES:
        for cn in parts["controlnets"].values():
            share_patch_embedding(cn, parts["denoiser"])
    dirs = {c: str(d) for c, d in cn_dirs.items()}
    log.info("loaded %s from %s with ControlNets %s", family, base_dir, dirs)
    return Components(**parts, family=family, device=dev, dtype=dtype, source=str(base_dir),
                      extra={"base_dir": str(base_dir), "controlnet_dirs": dirs})


def share_patch_embedding(controlnet: Any, transformer: Any) -> None:
    """Give an SD3 ControlNet without its own patch embedding (``use_pos_embed=False``, the SD3.5
    Large ControlNets) a copy of the transformer's, as diffusers' SD3 ControlNet pipeline does."""
    if getattr(controlnet.config, "use_pos_embed", True) is False:
        pos_embed = controlnet._get_pos_embed_from_transformer(transformer)
        controlnet.pos_embed = pos_embed.to(device=transformer.device, dtype=transformer.dtype)


# --------------------------------------------------------------------------------------------
# tiny random-weight components (tests, offline demo)
# --------------------------------------------------------------------------------------------


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte-to-printable-character table (the base alphabet of CLIP's BPE)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def tiny_tokenizer(max_length: int = 77) -> Any:
    """A CLIP tokenizer built in memory: the 256 byte symbols, their word-final forms, no merges.

    Every prompt tokenizes to one token per character, so the tokenizer is complete (no unknown
    input) and small (514 entries). Nothing is read from disk or a hub.
    """
    from transformers import CLIPTokenizer

    chars = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def _randomize_zero_params(module: torch.nn.Module, generator: torch.Generator, std: float = 0.05) -> None:
    """Give the zero-initialised ControlNet projections random weights, so a tiny ControlNet
    actually steers the UNet (a freshly built one adds exact zeros and tests would prove nothing)."""
    with torch.no_grad():
        for p in module.parameters():
            if torch.count_nonzero(p) == 0:
                p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * std)


def _tiny_controlnets(cls: type, kwargs: Mapping[str, Any], conditions: Sequence[str], seed: int,
                      transformer: Any = None) -> dict[str, Any]:
    """One seeded tiny ControlNet per condition, its zero projections given random weights (and, for
    SD3 ControlNets, the transformer's patch embedding shared in)."""
    controlnets = {}
    for i, c in enumerate(conditions):
        torch.manual_seed(seed * 1000 + 17 + i)
        cn = cls(**kwargs)
        _randomize_zero_params(cn, torch.Generator().manual_seed(seed * 1000 + 31 + i))
        if transformer is not None:
            share_patch_embedding(cn, transformer)
        controlnets[c] = cn
    return controlnets


def _tiny_vae(seed: int, latent_channels: int, **extra: Any) -> Any:
    """A seeded 4-level ``AutoencoderKL`` (8x down-sampling, as every SD family)."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed * 1000 + 7)
    return AutoencoderKL(
        block_out_channels=(8, 8, 16, 16), in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=latent_channels, layers_per_block=1, norm_num_groups=4, sample_size=64, **extra,
    )


def _tiny_clip_config(hidden_size: int) -> Any:
    """A 2-layer CLIP text config over :func:`tiny_tokenizer`'s 514 ids (projection width 16)."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        bos_token_id=512, eos_token_id=513, pad_token_id=513, hidden_size=hidden_size, intermediate_size=37,
        layer_norm_eps=1e-5, num_attention_heads=4, num_hidden_layers=2, vocab_size=514,
        max_position_embeddings=77, projection_dim=16,
    )


def _tiny_unet_kwargs(sdxl: bool) -> dict[str, Any]:
    """``UNet2DConditionModel`` arguments: three levels, attention only at the coarsest (h/4 x w/4
    tokens; CPU attention over 64x64-latent token grids dominates the step time otherwise); SDXL adds
    the size/crop ("text_time") conditioning."""
    kw: dict[str, Any] = dict(
        block_out_channels=(16, 32, 32), layers_per_block=1, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=2, norm_num_groups=8,
    )
    if sdxl:
        kw.update(
            addition_embed_type="text_time",
            addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=8 * 6 + 16,  # 6 size/crop ids + pooled text (16)
            transformer_layers_per_block=(1, 1, 1),
        )
    return kw


def _tiny_unet_parts(seed: int, conditions: Sequence[str], family: str) -> dict[str, Any]:
    """The seeded networks of a tiny UNet family (sd15, sd21, sdxl); call under the build lock."""
    from diffusers import ControlNetModel, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    sdxl = family == "sdxl"
    unet_kw = _tiny_unet_kwargs(sdxl)
    torch.manual_seed(seed)
    parts: dict[str, Any] = {"denoiser": UNet2DConditionModel(**unet_kw)}
    cn_kw = {k: v for k, v in unet_kw.items() if k not in ("out_channels", "up_block_types")}
    cn_kw["conditioning_embedding_out_channels"] = (4, 8, 8, 16)  # three stride-2 convs: 8x, as in SD
    parts["controlnets"] = _tiny_controlnets(ControlNetModel, cn_kw, conditions, seed)
    parts["vae"] = _tiny_vae(seed, latent_channels=4)
    te_cfg = _tiny_clip_config(16 if sdxl else 32)  # SDXL concatenates the two encoders' states (16+16)
    torch.manual_seed(seed * 1000 + 11)
    parts["text_encoder"] = CLIPTextModel(te_cfg)
    parts["tokenizer"] = tiny_tokenizer()
    if sdxl:
        parts.update(text_encoder_2=CLIPTextModelWithProjection(te_cfg), tokenizer_2=tiny_tokenizer(),
                     force_zeros_for_empty_prompt=True)  # as SDXL base's pipeline
    sched_cfg = dict(SD15_SCHEDULER_CONFIG)
    if family == "sd21":
        sched_cfg.update(prediction_type="v_prediction", timestep_spacing="trailing")
    parts["scheduler_config"] = sched_cfg
    return parts


def _tiny_sd3_parts(seed: int, conditions: Sequence[str]) -> dict[str, Any]:
    """Tiny SD3.5-shaped networks (call under the build lock): MMDiT transformer (QK RMS-norm, one
    dual-attention layer as in SD3.5 medium), SD3 ControlNets shaped like the SD3.5 Large ones
    (single-stream blocks, no text stream, patch embedding shared with the transformer), a 16-channel
    VAE with SD3's shift/scaling factors, two CLIP encoders with projection and a T5 encoder, all with
    in-memory tokenizers."""
    from diffusers import SD3ControlNetModel, SD3Transformer2DModel
    from transformers import CLIPTextModelWithProjection, T5Config, T5EncoderModel

    heads, head_dim = 2, 8
    inner = heads * head_dim
    clip_hidden, t5_dim = 16, 48  # CLIP-L+G hidden (16+16) is zero-padded to T5's 48
    tr_kw: dict[str, Any] = dict(
        sample_size=32, patch_size=2, in_channels=16, out_channels=16, num_layers=2, attention_head_dim=head_dim,
        num_attention_heads=heads, joint_attention_dim=t5_dim, caption_projection_dim=inner,
        pooled_projection_dim=2 * 16, pos_embed_max_size=64,  # up to 1024-pixel sides
    )
    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(**tr_kw, dual_attention_layers=(0,), qk_norm="rms_norm")
    cn_kw = dict(tr_kw, joint_attention_dim=None, use_pos_embed=False, force_zeros_for_pooled_projection=False,
                 pos_embed_type=None)
    controlnets = _tiny_controlnets(SD3ControlNetModel, cn_kw, conditions, seed, transformer=transformer)
    vae = _tiny_vae(seed, latent_channels=16, scaling_factor=1.5305, shift_factor=0.0609,  # SD3/SD3.5 VAE's
                    use_quant_conv=False, use_post_quant_conv=False)
    clip_cfg = _tiny_clip_config(clip_hidden)
    torch.manual_seed(seed * 1000 + 11)
    te1, te2 = CLIPTextModelWithProjection(clip_cfg), CLIPTextModelWithProjection(clip_cfg)
    t5_cfg = T5Config(
        vocab_size=514, d_model=t5_dim, d_kv=8, d_ff=64, num_layers=2, num_heads=2,
        relative_attention_num_buckets=8, relative_attention_max_distance=16, dropout_rate=0.0,
        feed_forward_proj="gated-gelu", pad_token_id=513, eos_token_id=513, decoder_start_token_id=513,
        is_encoder_decoder=False, use_cache=False,
    )
    torch.manual_seed(seed * 1000 + 13)
    return dict(
        denoiser=transformer, controlnets=controlnets, vae=vae, text_encoder=te1, tokenizer=tiny_tokenizer(),
        text_encoder_2=te2, tokenizer_2=tiny_tokenizer(), text_encoder_3=T5EncoderModel(t5_cfg),
        # the T5 side only needs input ids: the byte-level tokenizer, 32 tokens for speed
        tokenizer_3=tiny_tokenizer(max_length=32), scheduler_config=dict(SD35_SCHEDULER_CONFIG),
    )


def tiny_components(
    seed: int = 0,
    conditions: Sequence[str] = CONDITION_TYPES,
    family: str = "sd15",
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Components:
    """Tiny random-weight components with the real families' interfaces (8x VAE, 4 latent channels;
    16 for sd35).

    Weights come from explicitly seeded initialisation: the global RNG is forked and seeded from
    ``seed`` while the modules are built (under a lock, so concurrent builds in several threads do not
    interleave their draws), so two calls with one seed give identical weights and the caller's RNG
    state is untouched. ``family`` ``sd21`` switches to v-prediction, ``sdxl`` adds the second text
    encoder and the size/crop conditioning, and ``sd35`` builds the MMDiT family instead.
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    conditions = _check_conditions(conditions)
    # under the lock: the seeded draws, and diffusers' lazy first imports (not thread-safe either)
    with _TINY_BUILD_LOCK, torch.random.fork_rng(devices=[]):
        if family in FLOW_FAMILIES:
            parts = _tiny_sd3_parts(seed, conditions)
        else:
            parts = _tiny_unet_parts(seed, conditions, family)
    dev = torch.device(device)
    _ready([*_networks(parts), *parts["controlnets"].values()], dev, cast_to=dtype)
    return Components(**parts, family=family, device=dev, dtype=dtype,
                      source=f"tiny(seed={seed}, family={family})")
