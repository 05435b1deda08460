"""A small, synthetic profile table for the VCE / quality / workload tests (built in code).

Its fidelity and bytes follow simple closed forms (documented below); it is a *test fixture*, not
a measurement. Tests that need the real measurements use the shipped profile and skip without it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mobigen.scenario import ALPHAS, BETAS, CONDITIONS
from mobigen.system.profile import ProfileTable, default_profile_path

# fidelity loss per unit of (1 - α) and (1 - β): Canny reacts to α, Depth to β (as Fig. 7 says)
_FID = {"canny": (0.45, 0.05), "hed": (0.30, 0.15), "depth": (0.05, 0.35), "seg": (0.20, 0.15)}
_BYTES = {"canny": 60_000.0, "hed": 70_000.0, "depth": 40_000.0, "seg": 20_000.0}


def synthetic_profile(n_images: int = 6, seed: int = 0, codecs: tuple[str, ...] = ("jpeg", "png")) -> ProfileTable:
    """jpeg: bytes = B_λ·s_i·α²·(0.15 + β²), fidelity = 1 − a_λ(1−α) − b_λ(1−β) + noise.
    png (lossless): bytes = 0.5·B_λ·s_i·α² for canny/seg (cheap on flat maps) else 3·B_λ·s_i·α²,
    fidelity = 1 − a_λ(1−α) (no β loss)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_images):
        s = float(rng.uniform(0.7, 1.3))
        for c in CONDITIONS:
            fa, fb = _FID[c]
            for a in ALPHAS:
                for b in BETAS:
                    noise = float(rng.normal(0, 0.01))
                    for codec in codecs:
                        if codec == "jpeg":
                            byt = _BYTES[c] * s * a * a * (0.15 + b * b)
                            fid = 1 - fa * (1 - a) - fb * (1 - b) + noise
                        else:
                            byt = _BYTES[c] * s * a * a * (0.5 if c in ("canny", "seg") else 3.0)
                            fid = 1 - fa * (1 - a) + noise
                        rows.append(dict(image=f"img{i}.jpg", condition=c, alpha=a, beta=b, codec=codec,
                                         bytes=int(round(byt)) + 50, fidelity=float(np.clip(fid, 0, 1)),
                                         extract_s=0.01))
    return ProfileTable(frame=pd.DataFrame(rows), meta={"synthetic": True})


_SHIPPED: list[ProfileTable] = []


def shipped_profile_or_skip() -> ProfileTable:
    """The shipped profile (loaded once per test session), or skip with the reason."""
    import pytest

    p = default_profile_path()
    if not p.is_file():
        pytest.skip(f"shipped profile {p} not present yet (written by `mobigen profile`)")
    if not _SHIPPED:
        _SHIPPED.append(ProfileTable.load(p))
    return _SHIPPED[0]
