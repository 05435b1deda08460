"""The profiler (Sec. IV-B / VI measurements behind the quality model): run every λ x α x β x
codec over a data set and record, per image, the real encoded bytes, the extraction time and the
fidelity of the decoded condition to the uncompressed one (``fidelity.py``).

Bad files (unreadable, corrupt, truncated, non-RGB, 16-bit, alpha, decompression bombs; the strict
policy of ``images.load_image``) are skipped and reported; the run goes on.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from mobigen.conditions import codec as codec_mod
from mobigen.conditions.extractors import NUM_THREADS, get_extractor
from mobigen.conditions.fidelity import METRICS, fidelity
from mobigen.conditions.images import ImageError, load_image, to_512
from mobigen.scenario import ALPHAS, BETAS, CONDITIONS
from mobigen.system.profile import COLUMNS, ProfileTable

log = logging.getLogger(__name__)

IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
"""Files with these suffixes (any case) are treated as images; other files are ignored."""

DEFAULT_CODECS: dict[str, tuple[str, ...]] = {
    "canny": ("jpeg", "png"),
    "hed": ("jpeg", "webp"),
    "depth": ("jpeg", "webp"),
    "seg": ("jpeg", "png"),
}
"""Codecs profiled per λ by default: the paper's JPEG plus the alternative that saved the most
bytes at equal fidelity in our comparison (report: near-binary Canny -> PNG, soft edges and depth
-> WebP, palette seg -> palette PNG). Two per type keep the shipped table under 5 MB."""

FIDELITY_DIGITS = 3
"""Decimals kept for fidelity in the table (keeps the shipped table under 5 MB)."""
TIME_DIGITS = 4
"""Decimals kept for the extraction time (s) in the table."""


def list_images(dataset_dir: str | os.PathLike[str]) -> list[Path]:
    """Image files under ``dataset_dir`` (recursive, sorted by relative path)."""
    root = Path(dataset_dir)
    if not root.is_dir():
        raise ValueError(f"dataset: '{root}' is not a folder")
    return sorted((p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                  key=lambda p: p.relative_to(root).as_posix())


def _codecs_for(codecs: Sequence[str] | Mapping[str, Sequence[str]] | None, conditions: Sequence[str]) -> dict[str, tuple[str, ...]]:
    if codecs is None:
        out = {c: DEFAULT_CODECS[c] for c in conditions}
    elif isinstance(codecs, Mapping):
        out = {c: tuple(codecs.get(c, DEFAULT_CODECS[c])) for c in conditions}
    else:
        out = {c: tuple(codecs) for c in conditions}
    for cs in out.values():
        if not cs:
            raise ValueError("codecs: empty codec list")
        for name in cs:
            codec_mod.check_codec(name)
    return out


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def machine_description() -> str:
    """One line describing this machine (for the profile's metadata)."""
    import torch

    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} logical CPUs, "
            f"python {platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} threads)")


def profile_image(rgb: np.ndarray, image_id: str, *, conditions: Sequence[str], alphas: Sequence[float],
                  betas: Sequence[float], codecs: Mapping[str, Sequence[str]], weights_dir: str | os.PathLike[str] | None = None) -> list[tuple]:
    """Profile rows ``(image, condition, alpha, beta, codec, bytes, fidelity, extract_s)`` for one 512² image."""
    rows: list[tuple] = []
    for cond in conditions:
        ext = get_extractor(cond, weights_dir)
        t0 = time.perf_counter()
        ref = ext(rgb)
        extract_s = round(time.perf_counter() - t0, TIME_DIGITS)
        for cname in codecs[cond]:
            vary = codec_mod.beta_matters(ref, cname)
            for a in alphas:
                cached: tuple[int, float] | None = None
                for b in betas:
                    if cached is None or vary:
                        data, dec = codec_mod.roundtrip(ref, a, b, cname)
                        cached = (len(data), round(fidelity(cond, ref, dec), FIDELITY_DIGITS))
                    rows.append((image_id, cond, float(a), float(b), cname, cached[0], cached[1], extract_s))
    return rows


ROW_COLUMNS: tuple[str, ...] = tuple(COLUMNS)
"""The columns of ``profile_image``'s rows, in order: the profile table's (``mobigen.system.profile.COLUMNS``)."""


