"""The paper's Section IV as pure, vectorised functions. Knows no images, torch or sockets."""

from mobigen.system.constraints import FeasibilityReport, Violation, check_constraints
from mobigen.system.latency import (
    DenoiseLatency,
    denoise_latency,
    edge_steps,
    extraction_latency,
    local_steps,
    transfer_time_s,
    vce_latency,
)
from mobigen.system.quality import QualityModel, condition_index, qoe
from mobigen.system.reward import reward
from mobigen.system.slot import Decision, Slot, SlotOutcome, SystemParams, evaluate_decision, quality_tables
from mobigen.system.utility import utility

__all__ = [
    "Decision", "DenoiseLatency", "FeasibilityReport", "QualityModel", "Slot", "SlotOutcome", "SystemParams",
    "Violation", "check_constraints", "condition_index", "denoise_latency", "edge_steps", "evaluate_decision",
    "extraction_latency", "local_steps", "qoe", "quality_tables", "reward", "transfer_time_s", "utility",
    "vce_latency",
]
