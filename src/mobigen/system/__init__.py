"""The paper's Section IV as pure, vectorised functions. Knows no images, torch or sockets."""

from mobigen.system.constraints import FeasibilityReport, Violation, check_constraints
from mobigen.system.latency import DenoiseLatency, denoise_latency, extraction_latency, transfer_time_s, vce_latency
from mobigen.system.offload import edge_steps, is_full_offload, local_steps, offload_ratio
from mobigen.system.params import SystemParams
from mobigen.system.quality import QualityModel, condition_index, qoe
from mobigen.system.reward import reward
from mobigen.system.slot import Decision, Slot, SlotOutcome, evaluate_decision, quality_tables
from mobigen.system.utility import utility

__all__ = [
    "Decision", "DenoiseLatency", "FeasibilityReport", "QualityModel", "Slot", "SlotOutcome", "SystemParams",
    "Violation", "check_constraints", "condition_index", "denoise_latency", "edge_steps", "evaluate_decision",
    "extraction_latency", "is_full_offload", "local_steps", "offload_ratio", "qoe", "quality_tables", "reward",
    "transfer_time_s", "utility", "vce_latency",
]
