"""The diffusion components one generation needs, loaded from local weights or built tiny in code.

Section IV-C of the paper generates with a latent diffusion model (SD v1.5) guided by ControlNet v1.1;
Fig. 15(a) repeats the evaluation with SD v2.1, SD-XL and SD v3.5. This module loads those components
from a local diffusers-format directory or a Hugging Face cache *without ever reaching a hub*
(``local_files_only=True``; ``HF_HUB_OFFLINE=1`` is set for the duration of a load), and it builds
tiny random-weight stand-ins for tests and the offline demo.

Expected layout of a weights root (``--weights DIR``, ``MOBIGEN_SD_DIR``, or the HF cache)::

    ROOT/
      stable-diffusion-v1-5/           # diffusers layout: model_index.json, unet/, vae/,
                                       #   text_encoder/, tokenizer/, scheduler/
      control_v11p_sd15_canny/         # config.json + diffusion_pytorch_model.safetensors
      control_v11p_sd15_softedge/      # the "hed" condition (ControlNet 1.1 soft edge)
      control_v11f1p_sd15_depth/
      control_v11p_sd15_seg/

Each entry may also be ``ROOT/<owner>/<name>/`` or a Hugging Face cache entry
``ROOT/models--<owner>--<name>/snapshots/<revision>/`` (the revision named by ``refs/main``, else the
newest). Only the ControlNets of the requested conditions have to be present.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

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
}

#: Families this module can run. SD3.5 (an MMDiT transformer with flow matching, SD3ControlNetModel)
#: needs a different denoising loop and is not supported; see the README section "Other model families".
FAMILIES: tuple[str, ...] = ("sd15", "sd21", "sdxl")

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


@dataclass(frozen=True)
class Components:
    """Everything one family needs to run ControlNet-guided denoising and VAE decoding."""

    unet: Any
    """The noise predictor ``UNet2DConditionModel`` (θ of eq. 3)."""
    controlnets: Mapping[str, Any]
    """One ``ControlNetModel`` per condition type name (``canny``, ``hed``, ``depth``, ``seg``)."""
    vae: Any
    """The ``AutoencoderKL`` whose decoder maps z_0 to the image x_0 (Sec. IV-C)."""
    text_encoder: Any
    """The CLIP text encoder producing the prompt part of z_c."""
    tokenizer: Any
    """The CLIP tokenizer for ``text_encoder``."""
    scheduler_config: Mapping[str, Any]
    """The diffusion schedule (betas, training timesteps, prediction type, spacing) as a plain dict."""
    family: str
    """Model family: ``sd15``, ``sd21`` or ``sdxl``."""
    device: torch.device
    """Where the networks live."""
    dtype: torch.dtype
    """Network weight dtype (float32 on CPU; float16/bfloat16 on a GPU)."""
    source: str
    """Where the weights came from: a directory path, or ``tiny(seed=N)`` for random stand-ins."""
    text_encoder_2: Any = None
    """SDXL only: the second (OpenCLIP bigG) text encoder with projection."""
    tokenizer_2: Any = None
    """SDXL only: the tokenizer of ``text_encoder_2``."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Free-form facts about the load (e.g. the resolved directory of each part)."""

    @property
    def vae_scale_factor(self) -> int:
        """Pixels per latent cell along one side (8 for every SD family)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        """Channels of the latent z (4 for SD1.5/2.1/XL)."""
        return int(self.unet.config.in_channels)

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
# loading real weights
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """Force Hugging Face libraries offline for the duration of a load."""
    keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "DIFFUSERS_OFFLINE")
    saved = {k: os.environ.get(k) for k in keys}
    try:
        for k in keys:
            os.environ[k] = "1"
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _default_roots() -> list[Path]:
    """Where to look when no path is given: ``MOBIGEN_SD_DIR``, then the HF hub cache."""
    from mobigen.settings import sd_dir

    roots: list[Path] = []
    configured = sd_dir()
    if configured is not None:
        roots.append(configured)
    hf_cache = os.environ.get("HF_HUB_CACHE")
    if not hf_cache:
        hf_home = os.environ.get("HF_HOME", str(Path.home() / ".cache" / "huggingface"))
        hf_cache = str(Path(hf_home) / "hub")
    roots.append(Path(hf_cache))
    return roots


def _snapshot(entry: Path) -> Path | None:
    """The snapshot folder of one HF cache entry ``models--owner--name``."""
    snaps = entry / "snapshots"
    if not snaps.is_dir():
        return None
    ref = entry / "refs" / "main"
    if ref.is_file():
        candidate = snaps / ref.read_text().strip()
        if candidate.is_dir():
            return candidate
    found = sorted((p for p in snaps.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def resolve_repo_dir(roots: Sequence[Path], repo_ids: Sequence[str], marker: str) -> Path | None:
    """First directory under ``roots`` that holds one of ``repo_ids`` and contains the file ``marker``."""
    for root in roots:
        if not root.is_dir():
            continue
        for repo_id in repo_ids:
            owner, name = repo_id.split("/", 1)
            candidates: list[Path | None] = [
                root / name,
                root / owner / name,
                _snapshot(root / f"models--{owner}--{name}"),
            ]
            for cand in candidates:
                if cand is not None and (cand / marker).is_file():
                    return cand
    return None


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
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES} (SD3.5 is not supported), got {family!r}")
    conditions = tuple(conditions)
    if not conditions:
        raise ValueError("conditions must name at least one condition type")
    known = CONTROLNET_REPOS[family]
    for c in conditions:
        if c not in CONDITION_TYPES:
            raise ValueError(f"conditions: unknown condition type {c!r}; expected one of {CONDITION_TYPES}")
        if c not in known:
            raise ValueError(
                f"conditions: family {family!r} has no known ControlNet for {c!r} (known: {sorted(known)})"
            )

    if path is not None:
        p = Path(path)
        if not p.is_dir():
            raise FileNotFoundError(f"weights path {p} is not a directory")
        roots = [p.parent, p] if (p / "model_index.json").is_file() else [p]
    else:
        roots = _default_roots()

    base_dir = (
        Path(path) if path is not None and (Path(path) / "model_index.json").is_file()
        else resolve_repo_dir(roots, BASE_REPOS[family], "model_index.json")
    )
    cn_dirs = {c: resolve_repo_dir(roots, (known[c],), "config.json") for c in conditions}
    missing = []
    if base_dir is None:
        missing.append(f"base model {' or '.join(BASE_REPOS[family])} (a folder with model_index.json)")
    missing += [f"ControlNet {known[c]} for condition {c!r}" for c, d in cn_dirs.items() if d is None]
    if missing or base_dir is None:
        where = ", ".join(str(r) for r in roots)
        raise FileNotFoundError(
            "missing local diffusion weights: " + "; ".join(missing) + f". Searched: {where}. "
            "Nothing is downloaded; place the diffusers-format folders there (README: 'Pointing mobigen at real SD1.5 + ControlNet v1.1')."
        )

    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    dev = torch.device(device)
    kw = {"local_files_only": True, "torch_dtype": dtype}
    with _offline():
        for sub in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
            if not (base_dir / sub).is_dir():
                raise FileNotFoundError(f"base model folder {base_dir} lacks the sub-folder {sub!r}")
        unet = UNet2DConditionModel.from_pretrained(base_dir, subfolder="unet", **kw)
        vae = AutoencoderKL.from_pretrained(base_dir, subfolder="vae", **kw)
        text_encoder = CLIPTextModel.from_pretrained(base_dir, subfolder="text_encoder", **kw)
        tokenizer = CLIPTokenizer.from_pretrained(base_dir, subfolder="tokenizer", local_files_only=True)
        text_encoder_2 = tokenizer_2 = None
        if family == "sdxl":
            text_encoder_2 = CLIPTextModelWithProjection.from_pretrained(base_dir, subfolder="text_encoder_2", **kw)
            tokenizer_2 = CLIPTokenizer.from_pretrained(base_dir, subfolder="tokenizer_2", local_files_only=True)
        controlnets = {c: ControlNetModel.from_pretrained(d, **kw) for c, d in cn_dirs.items()}
        from diffusers import DDIMScheduler

        sched_cfg = dict(DDIMScheduler.load_config(base_dir, subfolder="scheduler", local_files_only=True))
    sched_cfg = {k: v for k, v in sched_cfg.items() if not k.startswith("_")}
    modules = [unet, vae, text_encoder, *controlnets.values()] + ([text_encoder_2] if text_encoder_2 else [])
    for m in modules:
        m.to(dev)
        m.eval()
        m.requires_grad_(False)
    log.info("loaded %s from %s with ControlNets %s", family, base_dir, {c: str(d) for c, d in cn_dirs.items()})
    return Components(
        unet=unet,
        controlnets=controlnets,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler_config=sched_cfg,
        family=family,
        device=dev,
        dtype=dtype,
        source=str(base_dir),
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
        extra={"base_dir": str(base_dir), "controlnet_dirs": {c: str(d) for c, d in cn_dirs.items()}},
    )


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


def tiny_components(
    seed: int = 0,
    conditions: Sequence[str] = CONDITION_TYPES,
    family: str = "sd15",
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Components:
    """Tiny random-weight components with the real families' interfaces (8x VAE, 4 latent channels).

    Weights come from explicitly seeded initialisation: the global RNG is forked and seeded from
    ``seed`` while the modules are built (under a lock, so concurrent builds in several threads do not
    interleave their draws), so two calls with one seed give identical weights and the caller's RNG
    state is untouched. ``family`` ``sd21`` switches to
    v-prediction and ``sdxl`` adds the second text encoder and the size/crop conditioning.
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    conditions = tuple(conditions)
    for c in conditions:
        if c not in CONDITION_TYPES:
            raise ValueError(f"conditions: unknown condition type {c!r}; expected one of {CONDITION_TYPES}")
    if not conditions:
        raise ValueError("conditions must name at least one condition type")

    with _TINY_BUILD_LOCK:  # diffusers' lazy first import is not thread-safe either
        from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
        from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    cross_dim = 32
    sdxl = family == "sdxl"
    text_dim = 16 if sdxl else cross_dim  # SDXL concatenates the two encoders' hidden states (16+16)
    # Three resolution levels with attention only at the coarsest (h/4 x w/4 tokens): CPU attention
    # over 64x64-latent token grids dominates the step time otherwise.
    unet_kw: dict[str, Any] = dict(
        block_out_channels=(16, 32, 32),
        layers_per_block=1,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        cross_attention_dim=cross_dim,
        attention_head_dim=2,
        norm_num_groups=8,
    )
    if sdxl:
        unet_kw.update(
            addition_embed_type="text_time",
            addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=8 * 6 + 16,  # 6 size/crop ids + pooled text (16)
            transformer_layers_per_block=(1, 1, 1),
        )
    with _TINY_BUILD_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**unet_kw)
        cn_kw = {k: v for k, v in unet_kw.items() if k not in ("out_channels", "up_block_types")}
        cn_kw["conditioning_embedding_out_channels"] = (4, 8, 8, 16)  # three stride-2 convs: 8x, as in SD
        controlnets = {}
        for i, c in enumerate(conditions):
            torch.manual_seed(seed * 1000 + 17 + i)
            cn = ControlNetModel(**cn_kw)
            _randomize_zero_params(cn, torch.Generator().manual_seed(seed * 1000 + 31 + i))
            controlnets[c] = cn
        torch.manual_seed(seed * 1000 + 7)
        vae = AutoencoderKL(
            block_out_channels=(8, 8, 16, 16),
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            latent_channels=4,
            layers_per_block=1,
            norm_num_groups=4,
            sample_size=64,
        )
        te_cfg = CLIPTextConfig(
            bos_token_id=512,
            eos_token_id=513,
            pad_token_id=513,
            hidden_size=text_dim,
            intermediate_size=37,
            layer_norm_eps=1e-5,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=514,
            max_position_embeddings=77,
            projection_dim=16,
        )
        torch.manual_seed(seed * 1000 + 11)
        text_encoder = CLIPTextModel(te_cfg)
        text_encoder_2 = CLIPTextModelWithProjection(te_cfg) if sdxl else None

    sched_cfg = dict(SD15_SCHEDULER_CONFIG)
    if family == "sd21":
        sched_cfg["prediction_type"] = "v_prediction"
        sched_cfg["timestep_spacing"] = "trailing"
    dev = torch.device(device)
    modules = [unet, vae, text_encoder, *controlnets.values()] + ([text_encoder_2] if sdxl else [])
    for m in modules:
        m.to(device=dev)
        if dtype != torch.float32:
            cast_quietly(m, dtype)
        m.eval()
        m.requires_grad_(False)
    return Components(
        unet=unet,
        controlnets=controlnets,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tiny_tokenizer(),
        scheduler_config=sched_cfg,
        family=family,
        device=dev,
        dtype=dtype,
        source=f"tiny(seed={seed}, family={family})",
        text_encoder_2=text_encoder_2,
        tokenizer_2=tiny_tokenizer() if sdxl else None,
    )
