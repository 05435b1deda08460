"""The paper's reported numbers (Sec. VI): the one table that the report's comparison rows, claims and prose
read. Nothing else in ``mobigen.experiments`` writes one of these numbers as a literal."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PaperNumbers(BaseModel):
    """Every number of Sec. VI that ``mobigen evaluate`` compares against, with the section it comes from."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    satisfaction: dict[str, float] = Field(
        default_factory=lambda: {"ours": 0.91, "oqc": 0.83, "aaas": 0.81, "semgen": 0.73, "random": 0.58})
    """Satisfaction rate per method (share of requests with Q_k ≥ Q̃_k), Sec. VI-B.2 / Fig. 9 (AaaS: '10% lower
    than our system', i.e. ≈ 81%)."""
    satisfaction_source: str = "Sec. VI-B.2 / Fig. 9 (AaaS: '10% lower than our system', i.e. ≈ 81%)"
    """Where ``satisfaction`` comes from."""
    uplink_kb: dict[str, float] = Field(default_factory=lambda: {"ours": 6.0, "aaas": 335.0})
    """Uplink data per user and request (KB, 1 KB = 1000 bytes), Sec. VI-B.3 / Fig. 10."""
    uplink_source: str = "Sec. VI-B.3 / Fig. 10"
    """Where ``uplink_kb`` comes from."""
    semgen_uplink_vs_ours: float = 3.0
    """SemGen's uplink over ours (ratio), Sec. VI-B.3."""
    latent_kb: float = 33.0
    """An intermediate latent on the downlink (KB), Sec. VI-B.3."""
    image_kb: float = 350.0
    """A final image on the downlink (KB), Sec. VI-B.3."""
    latency_s: dict[str, float] = Field(default_factory=lambda: {"ours": 9.5, "aaas": 10.53})
    """Overall generation latency for each round (s), Sec. VI-B.4 / Fig. 11."""
    latency_source: str = "Sec. VI-B.4 / Fig. 11"
    """Where ``latency_s`` comes from."""
    vce_latency_s: float = 0.5
    """Ours' extraction + upload latency (s), Sec. VI-B.4."""
    ours_local_saving_vs_oqc_s: float = 1.2
    """Local denoising time OQC+ − Ours (s), Sec. VI-B.4."""
    fig12a_all_hed_satisfaction: float = 0.70
    """Fig. 12(a): satisfaction rate with every condition HED (share)."""
    fig12a_vce_gain_pp: float = 21.0
    """Fig. 12(a): VCE's satisfaction gain over the best single type (percentage points)."""
    fig12a_vce_extra_kb: float = 3.0
    """Fig. 12(a): VCE's extra uplink over that type (KB)."""
    fig12b_uncompressed_kb: float = 88.0
    """Fig. 12(b): uncompressed condition size (KB)."""
    fig12b_uncompressed_satisfaction: float = 0.94
    """Fig. 12(b): satisfaction rate with uncompressed conditions (share)."""
    fig14_drop_at_11_pp: float = 9.0
    """Fig. 14: Ours' satisfaction drop from 5 to 11 users (percentage points)."""
    fig14_latency_rise_at_11_s: float = 3.9
    """Fig. 14: Ours' latency rise from 5 to 11 users (s)."""
    fig15b_gain_vs_oqc_at_11_pp: float = 10.0
    """Fig. 15(b): Ours − OQC+ satisfaction at 11 low-end users (percentage points)."""
    fig15b_drop_at_5_pp: float = 4.0
    """Fig. 15(b): satisfaction drop at 5 low-end users vs the main run (percentage points)."""
    fig15a_sd35_satisfaction: float = 0.9276
    """Fig. 15(a): satisfaction rate with SD-v3.5 (share)."""


PAPER = PaperNumbers()
"""The paper's numbers (see ``PaperNumbers`` for units and sources)."""
