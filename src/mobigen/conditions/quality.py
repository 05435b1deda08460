"""Quality-model factory: ``make_quality_model(backend, profile, **kw)``.

| backend | class | needs |
|---|---|---|
| ``surrogate`` (default) | ``quality_surrogate.SurrogateQuality`` | a profile table (default: the shipped one) |
| ``measured`` | ``quality_measured.MeasuredQuality`` | a measured quality table (``table=`` DataFrame or CSV path) |

Both implement ``mobigen.system.quality.QualityModel`` and name themselves in ``.backend``.
"""

from __future__ import annotations

from typing import Any

from mobigen.system.profile import ProfileTable
from mobigen.system.quality import QualityModel

BACKENDS = ("surrogate", "measured")


def make_quality_model(backend: str = "surrogate", profile: ProfileTable | None = None, **kw: Any) -> QualityModel:
    """A quality model by backend name (ValueError naming ``backend`` when unknown)."""
    if backend == "surrogate":
        from mobigen.conditions.quality_surrogate import SurrogateQuality

        return SurrogateQuality(profile, **kw)
    if backend == "measured":
        from mobigen.conditions.quality_measured import MeasuredQuality

        if "table" not in kw:
            raise ValueError("measured backend: pass table= (a measured quality table: DataFrame or CSV path; "
                             "build one with quality_measured.measure or MeasuredQuality.from_weights)")
        return MeasuredQuality(kw.pop("table"), **kw)
    raise ValueError(f"backend: must be one of {BACKENDS}, got {backend!r}")
