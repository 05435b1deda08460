"""Shared pytest configuration.

Hypothesis runs derandomised (a fixed example sequence) so that a run of the suite is reproducible,
CI included; set ``HYPOTHESIS_PROFILE=explore`` to search fresh random examples locally.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("repro", derandomize=True, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repro"))