def profile_dataset(
    dataset_dir: str | os.PathLike[str],
    *,
    conditions: Sequence[str] = CONDITIONS,
    alphas: Sequence[float] = ALPHAS,
    betas: Sequence[float] = BETAS,
    codecs: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    limit: int | None = None,
    progress: bool = True,
    weights_dir: str | os.PathLike[str] | None = None,
) -> tuple[ProfileTable, list[tuple[str, str]]]:
    """Profile every image under ``dataset_dir``; returns the table and the skipped ``(path, reason)``."""
    # 1. check the grid and the codecs before any work
    conditions, alphas, betas = _check_grid(conditions, alphas, betas)
    if limit is not None and limit < 1:
        raise ValueError(f"limit: must be >= 1, got {limit}")
    per_cond = _codecs_for(codecs, conditions)
    # 2. the images, in path order
    root = Path(dataset_dir)
    files = list_images(root)
    if limit is not None:
        files = files[:limit]
    # 3. load and warm every extractor, so that the timings measure warm models
    backends = _warm_up(conditions, weights_dir)
    # 4. profile each image; a bad one is skipped and reported
    rows, skipped = _profile_files(files, root, progress=progress, conditions=conditions, alphas=alphas,
                                   betas=betas, codecs=per_cond, weights_dir=weights_dir)
    frame = pd.DataFrame(rows, columns=list(ROW_COLUMNS))
    # 5. the metadata: data set, grid, metrics, backends, machine
    meta = _metadata(root, frame, files, skipped, conditions=conditions, alphas=alphas, betas=betas,
                     codecs=per_cond, backends=backends)
    return ProfileTable(frame=frame, meta=meta), skipped


def _check_grid(conditions: Sequence[str], alphas: Sequence[float], betas: Sequence[float]
                ) -> tuple[tuple[str, ...], tuple[float, ...], tuple[float, ...]]:
    """The λ, α and β to profile, checked against Table I (ValueError naming the argument)."""
    conditions = tuple(conditions)
    if not conditions or any(c not in CONDITIONS for c in conditions):
        raise ValueError(f"conditions: must be a non-empty subset of {list(CONDITIONS)}, got {list(conditions)}")
    alphas = tuple(codec_mod.check_alpha(a) for a in alphas)
    betas = tuple(codec_mod.check_beta(b) for b in betas)
    if not alphas or not betas:
        raise ValueError("alphas: need at least one α and one β")
    return conditions, alphas, betas


def _warm_up(conditions: Sequence[str], weights_dir: str | os.PathLike[str] | None) -> dict[str, str]:
    """Load every extractor and run it once (the first TFLite invoke / torch call is slower); returns
    the backend name per λ."""
    warm = np.zeros((codec_mod.SIZE, codec_mod.SIZE, 3), np.uint8)
    backends = {}
    for c in conditions:
        ext = get_extractor(c, weights_dir)
        ext(warm)
        backends[c] = ext.backend
    return backends


def _profile_files(files: Sequence[Path], root: Path, *, progress: bool, **grid) -> tuple[list[tuple], list[tuple[str, str]]]:
    """``profile_image`` rows of every file, and the ``(path, reason)`` of the files skipped."""
    from tqdm import tqdm

    rows: list[tuple] = []
    skipped: list[tuple[str, str]] = []
    for path in tqdm(files, desc="profile", unit="img", disable=not progress):
        rel = path.relative_to(root).as_posix()
        try:
            rgb = to_512(load_image(path))
        except ImageError as exc:
            skipped.append((rel, str(exc)))
            log.warning("skipped %s: %s", rel, exc)
            continue
        try:
            rows.extend(profile_image(rgb, rel, **grid))
        except (ValueError, RuntimeError) as exc:  # one bad image must not end the run
            skipped.append((rel, f"profiling failed: {exc}"))
            log.warning("skipped %s: %s", rel, exc)
    return rows, skipped


def _metadata(root: Path, frame: pd.DataFrame, files: Sequence[Path], skipped: Sequence[tuple[str, str]], *,
              conditions: Sequence[str], alphas: Sequence[float], betas: Sequence[float],
              codecs: Mapping[str, Sequence[str]], backends: Mapping[str, str]) -> dict:
    """The profile's metadata (what was measured, how, on which machine)."""
    return {
        "dataset": root.name,
        "dataset_path": str(root),
        "n_images": int(frame["image"].nunique()) if len(frame) else 0,
        "n_files": len(files),
        "skipped": [{"path": p, "reason": r} for p, r in skipped],
        "conditions": list(conditions),
        "alphas": list(alphas),
        "betas": list(betas),
        "codecs": {c: list(v) for c, v in codecs.items()},
        "metric": {c: METRICS[c] for c in conditions},
        "extractor_backends": dict(backends),
        "codec_mapping": {
            "alpha": "side = round(512*alpha), cv2.INTER_AREA (nearest for palette PNG); decode: bilinear (nearest for palette PNG) back to 512",
            "jpeg": f"quality = clip(round(100*beta), 1, {codec_mod.JPEG_MAX_QUALITY}); grey conditions single-channel",
            "webp": "lossy quality = round(100*beta); grey conditions single-channel",
            "png": "grey: bits = max(1, round(8*beta)) quantisation, lossless; <=256-colour map: palette PNG, beta has no effect",
        },
        "extract_s": ("wall time of one extraction of the 512x512 image on this machine (models warm; TFLite "
                      f"{NUM_THREADS} thread(s), torch {_torch_threads()} thread(s) for PiDiNet)"),
        "fidelity": "of the decoded 512x512 condition to the uncompressed one (metric per condition type above)",
        "bytes": "len() of the encoded condition file",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_description(),
        "written_by": "mobigen profile (mobigen.conditions.profiler.profile_dataset)",
    }
