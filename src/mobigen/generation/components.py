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

SD v3.5 (``family="sd35"``) is an MMDiT transformer trained with rectified flow: its base folder
(``stable-diffusion-3.5-large``) holds ``transformer/ vae/ text_encoder/ text_encoder_2/
text_encoder_3/ tokenizer/ tokenizer_2/ tokenizer_3/ scheduler/``, and its ControlNets are
``SD3ControlNetModel`` folders (``stable-diffusion-3.5-large-controlnet-canny``, ``-depth``).
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

    unet: Any
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
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Free-form facts about the load (e.g. the resolved directory of each part)."""

    @property
    def vae_scale_factor(self) -> int:
        """Pixels per latent cell along one side (8 for every SD family)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        """Channels of the latent z (4 for SD1.5/2.1/XL, 16 for SD3.5)."""
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
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
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

    if family in FLOW_FAMILIES:
        return _load_sd3(base_dir, cn_dirs, family, torch.device(device), dtype)

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


def share_patch_embedding(controlnet: Any, transformer: Any) -> None:
    """Give an SD3 ControlNet without its own patch embedding (``use_pos_embed=False``, the SD3.5
    Large ControlNets) a copy of the transformer's, as diffusers' SD3 ControlNet pipeline does."""
    if getattr(controlnet.config, "use_pos_embed", True) is False:
        pos_embed = controlnet._get_pos_embed_from_transformer(transformer)
        controlnet.pos_embed = pos_embed.to(device=transformer.device, dtype=transformer.dtype)


