"""Where mobigen finds data and weights that it does not ship.

Resolution order for every path: an explicit argument, then an environment variable,
then the default ``../shared/...`` next to the repository (or next to the working
directory). Nothing here downloads anything.

| variable               | default                          | holds |
|------------------------|----------------------------------|-------|
| ``MOBIGEN_SHARED``     | ``<repo>/../shared``             | the shared data folder |
| ``MOBIGEN_WEIGHTS``    | ``$MOBIGEN_SHARED/weights``      | PiDiNet, PyDNet, DeepLab TFLite |
| ``MOBIGEN_DATASET``    | ``$MOBIGEN_SHARED/datasets/dreambooth512`` | the DreamBooth images |
| ``MOBIGEN_SD_DIR``     | unset                            | local Stable Diffusion / ControlNet weights |
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The shared data folder (may not exist; callers check)."""
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get("MOBIGEN_SHARED")
    if env:
        return Path(env)
    for candidate in (_REPO_ROOT.parent / "shared", Path.cwd().parent / "shared", Path.cwd() / "shared"):
        if candidate.is_dir():
            return candidate
    return _REPO_ROOT.parent / "shared"


def weights_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Folder holding the small mobile models (PiDiNet, PyDNet, DeepLab)."""
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get("MOBIGEN_WEIGHTS")
    return Path(env) if env else shared_dir() / "weights"


def dataset_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The DreamBooth 512x512 data set folder."""
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get("MOBIGEN_DATASET")
    return Path(env) if env else shared_dir() / "datasets" / "dreambooth512"


def sd_dir(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """Local Stable Diffusion + ControlNet weights, or None when not configured."""
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get("MOBIGEN_SD_DIR")
    return Path(env) if env else None
