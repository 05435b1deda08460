"""Regenerate ``oqc_decisions.npz``: OQC+'s decisions on fixed seeded slots of the real workload.

The stored decisions were made by ``experiments/baselines/oqc.py`` as of commit 4b2cdb3 (before it was
made fast); ``tests/test_baselines_oqc.py`` checks that today's OQC+ gives the same answers on the same
slots. Each slot's inputs are stored too, so that the check does not depend on the workload sampler or the
shipped profile staying the same. Run from the repository root: ``python tests/data/make_oqc_decisions.py``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

SCENARIOS = ("paper", "users-8", "users-11", "low-end", "low-end-8", "low-end-11")
SLOTS_PER_SCENARIO = 6
FIELDS = ("condition", "alpha", "beta", "condition_bytes", "omega_I", "qoe_threshold", "f_device", "device_budget",
          "uplink_bps", "downlink_bps", "extraction_s", "q_I", "q_T")


def main() -> None:
    from mobigen.conditions.vce import load_default_vce
    from mobigen.experiments.baselines.oqc import OQCController
    from mobigen.scenario import preset
    from mobigen.workload import SlotSampler

    arrays: dict[str, np.ndarray] = {}
    index = []
    for name in SCENARIOS:
        sc = preset(name)
        sampler = SlotSampler(sc, vce=load_default_vce(sc))
        for i in range(SLOTS_PER_SCENARIO):
            slot, _ = sampler.sample_with_requests(np.random.default_rng([7, i]))
            ctrl = OQCController()
            d = ctrl.decide(slot)
            key = f"{name}/{i}"
            for f in FIELDS:
                arrays[f"{key}/{f}"] = np.asarray(getattr(slot, f))
            arrays[f"{key}/T"] = np.asarray(d.T, dtype=np.int64)
            arrays[f"{key}/local_only"] = np.asarray(ctrl.last_local_only, dtype=bool)
            arrays[f"{key}/sca_x"] = np.asarray(ctrl.last_sca.x, dtype=float)
            index.append({"key": key, "params": dataclasses.asdict(slot.params)})
    arrays["index"] = np.array(json.dumps(index))
    out = Path(__file__).with_name("oqc_decisions.npz")
    np.savez_compressed(out, **arrays)
    print(f"wrote {out} ({out.stat().st_size} bytes, {len(index)} slots)")


if __name__ == "__main__":
    main()