def _load_sd3(base_dir: Path, cn_dirs: Mapping[str, Path | None], family: str, dev: torch.device,
              dtype: torch.dtype) -> Components:
    """Load an SD3.5 base folder (MMDiT + 3 text encoders) and its SD3 ControlNets, local files only."""
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, SD3ControlNetModel, SD3Transformer2DModel
    from transformers import AutoTokenizer, CLIPTextModelWithProjection, CLIPTokenizer, T5EncoderModel

    subs = ("transformer", "vae", "text_encoder", "text_encoder_2", "text_encoder_3", "tokenizer", "tokenizer_2",
            "tokenizer_3", "scheduler")
    lacking = [sub for sub in subs if not (base_dir / sub).is_dir()]
    if lacking:
        raise FileNotFoundError(f"SD3.5 base model folder {base_dir} lacks the sub-folder(s) {lacking}")
    kw = {"local_files_only": True, "torch_dtype": dtype}
    with _offline():
        transformer = SD3Transformer2DModel.from_pretrained(base_dir, subfolder="transformer", **kw)
        vae = AutoencoderKL.from_pretrained(base_dir, subfolder="vae", **kw)
        te1 = CLIPTextModelWithProjection.from_pretrained(base_dir, subfolder="text_encoder", **kw)
        te2 = CLIPTextModelWithProjection.from_pretrained(base_dir, subfolder="text_encoder_2", **kw)
        te3 = T5EncoderModel.from_pretrained(base_dir, subfolder="text_encoder_3", **kw)
        tok1 = CLIPTokenizer.from_pretrained(base_dir, subfolder="tokenizer", local_files_only=True)
        tok2 = CLIPTokenizer.from_pretrained(base_dir, subfolder="tokenizer_2", local_files_only=True)
        tok3 = AutoTokenizer.from_pretrained(base_dir, subfolder="tokenizer_3", local_files_only=True)
        controlnets = {c: SD3ControlNetModel.from_pretrained(d, **kw) for c, d in cn_dirs.items()}
        sched_cfg = dict(FlowMatchEulerDiscreteScheduler.load_config(base_dir, subfolder="scheduler",
                                                                     local_files_only=True))
    sched_cfg = {k: v for k, v in sched_cfg.items() if not k.startswith("_")}
    for m in (transformer, vae, te1, te2, te3, *controlnets.values()):
        m.to(dev)
        m.eval()
        m.requires_grad_(False)
    for cn in controlnets.values():
        share_patch_embedding(cn, transformer)
    log.info("loaded %s from %s with ControlNets %s", family, base_dir, {c: str(d) for c, d in cn_dirs.items()})
    return Components(
        unet=transformer, controlnets=controlnets, vae=vae, text_encoder=te1, tokenizer=tok1,
        scheduler_config=sched_cfg, family=family, device=dev, dtype=dtype, source=str(base_dir),
        text_encoder_2=te2, tokenizer_2=tok2, text_encoder_3=te3, tokenizer_3=tok3,
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
    v-prediction, ``sdxl`` adds the second text encoder and the size/crop conditioning, and ``sd35``
    builds the MMDiT family instead (see :func:`_tiny_sd3`).
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    conditions = tuple(conditions)
    for c in conditions:
        if c not in CONDITION_TYPES:
            raise ValueError(f"conditions: unknown condition type {c!r}; expected one of {CONDITION_TYPES}")
    if not conditions:
        raise ValueError("conditions must name at least one condition type")
    if family in FLOW_FAMILIES:
        return _tiny_sd3(seed, conditions, family, torch.device(device), dtype)

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


def _tiny_sd3(seed: int, conditions: Sequence[str], family: str, dev: torch.device, dtype: torch.dtype) -> Components:
    """Tiny SD3.5-shaped components: MMDiT transformer (QK RMS-norm, one dual-attention layer as in
    SD3.5 medium), SD3 ControlNets shaped like the SD3.5 Large ones (single-stream blocks, no text
    stream, patch embedding shared with the transformer), a 16-channel VAE with SD3's shift/scaling
    factors, two CLIP encoders with projection and a T5 encoder, all with in-memory tokenizers."""
    with _TINY_BUILD_LOCK:
        from diffusers import AutoencoderKL, SD3ControlNetModel, SD3Transformer2DModel
        from transformers import CLIPTextConfig, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    heads, head_dim = 2, 8
    inner = heads * head_dim
    clip_hidden, clip_proj, t5_dim = 16, 16, 48  # CLIP-L+G hidden (16+16) is zero-padded to T5's 48
    tr_kw: dict[str, Any] = dict(
        sample_size=32, patch_size=2, in_channels=16, out_channels=16, num_layers=2, attention_head_dim=head_dim,
        num_attention_heads=heads, joint_attention_dim=t5_dim, caption_projection_dim=inner,
        pooled_projection_dim=2 * clip_proj, pos_embed_max_size=64,  # up to 1024-pixel sides
    )
    with _TINY_BUILD_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = SD3Transformer2DModel(**tr_kw, dual_attention_layers=(0,), qk_norm="rms_norm")
        controlnets = {}
        for i, c in enumerate(conditions):
            torch.manual_seed(seed * 1000 + 17 + i)
            cn = SD3ControlNetModel(**{**tr_kw, "joint_attention_dim": None}, use_pos_embed=False,
                                    force_zeros_for_pooled_projection=False, pos_embed_type=None)
            _randomize_zero_params(cn, torch.Generator().manual_seed(seed * 1000 + 31 + i))
            share_patch_embedding(cn, transformer)
            controlnets[c] = cn
        torch.manual_seed(seed * 1000 + 7)
        vae = AutoencoderKL(
            block_out_channels=(8, 8, 16, 16), in_channels=3, out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
            latent_channels=16, layers_per_block=1, norm_num_groups=4, sample_size=64,
            scaling_factor=1.5305, shift_factor=0.0609,  # the SD3/SD3.5 VAE's values
            use_quant_conv=False, use_post_quant_conv=False,
        )
        clip_cfg = CLIPTextConfig(
            bos_token_id=512, eos_token_id=513, pad_token_id=513, hidden_size=clip_hidden, intermediate_size=37,
            layer_norm_eps=1e-5, num_attention_heads=4, num_hidden_layers=2, vocab_size=514,
            max_position_embeddings=77, projection_dim=clip_proj,
        )
        torch.manual_seed(seed * 1000 + 11)
        te1 = CLIPTextModelWithProjection(clip_cfg)
        te2 = CLIPTextModelWithProjection(clip_cfg)
        t5_cfg = T5Config(
            vocab_size=514, d_model=t5_dim, d_kv=8, d_ff=64, num_layers=2, num_heads=2,
            relative_attention_num_buckets=8, relative_attention_max_distance=16, dropout_rate=0.0,
            feed_forward_proj="gated-gelu", pad_token_id=513, eos_token_id=513, decoder_start_token_id=513,
            is_encoder_decoder=False, use_cache=False,
        )
        torch.manual_seed(seed * 1000 + 13)
        te3 = T5EncoderModel(t5_cfg)
    for m in (transformer, vae, te1, te2, te3, *controlnets.values()):
        m.to(device=dev)
        if dtype != torch.float32:
            cast_quietly(m, dtype)
        m.eval()
        m.requires_grad_(False)
    return Components(
        unet=transformer, controlnets=controlnets, vae=vae, text_encoder=te1, tokenizer=tiny_tokenizer(),
        scheduler_config=dict(SD35_SCHEDULER_CONFIG), family=family, device=dev, dtype=dtype,
        source=f"tiny(seed={seed}, family={family})", text_encoder_2=te2, tokenizer_2=tiny_tokenizer(),
        # the T5 side only needs input ids: the byte-level tokenizer, 32 tokens for speed
        text_encoder_3=te3, tokenizer_3=tiny_tokenizer(max_length=32),
    )
